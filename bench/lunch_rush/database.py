"""The bench database and the Django subprocesses run against it (migrate, setup, ledger_check)."""

from __future__ import annotations

import os
import subprocess

import psycopg

from bench import PROJECT_DIR
from bench.lunch_rush.settings import Settings


def django_env(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("REDIS_URL", "DJANGO_SETTINGS_MODULE"):
        env.pop(name, None)
    env.update(
        DATABASE_URL=database_url,
        DEBUG="false",
        ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
        LOG_LEVEL="WARNING",
        # Plain HTTP as from the TLS-terminating proxy in front of the app (which redirects to HTTPS
        # itself): no redirect here, or every request would measure a 301.
        SECURE_SSL_REDIRECT="false",
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
