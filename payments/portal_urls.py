"""The guardian portal's pages under /portal/ (the overview is the portal's home)."""

from django.urls import path

from payments import views

app_name = "portal"

urlpatterns = [
    path("", views.overview, name="home"),
    path("holders/<int:holder_id>/history/", views.history, name="history"),
    path("holders/<int:holder_id>/history.csv", views.history_csv, name="history_csv"),
    path("holders/<int:holder_id>/statement/<int:year>-<int:month>.pdf", views.statement, name="statement"),
]
