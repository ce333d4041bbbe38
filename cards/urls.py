from django.urls import path

from cards import views

app_name = "cards"

urlpatterns = [
    path("", views.portal_home, name="portal_home"),
    path("link/", views.link, name="link"),
]
