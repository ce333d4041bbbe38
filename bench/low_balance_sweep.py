"""Low-balance sweep: `payments.alerts.low_balance_sweep()` over 100,000 cardholders.

DESIGN.md: "Low-balance sweep over 100,000 cardholders: under 5 s, queries not Python loops."

1. A fresh PostgreSQL database (`bench_low_balance_sweep`, dropped and recreated, migrated) is
   filled in bulk (COPY, and SQL for the opening balances): four schools, BENCH_SWEEP_HOLDERS
   (100,000) cardholders with their main and extra accounts, in families of one to three children
   with one or two guardians each (an e-mail address, a language; 1 % of them deactivated). 60 % of
   the cardholders have a low-balance alert (20.00, 50.00 or 100.00), copied onto both accounts as
   `balance_watch_refresh` does. Of all cardholders, 5 % have one balance below the level and not
   told yet (the sweep must mail them), 1 % one below and told already (it must not), 0.5 % one back
   above the level but still flagged (it must re-arm them); every other balance is above its level.
   Each non-zero balance has its own opening transaction, so the ledger holds (the ledger's deferred
   trigger is off while the rows go in: `ledger_mismatches()` checks the same afterwards, and the
   benchmark fails if it finds anything). Then VACUUM ANALYZE.
2. In a fresh process (as a Celery worker, with its templates and translations warmed up), with an
   e-mail backend that builds every message as the SMTP backend does but sends nothing:
   - the sweep with everything to do, BENCH_SWEEP_REPEATS (3) times, the flags put back between
     runs: wall time (target: the slowest under 5 s), of which waiting for PostgreSQL, the SQL
     statements it made (CaptureQueriesContext) and what they were, the e-mails built;
   - the sweep again with nothing left to do (its usual case every ten minutes), five times.
   The counts (re-armed, mailed, e-mails) must be what the data says, or the benchmark fails.

"Not Python loops": met when the sweep makes fewer than one SQL statement per 100 accounts it
mails (a loop per cardholder or per account makes at least one each).

Environment: BENCH_DATABASE_URL (postgres://postgres@127.0.0.1:5432/), BENCH_SWEEP_DB_NAME,
BENCH_SWEEP_HOLDERS (100000), BENCH_SWEEP_REPEATS (3).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from bench import PROJECT_DIR, Row, machine_info, write_json
from bench._steps import database_recreate, database_url
from bench.lunch_rush.cpu import CpuMeter, cpu_use
from bench.lunch_rush.database import django_env
from bench.lunch_rush.settings import BUSY_OTHER_CORES

NAME = "low_balance_sweep"
DB_NAME = os.environ.get("BENCH_SWEEP_DB_NAME") or "bench_low_balance_sweep"
HOLDERS = int(os.environ.get("BENCH_SWEEP_HOLDERS") or 100_000)
REPEATS = max(1, int(os.environ.get("BENCH_SWEEP_REPEATS") or 3))
IDLE_REPEATS = 5
TARGET_S = 5.0
# At most one statement per this many accounts mailed counts as set-based.
ACCOUNTS_PER_STATEMENT = 100

SCHOOLS = 4
ALERT_SHARE = 0.60
ALERT_LEVELS = (2000, 5000, 10000)
BELOW_UNTOLD_SHARE = 0.05
BELOW_TOLD_SHARE = 0.01
REARM_SHARE = 0.005
LANGUAGES = (("", 80), ("en", 10), ("ru", 4), ("ar", 3), ("sk", 3))
INACTIVE_GUARDIAN_SHARE = 0.01
SEED = 20261122
RESULT_MARK = "RESULT "


# The functions below (a throw-away database, a step in a fresh Django process, COPY) serve bench.guardian_pages too.


def child_run(module: str, step: str, env: dict[str, str], timeout: float = 600) -> dict[str, Any]:
    """Run one step in a fresh Django process: its progress lines are echoed as they come, its
    answer is the JSON line after RESULT_MARK. Killed after `timeout` seconds."""
    answer: dict[str, Any] | None = None
    with subprocess.Popen(
        [sys.executable, "-m", module, step], cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, text=True
    ) as child:
        watchdog = threading.Timer(timeout, child.kill)
        watchdog.start()
        try:
            assert child.stdout is not None
            for line in child.stdout:
                if line.startswith(RESULT_MARK):
                    answer = json.loads(line[len(RESULT_MARK) :])
                else:
                    print(line, end="", flush=True)
            code = child.wait()
        finally:
            watchdog.cancel()
    if code != 0 or answer is None:
        raise RuntimeError(f"{module} {step} failed (exit status {code}; its traceback is above)")
    return answer


def run() -> list[Row]:
    started = time.perf_counter()
    database_recreate(DB_NAME)
    env = django_env(database_url(DB_NAME))
    fill = child_run(f"bench.{NAME}", "fill", env)
    measured = child_run(f"bench.{NAME}", "measure", env)
    results = {"holders": HOLDERS, "fill": fill, **measured}
    rows = _rows(results)
    results["rows"] = [row.as_dict() for row in rows]
    results["machine"] = machine_info()
    path = write_json(NAME, results)
    print(f"  details: {path.relative_to(PROJECT_DIR)} (total {time.perf_counter() - started:.0f} s)")
    return rows


def _rows(results: dict[str, Any]) -> list[Row]:
    full = results["full"]
    idle = results["idle"]
    slowest = max(full["wall_s"])
    idle_slowest = max(idle["wall_s"])
    holders = f"{results['holders']:,}"
    mailed = full["mailed"]
    statements_limit = 2 + math.ceil(mailed / ACCOUNTS_PER_STATEMENT)
    return [
        Row(
            NAME,
            f"sweep over {holders} cardholders, {mailed:,} accounts to mail (slowest of {len(full['wall_s'])})",
            slowest,
            "s",
            f"< {TARGET_S:.0f} s",
            ratio=slowest / TARGET_S,
            met=slowest < TARGET_S,
        ),
        Row(NAME, "  of which waiting for PostgreSQL", max(full["db_s"]), "s"),
        Row(NAME, "  e-mails built (one per account and active guardian)", full["emails"]),
        Row(
            NAME,
            f"  SQL statements ({', '.join(f'{n} {what}' for what, n in full['statement_kinds'].items())})",
            full["statements"],
            "statements",
            f"set-based: < 1 per {ACCOUNTS_PER_STATEMENT} accounts mailed",
            met=full["statements"] <= statements_limit,
        ),
        Row(
            NAME,
            f"sweep with nothing to mail (slowest of {len(idle['wall_s'])})",
            idle_slowest,
            "s",
            f"< {TARGET_S:.0f} s",
            ratio=idle_slowest / TARGET_S,
            met=idle_slowest < TARGET_S,
        ),
        Row(NAME, "  SQL statements, nothing to mail", idle["statements"], "statements"),
        Row(
            NAME,
            "unrelated processes' CPU during the sweeps",
            results["cpu"]["other"],
            "cores",
            f"< {BUSY_OTHER_CORES} (else figures are high)",
            met=results["cpu"]["other"] < BUSY_OTHER_CORES,
        ),
        Row(
            NAME,
            "ledger_mismatches() after the fill",
            "clean" if not results["fill"]["ledger_mismatches"] else "not clean",
            "",
            "clean",
            met=not results["fill"]["ledger_mismatches"],
        ),
    ]


# --- inside the Django process ------------------------------------------------------------------


class Clock:
    """Progress lines with the seconds since the step began."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def say(self, text: str) -> None:
        print(f"  [{time.perf_counter() - self.started:5.1f} s] {text}", flush=True)


