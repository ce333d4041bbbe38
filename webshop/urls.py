from django.urls import path

from webshop import views

app_name = "webshop"

urlpatterns = [
    path("shop/", views.shop, name="shop"),
    path("shop/items/<int:item_id>/", views.item, name="item"),
    path("shop/orders/<int:order_id>/", views.order, name="order"),
    path("shop/orders/<int:order_id>/receipt.pdf", views.order_pdf, name="order_pdf"),
    path("shop/paid/<str:reference>/", views.payment_return, name="payment_return"),
]
