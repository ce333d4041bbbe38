from django.urls import path

from cards import views

app_name = "cards"

urlpatterns = [
    path("link/", views.link, name="link"),
]
