from django.urls import path

from canteen import portal_views

app_name = "controls"

urlpatterns = [
    path("holders/<int:holder_id>/settings/", portal_views.holder_settings, name="holder_settings"),
]
