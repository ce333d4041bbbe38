from django.urls import path

from payments import provider_views

app_name = "test_provider"

urlpatterns = [path("<str:reference>/", provider_views.test_provider_page, name="page")]
