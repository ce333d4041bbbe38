"""The guardian's refund request: the API (`guardian_refunds`) and the portal page (`portal_refund`).

Full paths, no namespace: included at the root with `path("", include("payouts.refund_urls"))`.
"""

from django.urls import path

from payouts import refund_apis, refund_views

urlpatterns = [
    path("api/v1/me/refunds", refund_apis.RefundCreateApi.as_view(), name="guardian_refunds"),
    path("portal/holders/<int:holder_id>/refund/", refund_views.refund_page, name="portal_refund"),
]
