"""The benchmark's steps, in order: database, pgbench, each gunicorn configuration, hot path, ledger_check."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any

from bench import PROJECT_DIR, Row, machine_info, write_json
from bench.lunch_rush.cpu import CpuMeter, cpu_use
from bench.lunch_rush.database import database_facts, database_recreate, django_env, run_checked
from bench.lunch_rush.load import Cards, drive
from bench.lunch_rush.pgbench import run_pgbench
from bench.lunch_rush.report import cores, hot_path_text, make_rows, ms
from bench.lunch_rush.server import Server, ServerConfig
from bench.lunch_rush.settings import BUSY_OTHER_CORES, EXTRA_CENTS, NAME, TERMINALS, Settings


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run() -> list[Row]:
    settings = Settings()
    configs = [ServerConfig.parse(spec) for spec in settings.servers.split(",") if spec.strip()]
    previous = signal.signal(signal.SIGTERM, _interrupt)
    workdir = Path(tempfile.mkdtemp(prefix="bench-lunch-rush-"))
    results: dict[str, Any] = {"settings": {k: v for k, v in vars(settings).items() if k != "base_url"}}
    try:
        with CpuMeter() as meter:
            return _run(settings, configs, workdir, results, meter)
    finally:
        signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(workdir, ignore_errors=True)


def _run(
    settings: Settings, configs: list[ServerConfig], workdir: Path, results: dict[str, Any], meter: CpuMeter
) -> list[Row]:
    env = django_env(settings.database_url())
    step = time.perf_counter()

    def say(text: str) -> None:
        print(f"  [{time.perf_counter() - step:5.1f} s] {text}", flush=True)

    quiet_from = meter.snapshot()
    time.sleep(1.0)
    results["idle_before"] = idle = cpu_use(quiet_from, meter.snapshot())
    if idle["machine"] > 0.2:
        say(f"WARNING: the machine is busy before the benchmark ({cores(idle)} cores): figures will be low")

    database_recreate(settings)
    run_checked([sys.executable, "manage.py", "migrate", "--no-input", "-v0"], env, "migrate")
    say(f"database {settings.db_name} created and migrated")
    out = run_checked(
        [sys.executable, "-m", "bench._lunch_rush_setup", str(settings.holders), str(TERMINALS), str(EXTRA_CENTS)],
        env,
        "setup",
    )
    setup = json.loads(out.strip().splitlines()[-1])
    assert setup["holder_id_max"] - setup["holder_id_min"] + 1 == settings.holders, "holder ids are not contiguous"
    results["postgres"] = database_facts(settings)
    say(f"{settings.holders} cardholders, {TERMINALS} terminals; PostgreSQL {results['postgres']}")
    if results["postgres"]["synchronous_commit"] != "on":
        print("  WARNING: synchronous_commit is not on: the figures do not hold for durable sales")

    price = setup["products"]["Sandwich"]["price_cents"] + setup["products"]["Milk"]["price_cents"]
    pgbench = run_pgbench(settings, setup, price, workdir, meter)
    results["pgbench"] = pgbench
    say(
        f"pgbench -c {TERMINALS}: {pgbench['tps']:.0f} tps, p50 {ms(pgbench['p50_ms'])}, p99 {ms(pgbench['p99_ms'])}, "
        f"failed {pgbench['failed']}; cores used: {cores(pgbench['cpu'])}"
    )

    cards = Cards(setup["uids"])
    results["servers"] = {}
    for config in configs:
        with Server(config, env, workdir / f"gunicorn-{config.worker_class}.log") as server:
            meter.server_pid = server.process.pid
            server.wait_ready(setup["tokens"][0])
            say(f"gunicorn {config.label} on port {server.port}")
            phases = asyncio.run(drive(setup, cards, server.port, settings, meter))
            log_tail = server.log_tail(10)
        summary = {name: phase.summary() for name, phase in phases.items()}
        results["servers"][config.spec] = {"label": config.label, **summary, "gunicorn_log_tail": log_tail}
        for name, phase in summary.items():
            scan_text = ""
            if phase["scans"]:
                scan_text = f", scan p50 {ms(phase['scan_p50_ms'])} p99 {ms(phase['scan_p99_ms'])}"
            rate = f"{phase['purchases_per_s']:.0f} purchases/s, " if name != "rush" else ""
            say(
                f"  {name}: {rate}purchase p50 {ms(phase['purchase_p50_ms'])} p99 {ms(phase['purchase_p99_ms'])}"
                f"{scan_text}, errors {phase['errors'] or 0}, connects {phase['connects']}; "
                f"cores: {cores(phase['cpu'])}"
            )
            if phase["cpu"].get("other", 0) > BUSY_OTHER_CORES:
                say(f"  WARNING: unrelated processes used {phase['cpu']['other']:.2f} cores during this phase")

    if settings.profile:
        hot_cfg = {
            "token": setup["tokens"][0],
            "uids": cards.take(4 * 150 + 20),
            "lines": [{"product": setup["products"][n]["id"], "quantity": 1} for n in ("Sandwich", "Milk")],
            "iterations": 150,
        }
        # One till as fast as the profiler can go: far above a real till's rate limit, which is still
        # counted on every request (its cost is in the profile) but set out of reach.
        hot_env = {**env, "THROTTLE_RATE_TERMINAL": "1000000/s"}
        out = run_checked([sys.executable, "-m", "bench._hot_path", json.dumps(hot_cfg)], hot_env, "hot path profile")
        results["hot_path"] = json.loads(out.strip().splitlines()[-1])
        say(hot_path_text(results["hot_path"]))

    check = subprocess.run(
        [sys.executable, "manage.py", "ledger_check"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    results["ledger_check"] = {"returncode": check.returncode, "output": (check.stdout + check.stderr)[-5000:]}
    verdict = "clean" if check.returncode == 0 else "NOT CLEAN"
    say(f"ledger_check: {verdict}: {(check.stdout + check.stderr).strip()[-300:]}")

    rows = make_rows(settings, results)
    results["rows"] = [row.as_dict() for row in rows]
    results["machine"] = machine_info()
    path = write_json(NAME, results)
    print(f"  details: {path.relative_to(PROJECT_DIR)}")
    return rows
