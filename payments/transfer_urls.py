from django.urls import path

from payments import transfer_views

app_name = "transfers"

urlpatterns = [
    path("transfer/", transfer_views.transfer_new, name="new"),
]
