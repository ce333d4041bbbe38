"""Staff till screens (session sign-in)."""

from django.urls import path

from terminals import views

app_name = "till"
urlpatterns = [
    path("", views.till_home, name="home"),
]
