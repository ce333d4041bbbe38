"""CPU accounting: the cores used by the load generator, gunicorn, PostgreSQL, pgbench and the rest."""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


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
