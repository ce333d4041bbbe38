"""What the database benchmarks share: a throw-away PostgreSQL database, and steps run in fresh
Django processes (so a step's memory and connections are its own, as a worker's would be)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from bench import PROJECT_DIR

BASE_URL = os.environ.get("BENCH_DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/"


def database_url(name: str) -> str:
    """BENCH_DATABASE_URL's server, database `name`."""
    parts = urlsplit(BASE_URL)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def database_recreate(name: str) -> None:
    """Drop and create database `name` (it is kept after a run, for inspection)."""
    with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def step_run(module: str, step: str, env: dict[str, str], timeout: float = 900) -> dict[str, Any]:
    """Run `python -m <module> <step>` in a fresh process; its progress goes to our stderr, its
    JSON answer is the last line of its stdout."""
    done = subprocess.run(
        [sys.executable, "-m", module, step],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{module} {step} failed ({done.returncode}):\n{done.stdout[-3000:]}")
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer
