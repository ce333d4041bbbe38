from django.urls import path

from payments import card_views

app_name = "cardpages"

urlpatterns = [
    path("cards/<str:number>/", card_views.card_detail, name="detail"),
    path("cards/<str:number>/pay-fee/", card_views.card_fee_pay, name="pay_fee"),
]
