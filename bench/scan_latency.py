"""Scan latency: from a virtual card put on the reader to the scan's API answer at the agent.

A private pcscd with the vsmartcard-vpcd driver (as tests/agent), a virtual card per pupil
(tests/agent/virtual_card.py), the real agent (terminals.agent, in this process) and the app under
gunicorn (DEBUG off) on a throw-away SQLite database with BENCH_SCAN_CARDS (100) cards. For each
card: put it on the reader, wait for the agent's answer from the server, take it off and wait until
pcscd has seen it go. Figures, p50 and p99 over all cards:

- insertion → API answer at the agent (target: p99 < 300 ms);
- insertion → the agent's reader sees the card (pcscd's polling of the reader);
- card seen → API answer (the agent's own work plus the HTTP round trip and the server).

pcscd polls serial-style drivers such as vpcd every 400 ms (PCSCLITE_STATUS_POLL_RATE), so the
first figure carries up to 0.4 s of detection delay that USB CCID readers (interrupt-driven) do not
have; the third figure is the part the card system controls. Needs pcscd, the vpcd driver and
pyscard; without them the benchmark reports one row saying why.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import PROJECT_DIR, Row, machine_info, write_json

NAME = "scan_latency"
VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
VPCD_PORT = int(os.environ.get("BENCH_VPCD_PORT", "25963"))
READER = "Virtual PCD 00 00"
CARDS = int(os.environ.get("BENCH_SCAN_CARDS", "100"))
TARGET_P99_MS = 300.0
SETUP = """
from tests.factories import card_with_balances, terminal_with_token
terminal, token = terminal_with_token()
for i in range({cards}):
    card_with_balances(uid=f"04{{i:012X}}", main=10000, extra=5000, institution=terminal.institution)
