"""Lunch rush: purchases at the tills, against the targets of DESIGN.md.

1. A fresh PostgreSQL database (`bench_cardsystem`, dropped and recreated), migrated, filled with
   one school, its products, BENCH_HOLDERS cardholders with cards and extra balances, and 32 tills
   with tokens (bench/_lunch_rush_setup.py).
2. Baseline: pgbench runs the same lock-update-insert transaction in raw SQL (bench/purchase.sql)
   with 32 clients for BENCH_SECONDS.
3. For each gunicorn configuration of BENCH_SERVERS (DEBUG off, persistent DB connections):
   a. saturated: 32 terminals in closed loops, each a scan then a purchase on a card no other
      terminal is using, for BENCH_SECONDS after a warm-up: purchases/s, p50 and p99 of the
      purchase request, and the ratio to pgbench (target: at least 0.5);
   a'. the same for BENCH_SECONDS/2 without the scans: the purchase alone against pgbench;
   b. rush: an open loop of BENCH_RUSH_RATE arrivals/s for BENCH_RUSH_SECONDS; each arrival scans
      at its scheduled time and buys BENCH_THINK_MS later (the cashier rings the items up); each
      latency is measured from its scheduled time, so a slow server cannot hide its queue
      (no coordinated omission). Target: purchase p99 under 25 ms.
   The CPU used by the load generator (this process), by gunicorn, by PostgreSQL and by unrelated
   processes is measured for every phase (CpuMeter); a busy machine is reported, not hidden.
4. The hot path in-process (bench/_hot_path.py): SQL statements per scan and per purchase, Python
   versus database time, the CPU cost of each layer, a sampling profile and a cProfile.
5. `manage.py ledger_check` on the bench database must be clean.

Environment: BENCH_DATABASE_URL (postgres://postgres@127.0.0.1:5432/), BENCH_DB_NAME, BENCH_SECONDS
(20), BENCH_RUSH_SECONDS (= BENCH_SECONDS), BENCH_RUSH_RATE (50), BENCH_THINK_MS (200),
BENCH_HOLDERS (20000), BENCH_SERVERS ("gthread:3x2,sync:4"), BENCH_PROFILE (1), BENCH_PGBENCH,
BENCH_PGBENCH_MODE (simple: pgbench's default protocol; "prepared" is a stricter baseline).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from bench import BENCH_DIR, PROJECT_DIR, Row, machine_info, write_json
from bench._http import Connection, HttpError

NAME = "lunch_rush"
SCAN_PATH = "/api/v1/terminal/scans"
PURCHASE_PATH = "/api/v1/terminal/purchases"
PRODUCTS_PATH = "/api/v1/terminal/products"
TERMINALS = 32
EXTRA_CENTS = 1_000_000
RATIO_TARGET = 0.5
RUSH_P99_TARGET_MS = 25.0
WARMUP_S = 3.0
BUSY_OTHER_CORES = 0.2
CLK_TCK = os.sysconf("SC_CLK_TCK")


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


@dataclass(frozen=True)
class Settings:
    base_url: str = os.environ.get("BENCH_DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/"
    db_name: str = os.environ.get("BENCH_DB_NAME") or "bench_cardsystem"
    seconds: float = env_float("BENCH_SECONDS", 20)
    rush_seconds: float = env_float("BENCH_RUSH_SECONDS", env_float("BENCH_SECONDS", 20))
    rush_rate: float = env_float("BENCH_RUSH_RATE", 50)
    think_s: float = env_float("BENCH_THINK_MS", 200) / 1000
    holders: int = int(env_float("BENCH_HOLDERS", 20_000))
    servers: str = os.environ.get("BENCH_SERVERS") or "gthread:3x2,sync:4"
    profile: bool = os.environ.get("BENCH_PROFILE", "1") != "0"
    pgbench: str = os.environ.get("BENCH_PGBENCH") or shutil.which("pgbench") or "/usr/bin/pgbench"
    pgbench_mode: str = os.environ.get("BENCH_PGBENCH_MODE") or "simple"

    def database_url(self, name: str | None = None) -> str:
        parts = urlsplit(self.base_url)
        return urlunsplit((parts.scheme, parts.netloc, f"/{name or self.db_name}", parts.query, ""))


# --------------------------------------------------------------------------- measurements


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))]


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / CLK_TCK


@dataclass
class CpuSnapshot:
    wall: float
    machine: float
    roles: dict[str, float]


class CpuMeter:
    """CPU seconds by role: this process (the load generator), gunicorn, PostgreSQL, pgbench, the rest.

    A thread reads /proc every half second and adds each process's CPU time since its previous
    reading to the role the process has now (gunicorn: the master `server_pid` and its children;
    PostgreSQL and pgbench by command name). Processes that come and go between two readings are
    missed, which is why "other" is the machine's busy time minus the known roles. This process
    is measured with process_time(), less the meter's own thread.
    """

    INTERVAL_S = 0.5

    def __init__(self) -> None:
        self.server_pid: int | None = None
        self._me = os.getpid()
        self._last: dict[int, float] = {}
        self._totals: defaultdict[str, float] = defaultdict(float)
        self._own_cpu = 0.0
        self._first = True
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cpu-meter", daemon=True)

    def __enter__(self) -> CpuMeter:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.INTERVAL_S):
            started = time.thread_time()
            self._sample()
            self._own_cpu += time.thread_time() - started

    def _role(self, pid: int, ppid: int, comm: str) -> str:
        if self.server_pid is not None and self.server_pid in (pid, ppid):
            return "server"
        if comm == "postgres":
            return "postgres"
        if comm == "pgbench":
            return "pgbench"
        return "other"

    def _sample(self) -> None:
        with self._lock:
            seen: dict[int, float] = {}
            for entry in os.listdir("/proc"):
                if not entry.isdigit() or int(entry) == self._me:
                    continue
                try:
                    text = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                pid = int(entry)
                comm = text[text.find("(") + 1 : text.rfind(")")]
                fields = text[text.rfind(")") + 2 :].split()
                cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
                previous = self._last.get(pid, cpu if self._first else 0.0)
                if cpu > previous:
                    self._totals[self._role(pid, int(fields[1]), comm)] += cpu - previous
                seen[pid] = cpu
            self._last = seen
            self._first = False

    def snapshot(self) -> CpuSnapshot:
        self._sample()
        with self._lock:
            roles = {
                "client": time.process_time() - self._own_cpu,
                **{role: self._totals[role] for role in ("server", "postgres", "pgbench")},
            }
        return CpuSnapshot(wall=time.perf_counter(), machine=machine_busy_seconds(), roles=roles)


def cpu_use(start: CpuSnapshot, end: CpuSnapshot) -> dict[str, float]:
    """Cores used on average between two snapshots, by role; "other" is the rest of the machine."""
    wall = max(end.wall - start.wall, 1e-9)
    used = {role: max(0.0, (end.roles[role] - start.roles[role]) / wall) for role in start.roles}
    machine = (end.machine - start.machine) / wall
    used = {role: value for role, value in used.items() if value > 0.005 or role == "client"}
    used["other"] = max(0.0, machine - sum(used.values()))
    used["machine"] = machine
    return used


@dataclass
class LoadResult:
    seconds: float = 0.0
    purchases: int = 0
    scan_ms: list[float] = field(default_factory=list)
    purchase_ms: list[float] = field(default_factory=list)
    arrival_ms: list[float] = field(default_factory=list)
    send_lag_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    cpu: dict[str, float] = field(default_factory=dict)
    connects: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "purchases": self.purchases,
            "purchases_per_s": self.purchases / self.seconds if self.seconds else None,
            "purchase_p50_ms": percentile(self.purchase_ms, 50),
            "purchase_p99_ms": percentile(self.purchase_ms, 99),
            "purchase_max_ms": max(self.purchase_ms, default=None),
            "scan_p50_ms": percentile(self.scan_ms, 50),
            "scan_p99_ms": percentile(self.scan_ms, 99),
            "arrival_p99_ms": percentile(self.arrival_ms, 99),
            "scans": len(self.scan_ms),
            "send_lag_max_ms": max(self.send_lag_ms, default=None),
            "errors": dict(self.errors),
            "cpu": self.cpu,
            "connects": self.connects,
        }


# --------------------------------------------------------------------------- the load


class Cards:
    """Hands out card UIDs round-robin, so terminals working at the same time use distinct cards."""

    def __init__(self, uids: list[str]) -> None:
        self._uids = uids
        self._next = 0

    def next(self) -> str:
        uid = self._uids[self._next % len(self._uids)]
        self._next += 1
        return uid

    def take(self, count: int) -> list[str]:
        return [self.next() for _ in range(count)]


class Till:
    """One terminal: its keep-alive connection and its own Idempotency-Key sequence."""

    def __init__(self, connection: Connection, run_id: str, lines: list[dict[str, int]]) -> None:
        self.connection = connection
        self._keys = (f"{run_id}-{n}" for n in range(10**9))
        self._lines = lines

    async def scan(self, uid: str) -> int:
        status, _body = await self.connection.post_json(SCAN_PATH, {"uid": uid})
        return status

    async def purchase(self, uid: str) -> int:
        status, _body = await self.connection.post_json(
            PURCHASE_PATH,
            {"uid": uid, "lines": self._lines, "payment": "card"},
            headers=f"Idempotency-Key: {next(self._keys)}\r\n",
        )
        return status


async def closed_loop(
    tills: list[Till], cards: Cards, *, warmup: float, seconds: float, meter: CpuMeter, scan: bool = True
) -> LoadResult:
    """Every till scans (unless `scan` is false) and buys, back to back; only what ends in the window counts."""
    result = LoadResult(seconds=seconds)
    start = time.perf_counter()
    record_from, deadline = start + warmup, start + warmup + seconds
    max_iterations = int((warmup + seconds) * 5000)
    snapshots: list[CpuSnapshot] = []

    async def snapshot_at(moment: float) -> None:
        await asyncio.sleep(max(0.0, moment - time.perf_counter()))
        snapshots.append(meter.snapshot())

    async def loop(till: Till) -> None:
        for _ in range(max_iterations):
            t0 = time.perf_counter()
            if t0 >= deadline:
                return
            counted = t0 >= record_from
            uid = cards.next()
            try:
                scan_status = await till.scan(uid) if scan else 200
                t1 = time.perf_counter()
                purchase_status = await till.purchase(uid) if scan_status == 200 else None
                t2 = time.perf_counter()
            except (HttpError, TimeoutError, OSError) as error:
                if counted:
                    result.errors[type(error).__name__] += 1
                await asyncio.sleep(0.05)
                continue
            if not counted or t2 > deadline:
                continue
            if scan_status != 200:
                result.errors[f"scan {scan_status}"] += 1
                continue
            if scan:
                result.scan_ms.append(1000 * (t1 - t0))
            if purchase_status == 201:
                result.purchases += 1
                result.purchase_ms.append(1000 * (t2 - t1))
            else:
                result.errors[f"purchase {purchase_status}"] += 1

    await asyncio.gather(snapshot_at(record_from), snapshot_at(deadline), *(loop(till) for till in tills))
    result.cpu = cpu_use(snapshots[0], snapshots[1])
    return result


async def open_loop(
    tills: list[Till], cards: Cards, *, rate: float, seconds: float, think: float, meter: CpuMeter
) -> LoadResult:
    """Arrivals on a fixed schedule, whatever the server does; latency counts from the schedule."""
    result = LoadResult(seconds=seconds)
    idle: asyncio.Queue[Till] = asyncio.Queue()
    for till in tills:
        idle.put_nowait(till)
    arrivals = int(rate * seconds)
    before = meter.snapshot()
    start = time.perf_counter() + 0.05

    async def arrival(scheduled: float) -> None:
        till = await idle.get()
        try:
            uid = cards.next()
            result.send_lag_ms.append(1000 * (time.perf_counter() - scheduled))
            scan_status = await till.scan(uid)
            result.scan_ms.append(1000 * (time.perf_counter() - scheduled))
            if scan_status != 200:
                result.errors[f"scan {scan_status}"] += 1
                return
            pay_at = scheduled + think
            await asyncio.sleep(max(0.0, pay_at - time.perf_counter()))
            purchase_status = await till.purchase(uid)
            done = time.perf_counter()
            if purchase_status != 201:
                result.errors[f"purchase {purchase_status}"] += 1
                return
            result.purchases += 1
            result.purchase_ms.append(1000 * (done - pay_at))
            result.arrival_ms.append(1000 * (done - scheduled))
        except (HttpError, TimeoutError, OSError) as error:
            result.errors[type(error).__name__] += 1
        finally:
            idle.put_nowait(till)

    tasks = []
    for i in range(arrivals):
        scheduled = start + i / rate
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        tasks.append(asyncio.create_task(arrival(scheduled)))
    async with asyncio.timeout(think + 30):
        await asyncio.gather(*tasks)
    result.cpu = cpu_use(before, meter.snapshot())
    return result


async def drive(
    setup: dict[str, Any], cards: Cards, port: int, settings: Settings, meter: CpuMeter
) -> dict[str, LoadResult]:
    """The three phases against one server: saturated, saturated without scans, rush."""
    lines = [{"product": setup["products"][name]["id"], "quantity": 1} for name in ("Sandwich", "Milk")]
    run_id = secrets.token_hex(4)
    connections = [Connection("127.0.0.1", port, token) for token in setup["tokens"]]
    tills = [Till(c, f"{run_id}-{i}", lines) for i, c in enumerate(connections)]
    try:
        saturated = await closed_loop(tills, cards, warmup=WARMUP_S, seconds=settings.seconds, meter=meter)
        saturated.connects = sum(c.connects for c in connections)
        purchases_only = await closed_loop(
            tills, cards, warmup=1.0, seconds=settings.seconds / 2, meter=meter, scan=False
        )
        purchases_only.connects = sum(c.connects for c in connections) - saturated.connects
        await asyncio.sleep(1.0)
        rush = await open_loop(
            tills,
            cards,
            rate=settings.rush_rate,
            seconds=settings.rush_seconds,
            think=settings.think_s,
            meter=meter,
        )
    finally:
        for c in connections:
            c.close()
    rush.connects = sum(c.connects for c in connections) - saturated.connects - purchases_only.connects
    return {"saturated": saturated, "purchases_only": purchases_only, "rush": rush}


# --------------------------------------------------------------------------- database and server


def django_env(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("REDIS_URL", "DJANGO_SETTINGS_MODULE"):
        env.pop(name, None)
    env.update(
        DATABASE_URL=database_url,
        DEBUG="false",
        ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="cardsystem.settings",
        PYTHONUNBUFFERED="1",
    )
    return env


def run_checked(args: list[str], env: dict[str, str], what: str, timeout: float = 300) -> str:
    done = subprocess.run(args, cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def database_recreate(settings: Settings) -> None:
    with psycopg.connect(settings.database_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{settings.db_name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{settings.db_name}"')


def database_facts(settings: Settings) -> dict[str, str]:
    with psycopg.connect(settings.database_url(), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        facts = {}
        for name in ("server_version", "synchronous_commit", "fsync", "shared_buffers", "max_connections"):
            row = conn.execute(f"SHOW {name}").fetchone()
            facts[name] = str(row[0]) if row else ""
        return facts


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class ServerConfig:
    spec: str
    worker_class: str
    workers: int
    threads: int

    @classmethod
    def parse(cls, spec: str) -> ServerConfig:
        """'sync:4' (4 sync workers) or 'gthread:2x4' (2 workers of 4 threads)."""
        match = re.fullmatch(r"(sync|gthread):(\d+)(?:x(\d+))?", spec.strip())
        if not match:
            raise ValueError(f"BENCH_SERVERS: cannot read {spec!r}; write e.g. sync:4 or gthread:2x4")
        kind, workers, threads = match.group(1), int(match.group(2)), int(match.group(3) or 1)
        return cls(spec=spec.strip(), worker_class=kind, workers=workers, threads=threads)

    @property
    def label(self) -> str:
        if self.worker_class == "sync":
            return f"sync -w {self.workers}"
        return f"gthread -w {self.workers} --threads {self.threads}"

    def args(self, port: int) -> list[str]:
        args = [
            sys.executable,
            "-m",
            "gunicorn",
            "cardsystem.wsgi:application",
            f"--bind=127.0.0.1:{port}",
            f"--workers={self.workers}",
            f"--worker-class={self.worker_class}",
            "--backlog=256",
            "--timeout=60",
            "--graceful-timeout=5",
            "--keep-alive=5",
        ]
        if self.worker_class == "gthread":
            args.append(f"--threads={self.threads}")
        return args


class Server:
    """gunicorn serving the app on 127.0.0.1; stopped (SIGTERM, then SIGKILL) on exit."""

    def __init__(self, config: ServerConfig, env: dict[str, str], log_path: Path) -> None:
        self.config = config
        self.port = free_port()
        self.log_path = log_path
        self._log = log_path.open("w")
        self.process = subprocess.Popen(
            config.args(self.port),
            cwd=PROJECT_DIR,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, token: str, timeout: float = 30) -> None:
        async def probe() -> int:
            conn = Connection("127.0.0.1", self.port, token)
            try:
                return (await conn.get(PRODUCTS_PATH))[0]
            finally:
                conn.close()

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.process.returncode}):\n{self.log_tail()}")
            with contextlib.suppress(OSError, HttpError, TimeoutError):
                status = asyncio.run(probe())
                if status == 200:
                    return
                raise RuntimeError(f"GET {PRODUCTS_PATH} answered {status}:\n{self.log_tail()}")
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn not ready after {timeout} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------- pgbench


def run_pgbench(
    settings: Settings, setup: dict[str, Any], price_cents: int, workdir: Path, meter: CpuMeter
) -> dict[str, Any]:
    """The raw-SQL baseline at the same concurrency; per-transaction latencies from its log."""
    url = urlsplit(settings.database_url())
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = url.password
    log_prefix = workdir / "pgbench_log"
    args = [
        settings.pgbench,
        "--no-vacuum",
        f"--client={TERMINALS}",
        "--jobs=2",
        f"--protocol={settings.pgbench_mode}",
        f"--time={max(1, round(settings.seconds))}",
        f"--file={BENCH_DIR / 'purchase.sql'}",
        f"--define=holder_min={setup['holder_id_min']}",
        f"--define=holder_max={setup['holder_id_max']}",
        f"--define=institution={setup['institution_id']}",
        f"--define=revenue={setup['revenue_account_id']}",
        f"--define=price={price_cents}",
        "--log",
        f"--log-prefix={log_prefix}",
        f"--host={url.hostname or '127.0.0.1'}",
        f"--port={url.port or 5432}",
        f"--username={url.username or 'postgres'}",
        settings.db_name,
    ]
    before = meter.snapshot()
    children_before = os.times()
    done = subprocess.run(
        args, cwd=workdir, env=env, capture_output=True, text=True, timeout=settings.seconds + 60, check=False
    )
    children = os.times()
    after = meter.snapshot()
    cpu = cpu_use(before, after)
    # pgbench has exited: its exact CPU time is in this process's children times.
    pgbench_cpu = sum(children[2:4]) - sum(children_before[2:4])
    cpu["pgbench"] = pgbench_cpu / (after.wall - before.wall)
    cpu["other"] = max(0.0, cpu["machine"] - sum(v for k, v in cpu.items() if k not in ("machine", "other")))
    if done.returncode != 0:
        raise RuntimeError(f"pgbench failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", done.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", done.stdout)
    latencies = []
    for log in workdir.glob("pgbench_log*"):
        for line in log.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 6:
                latencies.append(int(fields[2]) / 1000)
    return {
        "tps": float(tps.group(1)) if tps else None,
        "failed": int(failed.group(1)) if failed else None,
        "transactions": len(latencies),
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "cpu": cpu,
        "output": done.stdout,
    }


# --------------------------------------------------------------------------- the benchmark


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} ms"


def cores(cpu: dict[str, float]) -> str:
    return ", ".join(f"{key} {value:.2f}" for key, value in cpu.items())


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
        out = run_checked([sys.executable, "-m", "bench._hot_path", json.dumps(hot_cfg)], env, "hot path profile")
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


def hot_path_text(hot: dict[str, Any]) -> str:
    """The hot path's findings, for the console."""
    out = ["hot path in-process (django.test.Client, one request at a time):"]
    for name in ("scan", "purchase"):
        t = hot["timings"][name]
        out.append(
            f"    {name}: {len(hot[name + '_sql'])} SQL statements, {t['wall_ms']:.1f} ms wall = "
            f"{t['db_wait_ms']:.1f} ms waiting for PostgreSQL + {t['python_ms']:.1f} ms Python "
            f"({t['cpu_ms']:.1f} ms CPU)"
        )
    for sql in hot["purchase_sql"]:
        out.append(f"      {sql[:110]}")
    out.append("    CPU per request, layer by layer (ms):")
    out += [f"      {cost:6.3f}  {layer}" for layer, cost in hot["cpu_breakdown_ms"].items()]
    out.append("    wall time by innermost package (% of samples):")
    shares = hot["sampled"]["percent_by_innermost_package"]
    out += [f"      {share:5.1f}  {package}" for package, share in list(shares.items())[:8]]
    return "\n".join(out)


