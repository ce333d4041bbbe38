"""The baseline: pgbench runs the purchase's lock-update-insert in raw SQL (bench/purchase.sql)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench import BENCH_DIR
from bench.lunch_rush.cpu import CpuMeter, cpu_use
from bench.lunch_rush.measure import percentile
from bench.lunch_rush.settings import TERMINALS, Settings


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