def django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cardsystem.settings")
    import django

    django.setup()


def rows_copy(model: Any, objects: Sequence[Any]) -> None:
    """Insert unsaved model instances with COPY, several times faster than bulk_create for the
    hundreds of thousands of rows here. Every concrete field is written as Django would write it
    (`get_db_prep_save`; auto_now fields get the time now), so a field added to a model needs no
    change here. Ids are drawn from the table's sequence first and set on the instances."""
    from django.db import DEFAULT_DB_ALIAS, connections
    from django.utils import timezone

    if not objects:
        return
    # The wrapper itself, not the `django.db.connection` proxy: it is read for every value.
    connection = connections[DEFAULT_DB_ALIAS]
    meta = model._meta
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, meta.pk.column, len(objects)],
        )
        for obj, (pk,) in zip(objects, cursor.fetchall(), strict=True):
            obj.pk = pk
        now = timezone.now()
        fields = list(meta.concrete_fields)
        for field in fields:
            if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                for obj in objects:
                    setattr(obj, field.attname, now)
        columns = ", ".join(quote(field.column) for field in fields)
        with cursor.cursor.copy(f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN") as copy:
            for obj in objects:
                copy.write_row([field.get_db_prep_save(getattr(obj, field.attname), connection) for field in fields])
    for obj in objects:
        obj._state.adding = False
        obj._state.db = connection.alias


@contextlib.contextmanager
def ledger_trigger_off() -> Iterator[list[str]]:
    """Inside the fill's transaction: switch off the ledger's deferred trigger on
    payments_ledgerentry while the rows go in, and on again before the commit. It checks each
    inserted entry's transaction at commit, one row at a time (about 10 s for the rows here);
    `ledger_mismatches()` checks the same for all rows at once after the fill, and the benchmark
    fails if it finds anything. The other triggers (append-only, foreign keys) stay on. Needs the
    owner of the table, which the bench user is (it created the database). Yields the names."""
    from django.db import connection

    table = "payments_ledgerentry"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND tgdeferrable AND NOT tgisinternal",
            [table],
        )
        names = [row[0] for row in cursor.fetchall()]
        for name in names:
            cursor.execute(f'ALTER TABLE {table} DISABLE TRIGGER "{name}"')
    yield names
    with connection.cursor() as cursor:
        # Django's foreign keys are deferred triggers too: check them now, since a table with
        # pending trigger events cannot be altered.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for name in names:
            cursor.execute(f'ALTER TABLE {table} ENABLE TRIGGER "{name}"')


def _plan(holders: int, rng: random.Random) -> list[dict[str, Any]]:
    """Each cardholder's alert level and its two accounts' balances and flags."""
    plans: list[dict[str, Any]] = []
    for _index in range(holders):
        level = rng.choice(ALERT_LEVELS) if rng.random() < ALERT_SHARE else None
        base = level or 0
        plans.append(
            {
                "level": level,
                "main": [base + rng.randint(0, 40000), False],
                "extra": [base + rng.randint(0, 25000), False],
            }
        )
    with_alert = [i for i, plan in enumerate(plans) if plan["level"] is not None]
    counts = [round(holders * share) for share in (BELOW_UNTOLD_SHARE, BELOW_TOLD_SHARE, REARM_SHARE)]
    chosen = rng.sample(with_alert, sum(counts))
    untold, told, rearm = chosen[: counts[0]], chosen[counts[0] : counts[0] + counts[1]], chosen[sum(counts[:2]) :]
    for group, below, flagged in ((untold, True, False), (told, True, True), (rearm, False, True)):
        for i in group:
            plan = plans[i]
            kind = rng.choice(("main", "extra"))
            low = -3000 if kind == "main" else 0  # a little debt on main: still below the level
            balance = rng.randint(low, plan["level"] - 1) if below else plan["level"] + rng.randint(0, 5000)
            plan[kind] = [balance, flagged]
    return plans


def fill() -> dict[str, Any]:
    clock = Clock()
    django_setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from accounts.models import Institution, User
    from cards.models import Cardholder, Guardianship
    from payments.ledger import system_account
    from payments.models import LedgerAccount
    from payments.selectors import ledger_mismatches

    call_command("migrate", interactive=False, verbosity=0)
    clock.say(f"database {connection.settings_dict['NAME']} created and migrated")
    holders = HOLDERS
    rng = random.Random(SEED)
    plans = _plan(holders, rng)
    languages = [code for code, _weight in LANGUAGES]
    weights = [weight for _code, weight in LANGUAGES]
    with transaction.atomic(), ledger_trigger_off() as switched_off:
        schools = [
            Institution.objects.create(name=f"Bench School {n}", school_number=str(910 + n), canteen_provider="Bench")
            for n in range(SCHOOLS)
        ]
        people = [
            Cardholder(
                name=f"Pupil {i:06d}",
                institution_id=schools[i % SCHOOLS].pk,
                group=f"{i % 9 + 1}{'ABC'[i % 3]}",
                low_balance_alert_cents=plan["level"],
            )
            for i, plan in enumerate(plans)
        ]
        rows_copy(Cardholder, people)
        # Families of one to three children with one or two guardians.
        guardians: list[User] = []
        links: list[tuple[int, int]] = []  # (guardian index, holder index)
        i = 0
        while i < holders:
            size = rng.choice((1, 1, 2, 2, 2, 3))
            parents = [len(guardians)]
            guardians.append(User())
            if rng.random() < 0.5:
                parents.append(len(guardians))
                guardians.append(User())
            links += [(g, h) for g in parents for h in range(i, min(i + size, holders))]
            i += size
        for n, user in enumerate(guardians):
            user.email = f"guardian{n:06d}@bench.example"
            user.full_name = f"Guardian {n:06d}"
            user.password = "!"  # unusable: nobody signs in
            user.language = rng.choices(languages, weights)[0]
            user.is_active = rng.random() >= INACTIVE_GUARDIAN_SHARE
        rows_copy(User, guardians)
        rows_copy(Guardianship, [Guardianship(guardian_id=guardians[g].pk, holder_id=people[h].pk) for g, h in links])
        clock.say(f"{holders:,} cardholders, {len(guardians):,} guardians, {len(links):,} guardianships")
        accounts = []
        for i, (person, plan) in enumerate(zip(people, plans, strict=True)):
            floor = -schools[i % SCHOOLS].debt_limit_cents
            for kind in LedgerAccount.HOLDER_KINDS:
                balance, alerted = plan[kind.value]
                accounts.append(
                    LedgerAccount(
                        holder_id=person.pk,
                        kind=kind,
                        balance_cents=balance,
                        floor_cents=floor if kind == LedgerAccount.Kind.MAIN else 0,
                        low_balance_alerted=alerted,
                        alert_below_cents=plan["level"],
                        watch_below_cents=plan["level"],
                    )
                )
        rows_copy(LedgerAccount, accounts)
        corrections = system_account(kind=LedgerAccount.Kind.CORRECTIONS)
        # One opening transaction per non-zero balance (as `opening_balance_post` writes it), in SQL:
        # transaction ids are drawn first so that each account's two entries name its own transaction.
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TEMP TABLE bench_opening ON COMMIT DROP AS "
                "SELECT id AS account_id, balance_cents, "
                "nextval(pg_get_serial_sequence('payments_ledgertransaction', 'id')) AS txn_id "
                "FROM payments_ledgeraccount WHERE holder_id IS NOT NULL AND balance_cents <> 0"
            )
            cursor.execute(
                "INSERT INTO payments_ledgertransaction (id, kind, created_at, reason) "
                "SELECT txn_id, 'opening', now() - interval '30 days', 'Bench opening balance' FROM bench_opening"
            )
            openings = cursor.rowcount
            cursor.execute(
                "INSERT INTO payments_ledgerentry (transaction_id, account_id, amount_cents, balance_after_cents) "
                "SELECT txn_id, account_id, balance_cents, balance_cents FROM bench_opening "
                "UNION ALL SELECT txn_id, %s, -balance_cents, NULL FROM bench_opening",
                [corrections.pk],
            )
        clock.say(
            f"{len(accounts):,} accounts, {openings:,} opening transactions; committing"
            f" (ledger trigger {', '.join(switched_off)} off until then)"
        )
    clock.say("committed")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    clock.say("VACUUM ANALYZE done")
    mismatches = [str(m) for m in ledger_mismatches()]
    clock.say(f"ledger_mismatches(): {'clean' if not mismatches else f'{len(mismatches)} found: {mismatches[:3]}'}")
    if mismatches:
        raise RuntimeError(f"the bench ledger does not hold: {mismatches[:10]}")
    return {
        "ledger_mismatches": mismatches,
        "holders": holders,
        "guardians": len(guardians),
        "guardianships": len(links),
        "accounts": len(accounts),
        "opening_transactions": openings,
        "seconds": time.perf_counter() - clock.started,
    }


