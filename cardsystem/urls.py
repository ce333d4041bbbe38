from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts.language import language_set
from cardsystem import health, views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("i18n/setlang/", language_set, name="set_language"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api_docs"),
    path("", include("terminals.urls")),
    path("", include("canteen.urls")),
    path("till/", include("terminals.till_urls")),
    path("", include("terminals.class_meal_urls")),
    path("self-service/", include("terminals.self_service_urls")),
    path("kitchen/", include("canteen.kitchen_urls")),
    path("", include("canteen.meal_api_urls")),
    path("", include("payouts.refund_urls")),
    path("", include("terminals.office_reader_urls")),
    path("", include("payments.urls")),
    path("", include("payments.topup_urls")),
    path("pay/test/", include("payments.test_provider_urls")),
    path("portal/", include("payments.card_urls")),
    path("portal/tokens/", include("accounts.urls")),
    path("portal/", include("canteen.portal_urls")),
    path("portal/", include("canteen.meal_urls")),
    path("portal/", include("payments.transfer_urls")),
    path("portal/", include("payments.portal_urls")),
    path("portal/", include("cards.urls")),
    path("portal/", include("privacy.urls")),
    path("portal/", include("webshop.urls")),
]

handler404 = "cardsystem.api_errors.page_not_found"
handler500 = "cardsystem.api_errors.server_error"
