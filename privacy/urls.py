"""The guardian's privacy pages, under /portal/."""

from django.urls import path

from privacy import views

app_name = "privacy"

urlpatterns = [
    path("privacy/", views.privacy_page, name="page"),
    path("privacy/export.json", views.privacy_export, name="export"),
]
