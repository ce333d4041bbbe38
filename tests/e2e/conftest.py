"""Browser tests: Playwright drives the system's Chromium (Playwright's own download is not used)."""

import shutil
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    # English pages whatever the machine's locale; the tests pick other languages themselves.
    return {**browser_context_args, "locale": "en-US"}


@pytest.fixture
def screenshots(pytestconfig: pytest.Config) -> Path:
    """Where screenshots go to be looked at: test-results/screenshots/ (not in git), beside rather than
    in pytest-playwright's --output folder, which it empties at the start of every run."""
    folder = Path(str(pytestconfig.getoption("--output"))).parent / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
