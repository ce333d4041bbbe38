"""The benchmark's constants and its settings from the environment (BENCH_*)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

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
