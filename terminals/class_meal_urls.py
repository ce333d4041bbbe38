"""Class meals [PZ]: the terminal API, the teacher's info-terminal screen and the receipt."""

from django.urls import path

from terminals import class_meal_apis
from terminals import class_meal_views as views

app_name = "class_meals"
urlpatterns = [
    path("api/v1/terminal/class-meals", class_meal_apis.ClassMealApi.as_view(), name="api"),
    path("class-meals/", views.home, name="home"),
    path("class-meals/<int:terminal_id>/", views.card_step, name="screen"),
    path("class-meals/<int:terminal_id>/scans/latest", views.scans_latest, name="scans_latest"),
    path("class-meals/<int:terminal_id>/classes/", views.classes, name="classes"),
    path("class-meals/<int:terminal_id>/pupils/", views.pupils, name="pupils"),
    path("class-meals/<int:terminal_id>/done/<int:class_meal_id>/", views.done, name="done"),
    path("class-meals/<int:terminal_id>/finish", views.finish, name="finish"),
    path("class-meals/receipt/<str:token>/", views.receipt_view, name="receipt"),
    path("class-meals/receipt/<str:token>/pdf/", views.receipt_pdf_view, name="receipt_pdf"),
]
