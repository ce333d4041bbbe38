"""The guardian meal API (API.md); no app namespace, so the operations keep their plain paths."""

from django.urls import path

from canteen import meal_apis

urlpatterns = [
    path("api/v1/me/meal-orders", meal_apis.MealOrderCreateApi.as_view(), name="guardian_meal_orders"),
    path("api/v1/me/meal-orders/<int:order_id>", meal_apis.MealOrderApi.as_view(), name="guardian_meal_order"),
    path(
        "api/v1/me/holders/<int:holder_id>/meals",
        meal_apis.HolderMealMonthApi.as_view(),
        name="guardian_holder_meals",
    ),
]
