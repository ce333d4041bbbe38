"""The agent as a process with the keyboard/stdin reader (no PC/SC needed) against the stub API."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.agent.conftest import PROJECT_DIR, StubApi


def test_keyboard_reader_process(stub_api: StubApi, tmp_path: Path) -> None:
    stub_api.unknown_uids = {"0BADCAFE"}
    env = {
        **os.environ,
        "CARDSYSTEM_SERVER": stub_api.url,
        "CARDSYSTEM_TOKEN": stub_api.token,
        "CARDSYSTEM_READER": "keyboard",
        "CARDSYSTEM_QUEUE": str(tmp_path / "queue.sqlite3"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "terminals.agent"],
        input="04a1b2c3d4e5f6\n0BADCAFE\nnot a card\n04:B2:C3:D4:E5:F6:07\n",
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
        env=env,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert stub_api.uids() == ["04A1B2C3D4E5F6", "04B2C3D4E5F607"]
    assert stub_api.sequences() == [0, 2]  # the unknown card had sequence 1, set aside
    lines = done.stdout.splitlines()
    assert lines == ["✔ Pupil E5F6 (5B)  main 100.00 · extra 50.00 DKK", "✘ 0BADCAFE  unknown card",
                     "✔ Pupil F607 (5B)  main 100.00 · extra 50.00 DKK"]  # fmt: skip
    assert "ignored typed input" in done.stderr


def test_bad_config_exits_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARDSYSTEM_")}
    done = subprocess.run(
        [sys.executable, "-m", "terminals.agent", "--reader", "keyboard"],
        capture_output=True, text=True, cwd=PROJECT_DIR, env=env, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "no server" in done.stderr


def test_agent_imports_no_django() -> None:
    code = (
        "import sys, terminals.agent.__main__, terminals.agent.agent; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('django', 'rest_framework')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
