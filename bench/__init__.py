"""Benchmarks of the card system (DESIGN.md, "Performance targets").

Every public module of this package (a name not starting with "_") is one benchmark: it exposes
`run() -> list[Row]`, and `python -m bench` runs them all and prints one table.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"


@dataclass
class Row:
    """One figure of a benchmark, with the target it is held to and the baseline it is compared with.

    `ratio` is value / baseline when there is a baseline; `met` says whether the target is met
    (None: the figure has no target and is there to explain the others).
    """

    benchmark: str
    figure: str
    value: float | str | None
    unit: str = ""
    target: str = ""
    baseline: float | None = None
    ratio: float | None = None
    met: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _number(value: float | str | None, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, int) or (value.is_integer() and unit in ("", "statements")):
        return f"{int(value):,} {unit}".rstrip()
    if abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".rstrip()


def format_table(rows: list[Row]) -> str:
    """A plain-text table: benchmark, figure, value, target, baseline, ratio, verdict."""
    header = ("benchmark", "figure", "value", "target", "baseline", "ratio", "met")
    lines = [
        (
            row.benchmark,
            row.figure,
            _number(row.value, row.unit),
            row.target or "—",
            _number(row.baseline, row.unit if row.baseline is not None else ""),
            "—" if row.ratio is None else f"{row.ratio:.2f}",
            {True: "yes", False: "NO", None: ""}[row.met],
        )
        for row in rows
    ]
    widths = [max(len(str(cells[i])) for cells in [header, *lines]) for i in range(len(header))]
    right = {2, 4, 5}

    def fmt(cells: tuple[str, ...]) -> str:
        return "  ".join(
            str(cell).rjust(widths[i]) if i in right else str(cell).ljust(widths[i]) for i, cell in enumerate(cells)
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(header), rule, *(fmt(cells) for cells in lines)])


def format_markdown(rows: list[Row]) -> str:
    """The same table as Markdown, for bench/README.md."""
    out = [
        "| benchmark | figure | value | target | baseline | ratio | met |",
        "|---|---|---:|---|---:|---:|---|",
    ]
    for row in rows:
        out.append(
            "| "
            + " | ".join(
                [
                    row.benchmark,
                    row.figure,
                    _number(row.value, row.unit),
                    row.target or "—",
                    _number(row.baseline, row.unit if row.baseline is not None else ""),
                    "—" if row.ratio is None else f"{row.ratio:.2f}",
                    {True: "yes", False: "**no**", None: ""}[row.met],
                ]
            )
            + " |"
        )
    return "\n".join(out)


def machine_info() -> dict[str, Any]:
    """What the figures were measured on: cores, CPU model, Python, PostgreSQL client and server."""
    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }
    try:
        # The app changes under the figures: name the commit they were measured on.
        info["app_commit"] = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--exclude=*"],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except OSError:
        info["app_commit"] = None
    pgbench = shutil.which("pgbench") or "/usr/bin/pgbench"
    try:
        info["pgbench"] = subprocess.run(
            [pgbench, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()
    except OSError:
        info["pgbench"] = None
    return info


def write_json(name: str, payload: dict[str, Any]) -> Path:
    """Write `payload` to bench/results/<name>.json (the latest) and a time-stamped copy."""
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    text = json.dumps(payload, indent=2, default=str)
    (RESULTS_DIR / f"{name}-{stamp}.json").write_text(text)
    latest = RESULTS_DIR / f"{name}.json"
    latest.write_text(text)
    return latest
