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

from bench.lunch_rush.benchmark import run
from bench.lunch_rush.report import make_rows
from bench.lunch_rush.settings import NAME, Settings

__all__ = ["NAME", "Settings", "make_rows", "run"]
