"""The project's URLs plus three empty endpoints, for bench/_hot_path.py's cost breakdown.

Each endpoint adds one layer to the one before, so the difference of their costs is that layer's:
a plain Django view (handler, middleware, URL resolving), an empty DRF APIView (DRF's request
wrapping, content negotiation, rendering), and the same with the terminal API's token
authentication (one query).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cardsystem.urls import urlpatterns as project_urlpatterns
from terminals.apis import TerminalApiView


def empty_django_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"{}", content_type="application/json")


class EmptyDrfView(APIView):
    authentication_classes = []
    permission_classes = []

    def post(self, request: Request) -> Response:
        return Response({})


class EmptyTerminalView(TerminalApiView):
    def post(self, request: Request) -> Response:
        return Response({})


urlpatterns = [
    path("bench/empty-django", empty_django_view),
    path("bench/empty-drf", EmptyDrfView.as_view()),
    path("bench/empty-terminal", EmptyTerminalView.as_view()),
    *project_urlpatterns,
]
