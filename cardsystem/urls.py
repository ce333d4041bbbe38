from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from cardsystem import views

urlpatterns = [
    path("", views.home, name="home"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api_docs"),
    path("", include("terminals.urls")),
    path("", include("canteen.urls")),
    path("till/", include("terminals.till_urls")),
    path("", include("payments.urls")),
    path("portal/tokens/", include("accounts.urls")),
    path("portal/", include("cards.urls")),
]
