"""`python -m bench [NAME ...] [--seconds S]`: run the benchmarks and print one table.

Without names every benchmark of bench/ runs (a module or package is a benchmark when its name
does not start with "_" and it has `run() -> list[Row]`).
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import time
import traceback
from types import ModuleType

import bench
from bench import Row, format_markdown, format_table, machine_info, write_json


def benchmark_names() -> list[str]:
    return sorted(info.name for info in pkgutil.iter_modules(bench.__path__) if not info.name.startswith("_"))


def load(name: str) -> ModuleType:
    module = importlib.import_module(f"bench.{name}")
    if not callable(getattr(module, "run", None)):
        raise SystemExit(f"bench.{name} has no run() -> list[Row]")
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(benchmark_names())})")
    parser.add_argument("--seconds", type=float, help="length of each timed phase (sets BENCH_SECONDS)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)

    available = benchmark_names()
    if args.list:
        print("\n".join(available))
        return 0
    unknown = [name for name in args.names if name not in available]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(available)}")
    if args.seconds is not None:
        os.environ["BENCH_SECONDS"] = str(args.seconds)

    started = time.perf_counter()
    rows: list[Row] = []
    failed: list[str] = []
    for name in args.names or available:
        print(f"== bench.{name}", flush=True)
        try:
            rows.extend(load(name).run())
        except KeyboardInterrupt:
            print(f"bench.{name}: interrupted", file=sys.stderr)
            failed.append(name)
            break
        except Exception:
            traceback.print_exc()
            failed.append(name)

    machine = machine_info()
    print()
    print(
        f"{machine['date']} · app {machine['app_commit']} · {machine['nproc']} cores · {machine['cpu_model']} · "
        f"total {time.perf_counter() - started:.0f} s"
    )
    print(format_table(rows))
    missed = [row for row in rows if row.met is False]
    if missed:
        print(f"\n{len(missed)} target(s) missed: " + "; ".join(f"{r.benchmark}: {r.figure}" for r in missed))
    if not rows:
        print("no figures: nothing written", file=sys.stderr)
        return 1
    path = write_json(
        "bench",
        {
            "machine": machine,
            "rows": [row.as_dict() for row in rows],
            "failed": failed,
            "markdown": format_markdown(rows),
        },
    )
    print(f"results: {path.relative_to(bench.PROJECT_DIR)}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
