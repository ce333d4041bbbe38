"""The kitchen's pages; included under `kitchen/`."""

from django.urls import path

from canteen import kitchen_views

app_name = "kitchen"
urlpatterns = [
    path("<int:institution_id>/<str:date>/", kitchen_views.kitchen_day_view, name="day"),
    path("<int:institution_id>/<str:date>/kitchen.pdf", kitchen_views.kitchen_day_pdf_view, name="day_pdf"),
]