print("TOKEN", token)
"""


def _missing() -> str | None:
    try:
        import smartcard  # noqa: F401
    except ImportError:
        return "pyscard missing: pip install -e '.[agent]'"
    if not shutil.which("pcscd"):
        return "pcscd missing: apt-get install pcscd vsmartcard-vpcd"
    if not VPCD_DRIVER.exists():
        return "vpcd driver missing: apt-get install vsmartcard-vpcd"
    comm = Path("/run/pcscd/pcscd.comm")
    if comm.exists():
        with socket.socket(socket.AF_UNIX) as sock:
            try:
                sock.connect(str(comm))
                return "a pcscd already runs on this host (only one may): stop it"
            except OSError:
                pass
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.001)


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def run() -> list[Row]:
    missing = _missing()
    if missing:
        print(f"  skipped: {missing}")
        return [Row(NAME, "insertion → API answer p99", f"skipped: {missing}", "", f"< {TARGET_P99_MS:.0f} ms")]
    sys.path.insert(0, str(PROJECT_DIR))
    from smartcard import scard

    from terminals.agent.agent import Agent
    from terminals.agent.config import Config
    from tests.agent.virtual_card import VirtualCard

    workdir = Path(tempfile.mkdtemp(prefix="bench-scan-"))
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
        "DEBUG": "false",
        "FAST_PASSWORD_HASHER": "true",
        "LOG_LEVEL": "WARNING",
        "SECURE_SSL_REDIRECT": "false",  # plain HTTP, as behind the TLS-terminating proxy
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--no-input", "-v0"], cwd=PROJECT_DIR, env=env, check=True, timeout=300)
    setup = subprocess.run(
        [*manage, "shell", "-c", SETUP.format(cards=CARDS)],
        cwd=PROJECT_DIR, env=env, check=True, timeout=300, capture_output=True, text=True,
    )  # fmt: skip
    token = setup.stdout.split("TOKEN", 1)[1].strip()

    confdir = workdir / "reader.conf.d"
    confdir.mkdir()
    (confdir / "vpcd").write_text(
        f'FRIENDLYNAME "Virtual PCD"\nDEVICENAME /dev/null:{VPCD_PORT}\nLIBPATH {VPCD_DRIVER}\nCHANNELID {VPCD_PORT}\n'
    )
    port = _free_port()
    pcscd: subprocess.Popen[bytes] | None = None
    server: subprocess.Popen[bytes] | None = None
    agent: Agent | None = None
    samples: list[dict[str, float]] = []
    try:
        with (workdir / "pcscd.log").open("wb") as log:
            pcscd = subprocess.Popen(["pcscd", "--foreground", "-c", str(confdir)], stdout=log, stderr=log)
        with (workdir / "gunicorn.log").open("wb") as log:
            server = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "cardsystem.wsgi", "-b", f"127.0.0.1:{port}", "-w", "2"],
                cwd=PROJECT_DIR, env=env, stdout=log, stderr=log,
            )  # fmt: skip

        def listening() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return True
            except OSError:
                return False

        _wait(listening, 30, "gunicorn")
        hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)

        def card_state(present: bool) -> bool:
            hr, states = scard.SCardGetStatusChange(ctx, 0, [(READER, scard.SCARD_STATE_UNAWARE)])
            return hr == 0 and bool(states[0][1] & scard.SCARD_STATE_PRESENT) == present

        def reader_up() -> bool:
            nonlocal hr, ctx
            if hr != 0:
                hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
                return False
            hr2, readers = scard.SCardListReaders(ctx, [])
            return hr2 == 0 and READER in readers

        _wait(reader_up, 15, "pcscd's virtual reader")
        config = Config(
            server=f"http://127.0.0.1:{port}",
            token=token,
            reader=READER,
            queue=str(workdir / "queue.sqlite3"),
            color="never",
            retry_base=0.05,
            retry_max=0.5,
        )
        agent = Agent(config, out=io.StringIO())
        seen: dict[str, float] = {}
        card_read = agent.card_read

        def timed_card_read(uid: str) -> None:
            seen[uid] = time.perf_counter()
            card_read(uid)

        agent.reader.on_uid = timed_card_read  # type: ignore[attr-defined]
        agent.start()
        for i in range(CARDS + 1):  # the first card warms up connections and is not counted
            uid = f"04{i % CARDS:012X}"
            delivered = agent.delivered
            card = VirtualCard(uid, port=VPCD_PORT)
            started = time.perf_counter()
            card.insert()
            _wait(lambda d=delivered: agent.delivered > d, 10, f"the answer for card {uid}")
            answered = time.perf_counter()
            card.remove()
            _wait(lambda: card_state(False), 5, "the card's removal")
            if i:
                samples.append(
                    {
                        "insert_to_answer_ms": 1000 * (answered - started),
                        "insert_to_seen_ms": 1000 * (seen[uid] - started),
                        "seen_to_answer_ms": 1000 * (answered - seen[uid]),
                    }
                )
        scard.SCardReleaseContext(ctx)
    finally:
        if agent is not None:
            agent.stop()
        _stop(server)
        _stop(pcscd)

    figures: dict[str, dict[str, float | None]] = {}
    for key in ("insert_to_answer_ms", "insert_to_seen_ms", "seen_to_answer_ms"):
        values = [s[key] for s in samples]
        figures[key] = {
            "p50": _percentile(values, 50),
            "p99": _percentile(values, 99),
            "mean": statistics.fmean(values) if values else None,
        }
    total = figures["insert_to_answer_ms"]
    print(
        f"  {len(samples)} cards: insertion → answer p50 {total['p50']:.0f} ms, p99 {total['p99']:.0f} ms; "
        f"seen → answer p99 {figures['seen_to_answer_ms']['p99']:.1f} ms"
    )
    rows = [
        Row(NAME, "insertion → API answer p50", total["p50"], "ms"),
        Row(
            NAME,
            "insertion → API answer p99",
            total["p99"],
            "ms",
            f"< {TARGET_P99_MS:.0f} ms",
            met=total["p99"] is not None and total["p99"] < TARGET_P99_MS,
        ),
        Row(
            NAME,
            "insertion → reader sees card p99 (pcscd polls vpcd /400 ms)",
            figures["insert_to_seen_ms"]["p99"],
            "ms",
        ),
        Row(NAME, "card seen → API answer p50 (agent + HTTP + server)", figures["seen_to_answer_ms"]["p50"], "ms"),
        Row(NAME, "card seen → API answer p99 (agent + HTTP + server)", figures["seen_to_answer_ms"]["p99"], "ms"),
    ]
    write_json(NAME, {"cards": CARDS, "figures": figures, "samples": samples, "rows": [r.as_dict() for r in rows],
                      "machine": machine_info()})  # fmt: skip
    shutil.rmtree(workdir, ignore_errors=True)
    return rows


if __name__ == "__main__":
    from bench.__main__ import main as bench_main

    sys.exit(bench_main([NAME]))
