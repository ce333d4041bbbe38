from django.urls import path

from payments import provider_views, topup_apis, topup_views

app_name = "topups"

urlpatterns = [
    path("api/v1/me/topups", topup_apis.TopUpCreateApi.as_view(), name="api_create"),
    path("api/v1/me/topups/<int:payment_id>", topup_apis.TopUpApi.as_view(), name="api_detail"),
    path("portal/topup/", topup_views.topup_new, name="new"),
    path("portal/topups/<int:payment_id>/", topup_views.topup_status, name="status"),
    path("portal/auto-topup/", topup_views.auto_topups, name="auto"),
    path("portal/auto-topup/<int:rule_id>/stop/", topup_views.auto_topup_stop_view, name="auto_stop"),
    path("payments/callback/<str:provider>/", provider_views.payment_callback, name="callback"),
]
