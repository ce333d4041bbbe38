from django.urls import path

from terminals import apis, photos

app_name = "terminals"
urlpatterns = [
    path("api/v1/terminal/scans", apis.ScanApi.as_view(), name="api_scans"),
    path("api/v1/terminal/products", apis.ProductListApi.as_view(), name="api_products"),
    path("api/v1/terminal/purchases", apis.PurchaseApi.as_view(), name="api_purchases"),
    path("api/v1/terminal/meals/serve", apis.MealServeApi.as_view(), name="api_meal_serve"),
    path("photos/<int:holder_id>/", photos.holder_photo, name="photo"),
]
