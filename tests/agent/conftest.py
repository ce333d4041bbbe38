"""Real PC/SC for the agent's tests: a private pcscd with the vsmartcard-vpcd driver, virtual cards,
a stub terminal API, and agents run in threads or as processes.

Without pcscd, the vpcd driver or pyscard the PC/SC tests skip with the reason; with
REQUIRE_ALL_TESTS=1 (CI) they fail instead. Only one pcscd may run per host, so the daemon is
session-scoped; do not run these tests in parallel workers.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.agent.virtual_card import VirtualCard

REQUIRE_ALL = os.environ.get("REQUIRE_ALL_TESTS") == "1"
VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
VPCD_PORT = int(os.environ.get("AGENT_TEST_VPCD_PORT", "25963"))  # below 32768: not an ephemeral port
READER = "Virtual PCD 00 00"
SECOND_READER = "Virtual PCD 00 01"
SYSTEM_SOCKET = Path("/run/pcscd/pcscd.comm")
PROJECT_DIR = Path(__file__).resolve().parents[2]


def unavailable(reason: str) -> None:
    """Skip, or fail under REQUIRE_ALL_TESTS=1 (CI must run the real PC/SC tests)."""
    if REQUIRE_ALL:
        pytest.fail(f"REQUIRE_ALL_TESTS is set but the agent's PC/SC tests {reason}", pytrace=False)
    pytest.skip(reason)


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02, what: str = "") -> Any:
    """Poll until `predicate()` is truthy; fail the test after `timeout` seconds (never hang)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(interval)


def _socket_alive(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        try:
            sock.connect(str(path))
        except OSError:
            return False
        return True


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class Pcscd:
    """A private pcscd in the foreground with the vpcd driver; `restart()` for the recovery tests."""

    def __init__(self, workdir: Path, port: int) -> None:
        self.port = port
        self.confdir = workdir / "reader.conf.d"
        self.confdir.mkdir(parents=True, exist_ok=True)
        (self.confdir / "vpcd").write_text(
            f'FRIENDLYNAME "Virtual PCD"\nDEVICENAME /dev/null:{port}\nLIBPATH {VPCD_DRIVER}\nCHANNELID {port}\n'
        )
        self.log = workdir / "pcscd.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                ["pcscd", "--foreground", "-c", str(self.confdir)], stdout=log, stderr=subprocess.STDOUT
            )
        from terminals.agent.readers import PcscError, readers_list

        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                pytest.fail(f"pcscd exited with {self.process.returncode}: {self.log.read_text()[-2000:]}")
            try:
                return READER in readers_list()
            except PcscError:
                return False

        wait_for(ready, timeout, 0.05, "pcscd to show the virtual reader")

    def stop(self, timeout: float = 10.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)  # never kill -9: stale files would block the next start
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def wait_card(self, present: bool, reader: str = READER, timeout: float = 5.0) -> None:
        """Wait until pcscd itself reports a card on (or off) the reader. pcscd polls vpcd about every
        0.4 s: a card put on and taken off faster than that is never seen, as with a real reader."""
        from smartcard import scard

        hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        assert hr == scard.SCARD_S_SUCCESS
        try:

            def reached() -> bool:
                hr, states = scard.SCardGetStatusChange(ctx, 0, [(reader, scard.SCARD_STATE_UNAWARE)])
                return hr == scard.SCARD_S_SUCCESS and bool(states[0][1] & scard.SCARD_STATE_PRESENT) == present

            wait_for(reached, timeout, 0.02, f"pcscd to see the card {'on' if present else 'off'} {reader}")
        finally:
            scard.SCardReleaseContext(ctx)

    def present(self, card: VirtualCard, *, hold: float = 0.3) -> None:
        """Put the card on the reader until pcscd has seen it (plus `hold` s), take it off, wait until seen off."""
        card.insert()
        self.wait_card(True)
        time.sleep(hold)
        card.remove()
        self.wait_card(False)

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="session")
def pyscard() -> None:
    if importlib.util.find_spec("smartcard") is None:
        unavailable("need pyscard: .venv/bin/pip install -e '.[agent]' (needs libpcsclite-dev; swig from PyPI)")


