"""Errors nothing else handled still answer with API.md's error body under /api/, HTML elsewhere."""

from typing import Any

import pytest
from django.test import Client, RequestFactory

from cardsystem.api_errors import page_not_found, server_error
from terminals import apis
from tests.factories import terminal_with_token


def test_an_unknown_api_path_is_a_json_not_found() -> None:
    response = page_not_found(RequestFactory().get("/api/v1/nothing-here"), Exception())
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"


def test_an_unhandled_error_under_the_api_is_a_json_500() -> None:
    response = server_error(RequestFactory().post("/api/v1/terminal/purchases"))
    assert response.status_code == 500
    assert b'"code": "server_error"' in response.content


def test_an_unhandled_error_on_a_page_is_djangos_html_500() -> None:
    response = server_error(RequestFactory().get("/portal/"))
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.django_db
def test_the_url_configuration_uses_the_json_500(monkeypatch: Any) -> None:
    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("unexpected")

    monkeypatch.setattr(apis.ProductListApi, "get", boom)
    _terminal, token = terminal_with_token()
    client = Client(raise_request_exception=False)
    response = client.get("/api/v1/terminal/products", headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "server_error"
