"""Where a scan and a purchase spend their time, measured in-process (no HTTP server, no load).

Run by bench/lunch_rush/ in a subprocess against the bench database:
    python -m bench._hot_path '{"token": ..., "uids": [...], "lines": [...], "iterations": 200}'
Through django.test.Client (the whole WSGI handler and middleware stack, as gunicorn runs it):
- the SQL statements of one scan and of one purchase (CaptureQueriesContext);
- per request: wall time, CPU time of this process, and the time spent waiting on the database
  (an execute_wrapper around every query), so wall - database = Python;
- where the time goes: a sampling profiler (shares of wall time by package and by function, with
  the waits for PostgreSQL apart), and a cProfile of the same loop (call counts, cumulative time);
- the CPU cost of each layer (middleware, DRF, authentication, validation, ORM versus raw SQL).
Prints one JSON object on stdout.
"""

from __future__ import annotations

import cProfile
import gc
import io
import json
import os
import pstats
import sys
import sysconfig
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cardsystem.settings")
django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402
from django.utils.translation import activate  # noqa: E402

PROJECT = str(Path(__file__).resolve().parent.parent)
STDLIB = sysconfig.get_paths()["stdlib"]


class DbTimer:
    """An execute_wrapper adding up the wall time spent in the database driver."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.queries = 0

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - start
            self.queries += 1


def package_of(filename: str) -> str:
    """'django', 'rest_framework', 'psycopg', 'app:canteen', 'stdlib:json', 'builtins'..."""
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins (C)"
    if "site-packages" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if filename.startswith(PROJECT):
        return "app:" + filename[len(PROJECT) + 1 :].split("/", 1)[0]
    if filename.startswith(STDLIB):
        return "stdlib:" + filename[len(STDLIB) + 1 :].split("/", 1)[0].removesuffix(".py")
    return filename


def frame_name(code: Any) -> str:
    short = code.co_filename.split("site-packages/", 1)[-1].replace(PROJECT + "/", "")
    return f"{short}:{code.co_firstlineno}({code.co_name})"


class StackSampler:
    """A wall-clock sampling profiler of the main thread (cProfile's overhead distorts ORM-heavy code).

    A thread reads the main thread's stack every ~0.5 ms; the GIL switch interval is lowered so the
    sampler gets its turn. A sample whose innermost Python frame is psycopg waiting for the socket
    is time spent waiting for PostgreSQL; any other sample is Python at work.
    """

    def __init__(self, interval: float = 0.0005) -> None:
        self.interval = interval
        self.samples = 0
        self.leaf: Counter[str] = Counter()
        self.leaf_package: Counter[str] = Counter()
        self.inclusive: Counter[str] = Counter()
        self._target = threading.main_thread().ident or 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._switch = sys.getswitchinterval()
        self._wall = 0.0

    def __enter__(self) -> StackSampler:
        sys.setswitchinterval(self.interval / 5)
        self._wall = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._wall = time.perf_counter() - self._wall
        sys.setswitchinterval(self._switch)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            frame = sys._current_frames().get(self._target)
            if frame is None:
                continue
            names = []
            leaf = frame
            while frame is not None:
                names.append(frame_name(frame.f_code))
                frame = frame.f_back
            self.samples += 1
            code = leaf.f_code
            if "psycopg/" in code.co_filename and code.co_name.startswith("wait"):
                package = "waiting for PostgreSQL"
            elif "psycopg/" in code.co_filename and code.co_name == "_execute_send":
                package = "psycopg sending the query (libpq; mostly waiting for a core when the machine is busy)"
            else:
                package = package_of(code.co_filename)
            self.leaf[names[0]] += 1
            self.leaf_package[package] += 1
            for name in set(names):
                self.inclusive[name] += 1

    def report(self, *, cycles: int) -> dict[str, Any]:
        ms_per_cycle = 1000 * self._wall / cycles

        def shares(counter: Counter[str], top: int) -> dict[str, float]:
            return {name: round(100 * n / self.samples, 1) for name, n in counter.most_common(top)}

        return {
            "samples": self.samples,
            "wall_ms_per_cycle": ms_per_cycle,
            "percent_by_innermost_package": shares(self.leaf_package, 20),
            "percent_inclusive": shares(self.inclusive, 45),
            "percent_innermost": shares(self.leaf, 25),
        }


def cpu_ms(call: Callable[[], object], iterations: int, repeats: int = 5) -> float:
    """CPU time of this process per call, in ms: the best of a few rounds, without the garbage
    collector (as timeit does), so that a collection or a busy neighbour does not land in one figure."""
    for _ in range(10):
        call()
    per_round = max(1, iterations // repeats)
    best = float("inf")
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeats):
            started = time.process_time()
            for _ in range(per_round):
                call()
            best = min(best, (time.process_time() - started) / per_round)
    finally:
        gc.enable()
    return 1000 * best


def breakdown(*, token: str, uid: str, lines: list[dict[str, int]], iterations: int) -> dict[str, float]:
    """CPU cost of each layer a terminal request passes, measured by difference (ms per request)."""
    from cards.models import Card
    from cards.selectors import card_get_by_uid
    from terminals import serializers as s

    client = Client(headers={"Authorization": f"Bearer {token}"})

    def post(path: str) -> Callable[[], object]:
        return lambda: client.post(path, {}, content_type="application/json")

    empty_django = cpu_ms(post("/bench/empty-django"), iterations)
    with override_settings(MIDDLEWARE=[]):
        bare = Client()
        empty_django_no_middleware = cpu_ms(
            lambda: bare.post("/bench/empty-django", {}, content_type="application/json"), iterations
        )
    empty_drf = cpu_ms(post("/bench/empty-drf"), iterations)
    empty_terminal = cpu_ms(post("/bench/empty-terminal"), iterations)

    def validate_purchase() -> None:
        serializer = s.PurchaseInput(data={"uid": uid, "lines": lines, "payment": "card"})
        assert serializer.is_valid(), serializer.errors

    def validate_scan() -> None:
        serializer = s.ScanInput(data={"uid": uid})
        assert serializer.is_valid(), serializer.errors

    query = (
        Card.objects.select_related("holder__institution", "holder__price_category", "staff_user")
        .filter(uid=uid)
        .order_by("pk")[:1]
    )
    sql, params = query.query.sql_with_params()
    connection.ensure_connection()
    raw = connection.connection.cursor()

    def raw_card() -> None:
        raw.execute(sql, params)
        raw.fetchall()

    def raw_select_1() -> None:
        raw.execute("SELECT 1")
        raw.fetchall()

    orm_card = cpu_ms(lambda: card_get_by_uid(uid=uid), iterations)
    raw_card_ms = cpu_ms(raw_card, iterations)
    return {
        "test client + handler + URL resolving, empty Django view": empty_django_no_middleware,
        "the 10 middleware classes": empty_django - empty_django_no_middleware,
        "DRF APIView (request, negotiation, JSON rendering), empty": empty_drf - empty_django,
        "terminal token authentication (ORM, 1 query)": empty_terminal - empty_drf,
        "ScanInput validation": cpu_ms(validate_scan, iterations),
        "PurchaseInput validation (2 lines)": cpu_ms(validate_purchase, iterations),
        "card_get_by_uid (ORM, 1 query with 4 joins)": orm_card,
        "the same SQL through psycopg directly": raw_card_ms,
        "SELECT 1 through psycopg (a round trip's client CPU)": cpu_ms(raw_select_1, iterations),
    }


def main() -> None:
    cfg = json.loads(sys.argv[1])
    override_settings(ROOT_URLCONF="bench._hot_path_urls").enable()
    activate("da")
    client = Client(headers={"Authorization": f"Bearer {cfg['token']}"})
    uids: Iterator[str] = iter(cfg["uids"])
    counter = iter(range(10**9))
    lines = cfg["lines"]

    def scan(uid: str) -> None:
        response = client.post("/api/v1/terminal/scans", {"uid": uid}, content_type="application/json")
        assert response.status_code == 200, response.content

    def purchase(uid: str) -> None:
        response = client.post(
            "/api/v1/terminal/purchases",
            {"uid": uid, "lines": lines, "payment": "card"},
            content_type="application/json",
            headers={"Idempotency-Key": f"hot-path-{os.getpid()}-{next(counter)}"},
        )
        assert response.status_code == 201, response.content

    for _ in range(5):  # warm caches: URL resolver, system accounts, translations, prepared imports
        uid = next(uids)
        scan(uid)
        purchase(uid)

    uid = next(uids)
    with CaptureQueriesContext(connection) as scan_queries:
        scan(uid)
    with CaptureQueriesContext(connection) as purchase_queries:
        purchase(uid)
    # captured_queries reads connection.queries lazily, and every later request resets that log.
    scan_sql = [q["sql"] for q in scan_queries.captured_queries]
    purchase_sql = [q["sql"] for q in purchase_queries.captured_queries]

    iterations = int(cfg["iterations"])
    timings: dict[str, dict[str, float]] = {}
    for name, call in (("scan", scan), ("purchase", purchase)):
        timer = DbTimer()
        batch = [next(uids) for _ in range(iterations)]
        with connection.execute_wrapper(timer):
            wall0, cpu0 = time.perf_counter(), time.process_time()
            for uid in batch:
                call(uid)
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        timings[name] = {
            "wall_ms": 1000 * wall / iterations,
            "cpu_ms": 1000 * cpu / iterations,
            "db_wait_ms": 1000 * timer.seconds / iterations,
            "python_ms": 1000 * (wall - timer.seconds) / iterations,
            "queries": timer.queries / iterations,
        }

    batch = [next(uids) for _ in range(iterations)]
    with StackSampler() as sampler:
        for uid in batch:
            scan(uid)
            purchase(uid)
    sampled = sampler.report(cycles=iterations)

    profiler = cProfile.Profile()
    batch = [next(uids) for _ in range(iterations)]
    profiler.enable()
    for uid in batch:
        scan(uid)
        purchase(uid)
    profiler.disable()
    stats = pstats.Stats(profiler)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total_tt = sum(v[2] for v in raw.values())
    by_package: dict[str, float] = defaultdict(float)
    functions = []
    for (filename, line, name), (_cc, calls, tottime, cumtime, _callers) in raw.items():
        by_package[package_of(filename)] += tottime
        short = filename.split("site-packages/", 1)[-1].replace(PROJECT + "/", "")
        functions.append(
            {
                "function": f"{short}:{line}({name})",
                "calls_per_cycle": calls / iterations,
                "own_ms_per_cycle": 1000 * tottime / iterations,
                "cum_ms_per_cycle": 1000 * cumtime / iterations,
            }
        )
    costs = breakdown(token=cfg["token"], uid=next(uids), lines=lines, iterations=iterations)

    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(40)
    print(
        json.dumps(
            {
                "scan_sql": scan_sql,
                "purchase_sql": purchase_sql,
                "timings": timings,
                "cpu_breakdown_ms": costs,
                "sampled": sampled,
                "profile": {
                    "iterations": iterations,
                    "profiled_ms_per_cycle": 1000 * total_tt / iterations,
                    "own_ms_per_cycle_by_package": {
                        package: 1000 * seconds / iterations
                        for package, seconds in sorted(by_package.items(), key=lambda kv: -kv[1])
                    },
                    "top_own": sorted(functions, key=lambda f: -f["own_ms_per_cycle"])[:30],
                    "top_cumulative": sorted(functions, key=lambda f: -f["cum_ms_per_cycle"])[:40],
                    "pstats_cumulative": text.getvalue(),
                },
            }
        )
    )


if __name__ == "__main__":
    main()
