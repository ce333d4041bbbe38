from django.urls import path

from canteen import views

app_name = "canteen"
urlpatterns = [
    path("receipts/<str:token>/", views.receipt_view, name="receipt"),
    path("receipts/<str:token>/pdf/", views.receipt_pdf_view, name="receipt_pdf"),
]
