"""Staff till screens (session sign-in) and the JSON endpoints their pages call."""

from django.urls import path

from terminals import views

app_name = "till"
urlpatterns = [
    path("", views.till_home, name="home"),
    path("<int:terminal_id>/", views.till_screen, name="screen"),
    path("<int:terminal_id>/scans/latest", views.scans_latest, name="scans_latest"),
    path("<int:terminal_id>/scan", views.scan_typed, name="scan"),
    path("<int:terminal_id>/sales", views.sale_create, name="sales"),
    path("<int:terminal_id>/display/", views.display_screen, name="display"),
    path("<int:terminal_id>/display/state", views.display_state, name="display_state"),
]
