"""The guardian portal's meal calendar, under /portal/."""

from django.urls import path

from canteen import meal_views

app_name = "meals"

urlpatterns = [
    path("holders/<int:holder_id>/meals/", meal_views.meal_calendar, name="calendar"),
    path("holders/<int:holder_id>/meals/subscription/", meal_views.meal_subscription, name="subscription"),
]