def make_rows(settings: Settings, results: dict[str, Any]) -> list[Row]:
    pgbench = results["pgbench"]
    pg_cpu_per_txn = _per(pgbench["cpu"].get("postgres"), pgbench["tps"])
    rows = [
        Row(
            NAME,
            f"pgbench lock-update-insert, -c {TERMINALS} -M {settings.pgbench_mode}",
            pgbench["tps"],
            "tps",
            "baseline",
        )
    ]
    busiest_other = max([pgbench["cpu"].get("other", 0.0)], default=0.0)
    for spec in results["servers"].values():
        label, sat, only, rush = spec["label"], spec["saturated"], spec["purchases_only"], spec["rush"]
        busiest_other = max(busiest_other, *(phase["cpu"].get("other", 0.0) for phase in (sat, only, rush)))
        tput, only_tput = sat["purchases_per_s"], only["purchases_per_s"]
        ratio = _ratio(tput, pgbench["tps"])
        errors = sum(sum(phase["errors"].values()) for phase in (sat, only, rush))
        p99 = rush["purchase_p99_ms"]
        rows += [
            Row(
                NAME,
                f"saturated scan+purchase: purchases/s [{label}]",
                tput,
                "/s",
                f"ratio ≥ {RATIO_TARGET}",
                pgbench["tps"],
                ratio,
                ratio is not None and ratio >= RATIO_TARGET,
            ),
            Row(
                NAME,
                f"saturated purchase p50 [{label}]",
                sat["purchase_p50_ms"],
                "ms",
                "",
                pgbench["p50_ms"],
                _ratio(sat["purchase_p50_ms"], pgbench["p50_ms"]),
            ),
            Row(
                NAME,
                f"saturated purchase p99 [{label}]",
                sat["purchase_p99_ms"],
                "ms",
                "",
                pgbench["p99_ms"],
                _ratio(sat["purchase_p99_ms"], pgbench["p99_ms"]),
            ),
            Row(
                NAME,
                f"saturated purchases only (no scans): purchases/s [{label}]",
                only_tput,
                "/s",
                "",
                pgbench["tps"],
                _ratio(only_tput, pgbench["tps"]),
            ),
            Row(NAME, f"gunicorn CPU per scan+purchase [{label}]", _per(sat["cpu"].get("server"), tput), "ms"),
            Row(
                NAME,
                f"PostgreSQL CPU per scan+purchase [{label}]",
                _per(sat["cpu"].get("postgres"), tput),
                "ms",
                "",
                pg_cpu_per_txn,
                _ratio(_per(sat["cpu"].get("postgres"), tput), pg_cpu_per_txn),
            ),
            Row(NAME, f"load generator CPU, saturated [{label}]", 100 * sat["cpu"]["client"], "% core"),
            Row(NAME, f"rush {settings.rush_rate:.0f}/s purchase p50 [{label}]", rush["purchase_p50_ms"], "ms"),
            Row(
                NAME,
                f"rush {settings.rush_rate:.0f}/s purchase p99 [{label}]",
                p99,
                "ms",
                f"< {RUSH_P99_TARGET_MS:.0f} ms",
                met=p99 is not None and p99 < RUSH_P99_TARGET_MS,
            ),
            Row(NAME, f"rush {settings.rush_rate:.0f}/s scan p99 [{label}]", rush["scan_p99_ms"], "ms"),
            Row(NAME, f"failed requests [{label}]", errors, "", "0", met=errors == 0),
        ]
    hot = results.get("hot_path")
    if hot:
        t = hot["timings"]
        rows += [
            Row(NAME, "SQL statements per scan", len(hot["scan_sql"])),
            Row(NAME, "SQL statements per purchase", len(hot["purchase_sql"])),
            Row(NAME, "in-process CPU per scan", t["scan"]["cpu_ms"], "ms"),
            Row(NAME, "in-process CPU per purchase", t["purchase"]["cpu_ms"], "ms"),
            Row(NAME, "in-process database wait per purchase", t["purchase"]["db_wait_ms"], "ms"),
        ]
    clean = results["ledger_check"]["returncode"] == 0
    rows += [
        Row(NAME, "ledger_check after the run", "clean" if clean else "NOT CLEAN", "", "clean", met=clean),
        Row(
            NAME,
            "unrelated processes' CPU (busiest phase)",
            busiest_other,
            "cores",
            f"< {BUSY_OTHER_CORES} (else figures are low)",
            met=busiest_other < BUSY_OTHER_CORES,
        ),
    ]
    return rows


def _per(cores_used: float | None, per_second: float | None) -> float | None:
    """Milliseconds of CPU per operation from cores used and operations per second."""
    return 1000 * cores_used / per_second if cores_used is not None and per_second else None


def _ratio(value: float | None, baseline: float | None) -> float | None:
    return value / baseline if value is not None and baseline else None


if __name__ == "__main__":
    from bench.__main__ import main as bench_main

    sys.exit(bench_main([NAME]))
