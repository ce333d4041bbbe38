"""The committed OpenAPI schema matches the code (regenerate with `make schema`)."""

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

COMMITTED = Path(__file__).resolve().parent.parent / "openapi.yaml"


def test_committed_schema_matches_the_code() -> None:
    generated = StringIO()
    call_command("spectacular", "--validate", "--lang", "en", stdout=generated)
    assert generated.getvalue() == COMMITTED.read_text(), "openapi.yaml is stale: run `make schema`"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/"])
def test_schema_and_docs_are_served(path: str) -> None:
    assert Client().get(path).status_code == 200


def test_schema_names_every_terminal_path_of_the_contract() -> None:
    text = COMMITTED.read_text()
    for path in ("/api/v1/terminal/scans:", "/api/v1/terminal/products:", "/api/v1/terminal/purchases:"):
        assert path in text
