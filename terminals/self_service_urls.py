"""The canteen's self-service meal screen (staff sign-in on the terminal, as the till's)."""

from django.urls import path

from terminals import self_service_views as views

app_name = "self_service"
urlpatterns = [
    path("", views.home, name="home"),
    path("<int:terminal_id>/", views.screen, name="screen"),
    path("<int:terminal_id>/card", views.card_typed, name="card"),
    path("<int:terminal_id>/scans/latest", views.scans_latest, name="scans_latest"),
    path("<int:terminal_id>/scans/<int:scan_id>/", views.pupil, name="pupil"),
]
