"""gunicorn serving the app on 127.0.0.1: its configurations, start, readiness and stop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import PROJECT_DIR
from bench._http import Connection, HttpError
from bench.lunch_rush.settings import PRODUCTS_PATH


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