@pytest.fixture(scope="session")
def pcscd(pyscard: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pcscd]:
    if not shutil.which("pcscd"):
        unavailable("need pcscd: apt-get install pcscd vsmartcard-vpcd")
    if not VPCD_DRIVER.exists():
        unavailable(f"need the vpcd driver ({VPCD_DRIVER}): apt-get install vsmartcard-vpcd")
    if SYSTEM_SOCKET.exists() and _socket_alive(SYSTEM_SOCKET):
        unavailable(
            f"a pcscd is already running ({SYSTEM_SOCKET}); only one may run per host: stop it "
            "(systemctl stop pcscd.socket pcscd) to run these tests"
        )
    if not _port_free(VPCD_PORT) or not _port_free(VPCD_PORT + 1):
        unavailable(f"vpcd ports {VPCD_PORT}/{VPCD_PORT + 1} are taken: set AGENT_TEST_VPCD_PORT")
    daemon = Pcscd(tmp_path_factory.mktemp("pcscd"), VPCD_PORT)
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture
def cards(pcscd: Pcscd) -> Iterator[Callable[..., VirtualCard]]:
    """`cards(uid, slot=0)`: a virtual card (not yet inserted) on the vpcd slot; all removed afterwards."""
    made: list[VirtualCard] = []

    def make(uid: str, slot: int = 0) -> VirtualCard:
        card = VirtualCard(uid, port=pcscd.port + slot)
        made.append(card)
        return card

    yield make
    for card in made:
        card.remove()


# -- a stub of the terminal API --------------------------------------------------------------------
@dataclass
class StubApi:
    """Answers like the terminal API and records each (sequence) once, as the server does."""

    token: str = "stub-token"
    fail_status: int | None = None  # answer every POST with this status (e.g. 503)
    unknown_uids: set[str] = field(default_factory=set)
    requests: list[dict[str, Any]] = field(default_factory=list)  # every POST received
    recorded: list[dict[str, Any]] = field(default_factory=list)  # scans recorded (deduplicated)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def uids(self) -> list[str]:
        with self.lock:
            return [r["uid"] for r in self.recorded]

    def sequences(self) -> list[int]:
        with self.lock:
            return [r["sequence"] for r in self.recorded]

    def handle(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, dict[str, Any]]:
        if headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"error": {"code": "not_authenticated", "message": "bad token"}}
        if method == "GET" and path == "/api/v1/terminal/products":
            return 200, {"currency": "DKK", "products": []}
        if method != "POST" or path != "/api/v1/terminal/scans":
            return 404, {"error": {"code": "not_found", "message": "no such path"}}
        with self.lock:
            self.requests.append({"headers": headers, **body})
            if self.fail_status:
                return self.fail_status, {"error": {"code": "unavailable", "message": "stub failing"}}
            if body["uid"] in self.unknown_uids:
                return 404, {"error": {"code": "card_unknown", "message": "unknown card"}}
            sequence = body.get("sequence")
            first = None if sequence is None else next((r for r in self.recorded if r["sequence"] == sequence), None)
            if first is None:
                first = dict(body, scan_id=len(self.recorded) + 1)
                self.recorded.append(first)
        return 200, {
            "scan_id": first["scan_id"],
            "card": {"number": "1", "status": "active"},
            "holder": {"id": 1, "name": f"Pupil {body['uid'][-4:]}", "group": "5B"},
            "balances": {"main": "100.00", "extra": "50.00"},
            "currency": "DKK",
            "can_buy": True,
            "reason": None,
        }

    def start(self) -> None:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else {}
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, payload = stub.handle(method, self.path, headers, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        """Down for real: the port refuses connections until `start()` again (same port)."""
        server, self.server = self.server, None
        if server is not None:
            server.shutdown()
            server.server_close()


@pytest.fixture
def stub_api() -> Iterator[StubApi]:
    stub = StubApi()
    stub.start()
    yield stub
    stub.stop()


# -- agents --------------------------------------------------------------------------------------
@pytest.fixture
def agent_factory(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """`agent_factory(server=URL, token=..., **settings)`: a started in-thread Agent; stopped afterwards."""
    from terminals.agent.agent import Agent
    from terminals.agent.config import Config

    agents: list[Agent] = []

    def make(*, server: str, token: str, out: Any = None, **settings: Any) -> Agent:
        defaults: dict[str, Any] = {
            "reader": READER,
            "queue": str(tmp_path / "queue.sqlite3"),
            "retry_base": 0.05,
            "retry_max": 0.3,
            "timeout": 3.0,
            "color": "never",
        }
        agent = Agent(Config(server=server, token=token, **{**defaults, **settings}), out=out)
        agents.append(agent)
        agent.start()
        return agent

    yield make
    for agent in agents:
        agent.stop()


@dataclass
class AgentProcess:
    process: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def terminate(self, timeout: float = 10.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode


@pytest.fixture
def agent_process(tmp_path: Path) -> Iterator[Callable[..., AgentProcess]]:
    """`agent_process(env)`: `python -m terminals.agent` as a separate process (killed afterwards)."""
    started: list[AgentProcess] = []

    def start(env: dict[str, str], *args: str) -> AgentProcess:
        log = tmp_path / f"agent-{len(started)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "terminals.agent", *args],
                cwd=PROJECT_DIR,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        started.append(AgentProcess(process, log))
        return started[-1]

    yield start
    for agent in started:
        with contextlib.suppress(Exception):
            agent.terminate()
