"""Deployment: the compose file, the image's recipe, the production docs and `/healthz`.

No Docker engine runs in CI, so the compose file is checked statically: against the compose-spec
schema (check-jsonschema's vendored copy, offline) and for what the schema cannot see.
"""

import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from django.db import OperationalError, connections
from django.test import Client

from cardsystem import health

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
PRODUCTION_DOC = ROOT / "docs" / "running-in-production.md"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"

APP_SERVICES = ("migrate", "web", "worker", "beat")
REQUIRED_ENVIRONMENT = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ALLOWED_HOSTS", "EMAIL_URL", "CPR_ENCRYPTION_KEYS")


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def compose_validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def command_of(service: dict[str, Any]) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else str(command)


def runs_once(name: str) -> bool:
    """A one-off service: others wait for it to finish, so it has nothing to be healthy about."""
    return any(
        isinstance(deps, dict) and deps.get(name, {}).get("condition") == "service_completed_successfully"
        for deps in (service.get("depends_on") for service in services().values())
    )


def settings_environment_variables() -> set[str]:
    return set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z0-9_]+)"', (ROOT / "cardsystem" / "settings.py").read_text()))


# --- the compose file -----------------------------------------------------------------------------


def test_compose_file_matches_the_compose_spec_schema() -> None:
    result = compose_validate(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_rejects_a_broken_compose_file(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text("services:\n  web:\n    image: x\n    depends_on:\n      db:\n        condition: when-ready\n")
    assert compose_validate(broken).returncode != 0


def test_every_depends_on_names_a_service_of_the_file() -> None:
    names = set(services())
    for name, service in services().items():
        deps = service.get("depends_on", {})
        missing = set(deps) - names
        assert not missing, f"{name} depends on unknown services {missing}"


def test_long_running_services_wait_for_their_dependencies_to_be_healthy() -> None:
    for name, service in services().items():
        for dep, spec in service.get("depends_on", {}).items():
            expected = "service_completed_successfully" if runs_once(dep) else "service_healthy"
            assert spec.get("condition") == expected, f"{name} → {dep}"


def test_the_stack_has_the_expected_services() -> None:
    assert {"postgres", "redis", "web", "worker", "beat", "mailpit", "migrate"} <= set(services())


def test_exactly_one_beat_runs() -> None:
    beats = [name for name, service in services().items() if re.search(r"\bbeat\b", command_of(service))]
    assert beats == ["beat"]
    beat = services()["beat"]
    assert beat.get("deploy", {}).get("replicas", 1) == 1
    assert "scale" not in beat


def test_every_long_running_service_has_a_healthcheck() -> None:
    for name, service in services().items():
        if runs_once(name):
            continue
        check = service.get("healthcheck", {})
        assert check.get("test") and not check.get("disable"), f"{name} has no health check"


def test_migrate_runs_once_before_the_application() -> None:
    assert runs_once("migrate")
    assert "migrate" in command_of(services()["migrate"])
    for name in ("web", "worker", "beat"):
        assert "migrate" in services()[name]["depends_on"]


def test_web_health_check_asks_healthz() -> None:
    assert "/healthz" in " ".join(services()["web"]["healthcheck"]["test"])


def test_application_services_get_the_production_environment() -> None:
    for name in APP_SERVICES:
        environment = services()[name]["environment"]
        for variable in REQUIRED_ENVIRONMENT:
            assert variable in environment, f"{name} lacks {variable}"
        assert environment["EMAIL_URL"].endswith("smtp://mailpit:1025}")
        assert environment["DEBUG"] == "false"


def test_compose_sets_only_variables_the_settings_read() -> None:
    environment = services()["web"]["environment"]
    assert set(environment) <= settings_environment_variables()


def test_secret_key_has_no_default_in_compose() -> None:
    # `${VAR:?message}` makes compose refuse to start without it: no shared default key.
    assert services()["web"]["environment"]["SECRET_KEY"].startswith("${SECRET_KEY:?")


# --- the image ------------------------------------------------------------------------------------


def test_image_runs_as_a_non_root_user() -> None:
    users = re.findall(r"^USER\s+(\S+)", DOCKERFILE.read_text(), flags=re.MULTILINE)
    assert users and users[-1] not in ("root", "0")


def test_image_serves_the_wsgi_app_with_four_sync_workers() -> None:
    cmd = re.search(r"^CMD\s+(\[.*?\])\s*$", DOCKERFILE.read_text().replace("\\\n", ""), flags=re.MULTILINE | re.S)
    assert cmd
    argv = yaml.safe_load(cmd.group(1))
    assert argv[:2] == ["gunicorn", "cardsystem.wsgi"]
    assert argv[argv.index("--worker-class") + 1] == "sync"
    assert argv[argv.index("--workers") + 1] == "4"


def test_image_compiles_messages_and_collects_static_files() -> None:
    text = DOCKERFILE.read_text()
    assert "collectstatic --no-input" in text
    assert "compilemessages" in text
    assert "gettext" in text
    assert "pip install ." in text


# --- the production docs --------------------------------------------------------------------------


def test_production_docs_list_every_environment_variable_of_the_settings() -> None:
    text = PRODUCTION_DOC.read_text()
    missing = {name for name in settings_environment_variables() if f"`{name}`" not in text}
    assert not missing


# --- /healthz -------------------------------------------------------------------------------------


@pytest.fixture
def no_redis(settings: Any) -> None:
    settings.REDIS_URL = ""


@pytest.mark.django_db
@pytest.mark.usefixtures("no_redis")
def test_healthz_answers_ok_with_the_database_up(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "not configured"}


@pytest.mark.django_db
@pytest.mark.usefixtures("no_redis")
def test_healthz_answers_503_when_the_database_fails(client: Client) -> None:
    with mock.patch.object(connections["default"], "cursor", side_effect=OperationalError("connection refused")):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "error", "redis": "not configured"}


@pytest.mark.django_db
@pytest.mark.usefixtures("no_redis")
def test_healthz_costs_one_query(client: Client, django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(1):
        client.get("/healthz")


@pytest.mark.django_db
@pytest.mark.usefixtures("no_redis")
def test_healthz_needs_no_sign_in_and_sets_no_cookie(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert not response.cookies
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_healthz_refuses_writes(client: Client) -> None:
    assert client.post("/healthz").status_code == 405


@pytest.mark.redis
@pytest.mark.django_db
def test_healthz_reports_redis_ok_when_configured(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["redis"] == "ok"


@pytest.mark.django_db
def test_healthz_answers_degraded_but_serving_when_redis_does_not_answer(client: Client, settings: Any) -> None:
    # Port 1 on the loopback: nothing listens, the connection is refused at once. The node still
    # sells without Redis, so it stays in rotation (200) and names what is missing.
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    health._redis_client.cache_clear()
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "degraded", "database": "ok", "redis": "error"}
