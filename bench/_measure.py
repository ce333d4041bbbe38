"""Measuring inside a benchmark's step process (the database benchmarks share these): progress lines,
Django set-up, statements counted by kind, commits timed, resident memory, functions timed."""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import PROJECT_DIR


class Clock:
    """Progress lines on stderr, with the seconds since the step began (stdout carries the answer)."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def say(self, text: str) -> None:
        print(f"  [{time.perf_counter() - self.started:5.1f} s] {text}", file=sys.stderr, flush=True)


def django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cardsystem.settings")
    sys.path.insert(0, str(PROJECT_DIR))
    import django

    django.setup()


class Statements:
    """An execute_wrapper counting the statements by kind (`kind_of(sql)`) and the wall time spent in
    the driver. It keeps counters only, so it costs no memory per statement (unlike
    CaptureQueriesContext)."""

    def __init__(self, kind_of: Callable[[str], str]) -> None:
        self.kind_of = kind_of
        self.seconds = 0.0
        self.kinds: Counter[str] = Counter()
        self.kind_seconds: dict[str, float] = {}

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        kind = self.kind_of(sql)
        self.kinds[kind] += 1
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            elapsed = time.perf_counter() - start
            self.seconds += elapsed
            self.kind_seconds[kind] = self.kind_seconds.get(kind, 0.0) + elapsed


class Commits:
    """Times the commits of the connection (the deferred ledger triggers run there)."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.seconds = 0.0
        self.count = 0

    def __enter__(self) -> Commits:
        original = self.connection.commit

        def commit() -> None:
            start = time.perf_counter()
            try:
                original()
            finally:
                self.seconds += time.perf_counter() - start
                self.count += 1

        self.connection.commit = commit
        return self

    def __exit__(self, *exc: object) -> None:
        del self.connection.commit  # the instance attribute goes; the class's method is back


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process, in MB."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _sep, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def peak_reset() -> None:
    # Writing 5 resets the peak RSS (VmHWM) to the current RSS (Linux >= 4.0).
    Path("/proc/self/clear_refs").write_text("5")


@contextmanager
def functions_timed(targets: list[tuple[Any, str, str]], timings: dict[str, float]) -> Iterator[None]:
    """Add the time spent in each (owner, attribute, label) function to `timings[label]`, by wrapping
    the functions for the duration (read-only: the code measured is unchanged)."""
    originals = [(owner, name, label, getattr(owner, name)) for owner, name, label in targets]

    def timed(label: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                timings[label] = timings.get(label, 0.0) + time.perf_counter() - start

        return wrapper

    for owner, name, label, function in originals:
        setattr(owner, name, timed(label, function))
    try:
        yield
    finally:
        for owner, name, _label, function in originals:
            setattr(owner, name, function)