class DbTimer:
    """An execute_wrapper adding up the wall time spent waiting for the database driver."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - start


def _statement_kind(sql: str) -> str:
    if sql.startswith("UPDATE payments_ledgeraccount SET low_balance_alerted = FALSE WHERE low_balance_alerted"):
        return "re-arm UPDATE"
    if sql.startswith("UPDATE payments_ledgeraccount SET low_balance_alerted = TRUE"):
        return "flag UPDATE"
    if '"cards_guardianship"' in sql:
        return "guardian SELECT"
    if sql.startswith("UPDATE"):
        return "other UPDATE"
    return "other"


def _expected(cursor: Any) -> dict[str, Any]:
    """What the sweep should do, read from the data before it runs."""
    cursor.execute(
        "SELECT id FROM payments_ledgeraccount "
        "WHERE NOT low_balance_alerted AND alert_below_cents IS NOT NULL AND balance_cents < alert_below_cents"
    )
    to_flag = [row[0] for row in cursor.fetchall()]
    cursor.execute(
        "SELECT id FROM payments_ledgeraccount "
        "WHERE low_balance_alerted AND (alert_below_cents IS NULL OR balance_cents >= alert_below_cents)"
    )
    to_rearm = [row[0] for row in cursor.fetchall()]
    cursor.execute(
        "SELECT count(*) FROM payments_ledgeraccount a "
        "JOIN cards_guardianship g ON g.holder_id = a.holder_id "
        "JOIN accounts_user u ON u.id = g.guardian_id AND u.is_active WHERE a.id = ANY(%s)",
        [to_flag],
    )
    emails = cursor.fetchone()[0]
    return {"to_flag": to_flag, "to_rearm": to_rearm, "emails": emails}


def _sweep(sweep: Callable[[], tuple[int, int]]) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # Imported by name, as Django's get_connection() imports it (this file may also run as __main__).
    from bench.low_balance_sweep import MessageCountingBackend as backend

    backend.reset()
    timer = DbTimer()
    with CaptureQueriesContext(connection) as queries, connection.execute_wrapper(timer):
        start = time.perf_counter()
        cpu = time.process_time()
        rearmed, mailed = sweep()
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu
    kinds = Counter(_statement_kind(query["sql"]) for query in queries.captured_queries)
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "db_s": timer.seconds,
        "rearmed": rearmed,
        "mailed": mailed,
        "emails": backend.messages,
        "email_bytes": backend.bytes,
        "statements": len(queries.captured_queries),
        "statement_kinds": dict(kinds),
        "sql": [query["sql"][:300] for query in queries.captured_queries],
    }


def _warm_up() -> None:
    """What a long-running worker has already done: connected, compiled the templates, loaded the catalogs."""
    from django.conf import settings
    from django.db import connection
    from django.template.loader import render_to_string
    from django.utils import translation

    connection.ensure_connection()
    context = {"holder_name": "X", "balance_label": "Main", "balance_cents": 1, "level_cents": 2, "portal_url": "/"}
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            render_to_string("payments/email/low_balance_subject.txt", context)
            render_to_string("payments/email/low_balance_body.txt", context)


def _restore(cursor: Any, expected: dict[str, Any]) -> None:
    cursor.execute(
        "UPDATE payments_ledgeraccount SET low_balance_alerted = FALSE WHERE id = ANY(%s)", [expected["to_flag"]]
    )
    cursor.execute(
        "UPDATE payments_ledgeraccount SET low_balance_alerted = TRUE WHERE id = ANY(%s)", [expected["to_rearm"]]
    )
    cursor.execute("VACUUM ANALYZE payments_ledgeraccount")


def measure() -> dict[str, Any]:
    clock = Clock()
    django_setup()
    from django.db import connection
    from django.test.utils import override_settings

    from payments.alerts import low_balance_sweep

    repeats = REPEATS
    _warm_up()
    with connection.cursor() as cursor:
        expected = _expected(cursor)
        plans = {}
        for name, sql in (
            ("re-arm", "UPDATE payments_ledgeraccount SET low_balance_alerted = FALSE WHERE low_balance_alerted "
                       "AND (alert_below_cents IS NULL OR balance_cents >= alert_below_cents)"),
            ("flag", "UPDATE payments_ledgeraccount SET low_balance_alerted = TRUE WHERE NOT low_balance_alerted "
                     "AND alert_below_cents IS NOT NULL AND balance_cents < alert_below_cents "
                     "RETURNING id, holder_id, kind, balance_cents, alert_below_cents"),
        ):  # fmt: skip
            cursor.execute(f"EXPLAIN {sql}")
            plans[name] = [row[0] for row in cursor.fetchall()]
    clock.say(
        f"expected: {len(expected['to_flag']):,} accounts to mail ({expected['emails']:,} e-mails), "
        f"{len(expected['to_rearm']):,} to re-arm"
    )
    full: list[dict[str, Any]] = []
    idle: list[dict[str, Any]] = []
    with override_settings(EMAIL_BACKEND=f"bench.{NAME}.MessageCountingBackend"), CpuMeter() as meter:
        before = meter.snapshot()
        for n in range(repeats):
            if n:
                with connection.cursor() as cursor:
                    _restore(cursor, expected)
            result = _sweep(low_balance_sweep)
            full.append(result)
            clock.say(
                f"sweep {n + 1}: {result['wall_s']:.2f} s "
                f"(PostgreSQL {result['db_s']:.2f} s, CPU {result['cpu_s']:.2f} s), "
                f"{result['statements']} statements, re-armed {result['rearmed']:,}, mailed {result['mailed']:,}, "
                f"{result['emails']:,} e-mails"
            )
            problems = [
                f"{what} {got} != {want}"
                for what, got, want in (
                    ("re-armed", result["rearmed"], len(expected["to_rearm"])),
                    ("mailed", result["mailed"], len(expected["to_flag"])),
                    ("e-mails", result["emails"], expected["emails"]),
                )
                if got != want
            ]
            if problems:
                raise RuntimeError(f"the sweep did not do what the data says: {'; '.join(problems)}")
        for _n in range(IDLE_REPEATS):
            result = _sweep(low_balance_sweep)
            if result["mailed"] or result["rearmed"] or result["emails"]:
                raise RuntimeError(
                    f"a second sweep found work: {result['rearmed']} re-armed, {result['mailed']} mailed"
                )
            idle.append(result)
        clock.say(
            f"sweep with nothing to mail: {max(r['wall_s'] for r in idle) * 1000:.0f} ms slowest of {len(idle)}, "
            f"{idle[0]['statements']} statements"
        )
        cpu = cpu_use(before, meter.snapshot())
    clock.say(
        f"cores used during the sweeps: this process {cpu['client']:.2f}, PostgreSQL {cpu.get('postgres', 0):.2f}, "
        f"unrelated processes {cpu['other']:.2f}"
    )

    def summary(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
        first = results[0]
        return {
            "wall_s": [r["wall_s"] for r in results],
            "cpu_s": [r["cpu_s"] for r in results],
            "db_s": [r["db_s"] for r in results],
            "median_wall_s": statistics.median(r["wall_s"] for r in results),
            "rearmed": first["rearmed"],
            "mailed": first["mailed"],
            "emails": first["emails"],
            "email_bytes": first["email_bytes"],
            "statements": max(r["statements"] for r in results),
            "statement_kinds": first["statement_kinds"],
            "sql": first["sql"],
        }

    return {
        "expected": {k: len(v) if isinstance(v, list) else v for k, v in expected.items()},
        "explain": plans,
        "full": summary(full),
        "idle": summary(idle),
        "cpu": cpu,
    }


class MessageCountingBackend:
    """Builds every message as Django's SMTP backend does before it talks to a server, sends none."""

    messages = 0
    bytes = 0

    def __init__(self, fail_silently: bool = False, **kwargs: Any) -> None:
        self.fail_silently = fail_silently

    @classmethod
    def reset(cls) -> None:
        cls.messages = 0
        cls.bytes = 0

    def open(self) -> bool:
        return True

    def close(self) -> None:
        return None

    def __enter__(self) -> MessageCountingBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send_messages(self, email_messages: Sequence[Any]) -> int:
        cls = type(self)
        for message in email_messages:
            if not message.recipients():
                continue
            cls.bytes += len(message.message().as_bytes(linesep="\r\n"))
            cls.messages += 1
        return len(email_messages)


if __name__ == "__main__":
    if sys.argv[1:] == ["fill"]:
        print(RESULT_MARK + json.dumps(fill()))
    elif sys.argv[1:] == ["measure"]:
        print(RESULT_MARK + json.dumps(measure()))
    else:
        from bench.__main__ import main as bench_main

        sys.exit(bench_main([NAME]))
