"""The figures: the console text and the rows of the table."""

from __future__ import annotations

from typing import Any

from bench import Row
from bench.lunch_rush.settings import BUSY_OTHER_CORES, NAME, RATIO_TARGET, RUSH_P99_TARGET_MS, TERMINALS, Settings


def ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} ms"


def cores(cpu: dict[str, float]) -> str:
    return ", ".join(f"{key} {value:.2f}" for key, value in cpu.items())


def hot_path_text(hot: dict[str, Any]) -> str:
    """The hot path's findings, for the console."""
    out = ["hot path in-process (django.test.Client, one request at a time):"]
    for name in ("scan", "purchase"):
        t = hot["timings"][name]
        out.append(
            f"    {name}: {len(hot[name + '_sql'])} SQL statements, {t['wall_ms']:.1f} ms wall = "
            f"{t['db_wait_ms']:.1f} ms waiting for PostgreSQL + {t['python_ms']:.1f} ms Python "
            f"({t['cpu_ms']:.1f} ms CPU)"
        )
    for sql in hot["purchase_sql"]:
        out.append(f"      {sql[:110]}")
    out.append("    CPU per request, layer by layer (ms):")
    out += [f"      {cost:6.3f}  {layer}" for layer, cost in hot["cpu_breakdown_ms"].items()]
    out.append("    wall time by innermost package (% of samples):")
    shares = hot["sampled"]["percent_by_innermost_package"]
    out += [f"      {share:5.1f}  {package}" for package, share in list(shares.items())[:8]]
    return "\n".join(out)


def make_rows(settings: Settings, results: dict[str, Any]) -> list[Row]:
    pgbench = results["pgbench"]
    pg_cpu_per_txn = _per(pgbench["cpu"].get("postgres"), pgbench["tps"])
    rows = [
        Row(
            NAME,
            f"pgbench lock-update-insert, -c {TERMINALS} -M {settings.pgbench_mode}",
            pgbench["tps"],
            "tps",
            "baseline",
        )
    ]
    busiest_other = max([pgbench["cpu"].get("other", 0.0)], default=0.0)
    for spec in results["servers"].values():
        label, sat, only, rush = spec["label"], spec["saturated"], spec["purchases_only"], spec["rush"]
        busiest_other = max(busiest_other, *(phase["cpu"].get("other", 0.0) for phase in (sat, only, rush)))
        tput, only_tput = sat["purchases_per_s"], only["purchases_per_s"]
        ratio = _ratio(tput, pgbench["tps"])
        errors = sum(sum(phase["errors"].values()) for phase in (sat, only, rush))
        p99 = rush["purchase_p99_ms"]
        rows += [
            Row(
                NAME,
                f"saturated scan+purchase: purchases/s [{label}]",
                tput,
                "/s",
                f"ratio ≥ {RATIO_TARGET}",
                pgbench["tps"],
                ratio,
                ratio is not None and ratio >= RATIO_TARGET,
            ),
            Row(
                NAME,
                f"saturated purchase p50 [{label}]",
                sat["purchase_p50_ms"],
                "ms",
                "",
                pgbench["p50_ms"],
                _ratio(sat["purchase_p50_ms"], pgbench["p50_ms"]),
            ),
            Row(
                NAME,
                f"saturated purchase p99 [{label}]",
                sat["purchase_p99_ms"],
                "ms",
                "",
                pgbench["p99_ms"],
                _ratio(sat["purchase_p99_ms"], pgbench["p99_ms"]),
            ),
            Row(
                NAME,
                f"saturated purchases only (no scans): purchases/s [{label}]",
                only_tput,
                "/s",
                "",
                pgbench["tps"],
                _ratio(only_tput, pgbench["tps"]),
            ),
            Row(NAME, f"gunicorn CPU per scan+purchase [{label}]", _per(sat["cpu"].get("server"), tput), "ms"),
            Row(
                NAME,
                f"PostgreSQL CPU per scan+purchase [{label}]",
                _per(sat["cpu"].get("postgres"), tput),
                "ms",
                "",
                pg_cpu_per_txn,
                _ratio(_per(sat["cpu"].get("postgres"), tput), pg_cpu_per_txn),
            ),
            Row(NAME, f"load generator CPU, saturated [{label}]", 100 * sat["cpu"]["client"], "% core"),
            Row(NAME, f"rush {settings.rush_rate:.0f}/s purchase p50 [{label}]", rush["purchase_p50_ms"], "ms"),
            Row(
                NAME,
                f"rush {settings.rush_rate:.0f}/s purchase p99 [{label}]",
                p99,
                "ms",
                f"< {RUSH_P99_TARGET_MS:.0f} ms",
                met=p99 is not None and p99 < RUSH_P99_TARGET_MS,
            ),
            Row(NAME, f"rush {settings.rush_rate:.0f}/s scan p99 [{label}]", rush["scan_p99_ms"], "ms"),
            Row(NAME, f"failed requests [{label}]", errors, "", "0", met=errors == 0),
        ]
    hot = results.get("hot_path")
    if hot:
        t = hot["timings"]
        rows += [
            Row(NAME, "SQL statements per scan", len(hot["scan_sql"])),
            Row(NAME, "SQL statements per purchase", len(hot["purchase_sql"])),
            Row(NAME, "in-process CPU per scan", t["scan"]["cpu_ms"], "ms"),
            Row(NAME, "in-process CPU per purchase", t["purchase"]["cpu_ms"], "ms"),
            Row(NAME, "in-process database wait per purchase", t["purchase"]["db_wait_ms"], "ms"),
        ]
    clean = results["ledger_check"]["returncode"] == 0
    rows += [
        Row(NAME, "ledger_check after the run", "clean" if clean else "NOT CLEAN", "", "clean", met=clean),
        Row(
            NAME,
            "unrelated processes' CPU (busiest phase)",
            busiest_other,
            "cores",
            f"< {BUSY_OTHER_CORES} (else figures are low)",
            met=busiest_other < BUSY_OTHER_CORES,
        ),
    ]
    return rows


def _per(cores_used: float | None, per_second: float | None) -> float | None:
    """Milliseconds of CPU per operation from cores used and operations per second."""
    return 1000 * cores_used / per_second if cores_used is not None and per_second else None


def _ratio(value: float | None, baseline: float | None) -> float | None:
    return value / baseline if value is not None and baseline else None
