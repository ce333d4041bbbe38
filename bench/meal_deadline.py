"""Meal deadline job: `canteen.meal_deadline.meal_day_close()` for 10,000 orders on one school day.

Issue target: "the deadline job for 10,000 orders (target under 10 s, memory flat)".

1. A fresh PostgreSQL database (`bench_meal_deadline`, dropped and recreated, migrated) is filled
   in bulk (bulk_create, and SQL for the opening balances):
   - "Bench School" with its meal rules (option 2 minimum 20, debt limit 150.00) and four price
     categories (25.00, 28.00, 1.00, 45.00); BENCH_MEAL_ORDERS (10,000) cardholders with a card
     each, of whom 15 % are subscribers without an order of their own (the job orders option 1 for
     them) and the rest ordered themselves, 1,500 of them option 2 (kept: above the minimum);
     300 more subscribers cancelled that day (a cancelled row: no meal). Balances: most pay from
     main, some from main and extra, 15 % are in debt already, 3 % reach the debt limit with this
     meal (their cards are debt-blocked), 4 % cannot pay (at the limit, or the meal would pass
     it: the order is marked unpaid). 3 % have an allergy note. Every non-zero balance has its
     own opening transaction, so the ledger holds.
   - "Bench School 2": 1,000 cardholders with orders on a small day (1,000 orders) and 100 of
     them on a warm-up day, to compare the memory of a day ten times smaller.
   Then VACUUM ANALYZE.
2. In a fresh process (as a Celery worker): the warm-up day is closed (imports, caches), then the
   1,000-order day, then the 10,000-order day, each timed: wall time (target under 10 s), of which
   waiting for PostgreSQL and the time of each step of the job; the SQL statements it made, by
   kind, and per order; the process's peak RSS during each close (VmHWM, reset before each by
   /proc/self/clear_refs) and its RSS after. "Memory flat": the 10,000-order day's peak grows the
   process by no more than the 1,000-order day's plus BENCH_MEAL_FLAT_MB (16 MB), i.e. memory
   does not grow with the number of orders. Then the job again on the closed day (nothing to do),
   and the kitchen e-mail of the day (counts, allergy list, PDF) as its Celery task would send it.
   The outcome must be what the data says (paid, unpaid, subscriptions, blocked cards), or the
   benchmark fails.
3. `payments.selectors.ledger_mismatches()` must be empty.

Environment: BENCH_DATABASE_URL (postgres://postgres@127.0.0.1:5432/), BENCH_MEAL_DB_NAME,
BENCH_MEAL_ORDERS (10000), BENCH_MEAL_FLAT_MB (16).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench import PROJECT_DIR, Row, machine_info, write_json
from bench._measure import Clock, Commits, Statements, django_setup, functions_timed, peak_reset, rss_mb
from bench._steps import database_recreate, database_url, step_run
from bench.lunch_rush.database import django_env

NAME = "meal_deadline"
DB_NAME = os.environ.get("BENCH_MEAL_DB_NAME") or "bench_meal_deadline"
ORDERS = int(os.environ.get("BENCH_MEAL_ORDERS") or 10_000)
FLAT_MB = float(os.environ.get("BENCH_MEAL_FLAT_MB") or 16)
TARGET_S = 10.0

SMALL_ORDERS = 1_000
WARMUP_ORDERS = 100
SUBSCRIBER_SHARE = 0.15
OPTION2_ORDERS = 1_500
CANCELLED_SUBSCRIBERS = 300
ALLERGY_SHARE = 0.03
DEBT_LIMIT = 15_000
# code, name, price, share of the cardholders
CATEGORIES = (
    ("grades-1-4", "Grades 1–4", 2500, 0.40),
    ("grades-5-9", "Grades 5–9", 2800, 0.45),
    ("low-income", "Low income", 100, 0.10),
    ("external", "External diners", 4500, 0.05),
)
BIG_DAY = dt.date(2026, 12, 8)
SMALL_DAY = dt.date(2026, 12, 8)
WARMUP_DAY = dt.date(2026, 12, 7)
PROFILE_DAY = dt.date(2026, 12, 9)
BATCH = 5000
SEED = 20261202


def run() -> list[Row]:
    started = time.perf_counter()
    database_recreate(DB_NAME)
    env = django_env(database_url(DB_NAME))
    env["BENCH_MEAL_ORDERS"] = str(ORDERS)
    fill = step_run(f"bench.{NAME}", "fill", env)
    measured = step_run(f"bench.{NAME}", "measure", env)
    results = {"orders": ORDERS, "fill": fill, **measured}
    rows = _rows(results)
    results["rows"] = [row.as_dict() for row in rows]
    results["machine"] = machine_info()
    path = write_json(NAME, results)
    print(f"  details: {path.relative_to(PROJECT_DIR)} (total {time.perf_counter() - started:.0f} s)")
    return rows


def _rows(results: dict[str, Any]) -> list[Row]:
    big, small, idle, kitchen = results["big"], results["small"], results["idle"], results["kitchen"]
    orders = big["paid"] + big["unpaid"]
    growth_big, growth_small = big["peak_growth_mb"], small["peak_growth_mb"]
    flat = growth_big <= growth_small + FLAT_MB
    # The kinds that matter (the rest summed): the label would not fit the table otherwise.
    main_kinds = {kind: n for kind, n in big["statement_kinds"].items() if n >= orders // 100}
    rest = big["statements"] - sum(main_kinds.values())
    kinds = ", ".join([*(f"{n:,} {kind}" for kind, n in main_kinds.items()), f"{rest:,} other"])
    parts = ", ".join(
        f"{step.strip()} {seconds:.2f} s" for step, seconds in big["steps"].items() if step.startswith(" ")
    )
    steps = ", ".join(
        f"{step} {seconds:.2f} s" + (f" ({parts})" if step == "binding and paying" else "")
        for step, seconds in big["steps"].items()
        if not step.startswith(" ")
    )
    return [
        Row(
            NAME,
            f"deadline job, {orders:,} orders on one day ({big['paid']:,} paid, {big['unpaid']:,} unpaid, "
            f"{big['subscriptions']:,} by subscription)",
            big["wall_s"],
            "s",
            f"< {TARGET_S:.0f} s",
            ratio=big["wall_s"] / TARGET_S,
            met=big["wall_s"] < TARGET_S,
        ),
        Row(NAME, "  of which waiting for PostgreSQL", big["db_s"], "s"),
        Row(
            NAME,
            f"  of which committing ({big['commits']} transactions: deferred ledger triggers)",
            big["commit_s"],
            "s",
        ),
        Row(NAME, "  of which CPU in this process", big["cpu_s"], "s"),
        Row(NAME, f"  by step: {steps}", None),
        Row(NAME, f"  SQL statements ({kinds})", big["statements"], "statements"),
        Row(NAME, "  SQL statements per order", big["statements"] / max(orders, 1), "statements"),
        Row(NAME, "  time per order", big["wall_s"] / max(orders, 1) * 1000, "ms"),
        Row(
            NAME,
            f"  load average (1 min) before / after the close, on {os.cpu_count()} cores",
            f"{big['load_before']:.2f} / {big['load_after']:.2f}",
        ),
        Row(NAME, f"{small['paid'] + small['unpaid']:,}-order day, for comparison", small["wall_s"], "s"),
        Row(
            NAME,
            f"peak RSS growth during the close: {orders:,} orders (vs {small['paid'] + small['unpaid']:,}: "
            f"{growth_small:.1f} MB)",
            growth_big,
            "MB",
            f"flat: ≤ {growth_small:.1f} + {FLAT_MB:.0f} MB",
            met=flat,
        ),
        Row(NAME, "  RSS after the 10,000-order close (process total)", big["rss_after_mb"], "MB"),
        Row(NAME, "  Python objects still alive after the close (gc)", big["gc_objects_growth"]),
        Row(NAME, "deadline job again on the closed day (nothing to do)", idle["wall_s"], "s"),
        Row(NAME, "  SQL statements, nothing to do", idle["statements"], "statements"),
        Row(
            NAME,
            f"kitchen e-mail of the day (counts, {kitchen['allergies']} allergy lines, PDF of "
            f"{kitchen['pdf_bytes'] // 1024} KiB)",
            kitchen["wall_s"],
            "s",
        ),
        Row(
            NAME,
            "ledger_mismatches() after the runs",
            "clean" if not results["ledger_mismatches"] else f"{len(results['ledger_mismatches'])} found",
            "",
            "clean",
            met=not results["ledger_mismatches"],
        ),
    ]


# --- inside the Django process ------------------------------------------------------------------


def _balances(rng: random.Random, price: int) -> tuple[int, int]:
    """(main, extra) of one cardholder, drawn so that each way of paying a meal occurs."""
    draw = rng.random()
    if draw < 0.60:  # main pays
        return price + rng.randint(0, 50_000), rng.randint(0, 20_000)
    if draw < 0.72:  # main, then extra
        part = rng.randint(1, price - 1) if price > 1 else 0
        return part, price - part + rng.randint(0, 5_000)
    if draw < 0.78:  # both empty: the meal is a new debt
        return 0, 0
    if draw < 0.93:  # in debt already, the meal adds to it within the limit
        return -rng.randint(1, DEBT_LIMIT - price), 0
    if draw < 0.96:  # the meal takes main exactly to the limit: the cards are debt-blocked
        return -(DEBT_LIMIT - price), 0
    if draw < 0.98:  # the meal would pass the limit: unpaid
        return -(DEBT_LIMIT - price) - rng.randint(1, price) if price > 1 else -DEBT_LIMIT, 0
    return -DEBT_LIMIT, 0  # at the limit already: unpaid


def fill() -> dict[str, Any]:
    clock = Clock()
    django_setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from accounts.models import Institution
    from canteen.models import MealOrder, MealPolicy, MealPrice, MealSubscription, SchoolDay
    from cards.models import Card, Cardholder, PriceCategory
    from payments.ledger import system_account
    from payments.models import LedgerAccount

    call_command("migrate", interactive=False, verbosity=0)
    clock.say(f"database {connection.settings_dict['NAME']} created and migrated")
    orders = int(os.environ.get("BENCH_MEAL_ORDERS") or ORDERS)
    rng = random.Random(SEED)
    with transaction.atomic():
        school, school2 = (
            Institution.objects.create(
                name=name, school_number=number, time_zone="Europe/Copenhagen", debt_limit_cents=DEBT_LIMIT
            )
            for name, number in (("Bench School", "901"), ("Bench School 2", "902"))
        )
        for institution in (school, school2):
            MealPolicy.objects.create(institution=institution, option2_minimum=20, kitchen_email="")
        categories = []
        for code, name, price, share in CATEGORIES:
            category = PriceCategory.objects.create(code=code, name=name)
            categories.append((category, price, share))
            for institution in (school, school2):
                MealPrice.objects.create(institution=institution, price_category=category, price_cents=price)
        weights = [share for _c, _p, share in categories]

        subscribers = round(orders * SUBSCRIBER_SHARE)
        own_orders = orders - subscribers
        people: list[tuple[Institution, int]] = (
            [(school, n) for n in range(orders + CANCELLED_SUBSCRIBERS)] + [(school2, n) for n in range(SMALL_ORDERS)]
        )  # fmt: skip
        plans = []
        holders = []
        for institution, n in people:
            category, price, _share = rng.choices(categories, weights)[0]
            plans.append(_balances(rng, price))
            holders.append(
                Cardholder(
                    name=f"Pupil {institution.school_number}-{n:06d}",
                    institution=institution,
                    group=f"{n % 9 + 1}{'ABCD'[n % 4]}",
                    price_category=category,
                    allergy_note=rng.choice(("Nuts", "Gluten", "Lactose", "Vegetarian", "Fish"))
                    if rng.random() < ALLERGY_SHARE
                    else "",
                )
            )
        holders = Cardholder.objects.bulk_create(holders, batch_size=BATCH)
        Card.objects.bulk_create(
            [Card(uid=f"04{i:012X}", number=f"{700000 + i}", holder=holder) for i, holder in enumerate(holders)],
            batch_size=BATCH,
        )
        accounts = []
        for holder, (main, extra) in zip(holders, plans, strict=True):
            accounts.append(
                LedgerAccount(holder=holder, kind=LedgerAccount.Kind.MAIN, balance_cents=main, floor_cents=-DEBT_LIMIT)
            )
            accounts.append(LedgerAccount(holder=holder, kind=LedgerAccount.Kind.EXTRA, balance_cents=extra))
        LedgerAccount.objects.bulk_create(accounts, batch_size=BATCH)
        corrections = system_account(kind=LedgerAccount.Kind.CORRECTIONS)
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
        clock.say(f"{len(holders):,} cardholders with cards, {len(accounts):,} accounts, {openings:,} openings")

        menu = {"option1": "Meatballs with potatoes", "option2": "Vegetable lasagne"}
        big = SchoolDay.objects.create(institution=school, date=BIG_DAY, **menu)
        small = SchoolDay.objects.create(institution=school2, date=SMALL_DAY, **menu)
        warmup = SchoolDay.objects.create(institution=school2, date=WARMUP_DAY, **menu)
        profiled = SchoolDay.objects.create(institution=school2, date=PROFILE_DAY, **menu)
        at_school = holders[: orders + CANCELLED_SUBSCRIBERS]
        at_school2 = holders[orders + CANCELLED_SUBSCRIBERS :]
        option2 = set(rng.sample(range(own_orders), min(OPTION2_ORDERS, own_orders)))
        rows = [
            MealOrder(holder=holder, school_day=big, option=2 if i in option2 else 1, source=MealOrder.Source.GUARDIAN)
            for i, holder in enumerate(at_school[:own_orders])
        ]
        MealSubscription.objects.bulk_create(
            [MealSubscription(holder=holder) for holder in at_school[own_orders:]], batch_size=BATCH
        )
        rows += [
            MealOrder(
                holder=holder, school_day=big, status=MealOrder.Status.CANCELLED, source=MealOrder.Source.GUARDIAN
            )
            for holder in at_school[orders:]
        ]
        rows += [
            MealOrder(holder=holder, school_day=small, option=1 + i % 2, source=MealOrder.Source.GUARDIAN)
            for i, holder in enumerate(at_school2)
        ]
        rows += [
            MealOrder(holder=holder, school_day=warmup, option=1, source=MealOrder.Source.GUARDIAN)
            for holder in at_school2[:WARMUP_ORDERS]
        ]
        rows += [
            MealOrder(holder=holder, school_day=profiled, option=1, source=MealOrder.Source.GUARDIAN)
            for holder in at_school2
        ]
        MealOrder.objects.bulk_create(rows, batch_size=BATCH)
        clock.say(
            f"big day: {own_orders:,} own orders ({len(option2):,} option 2), {subscribers:,} subscribers without "
            f"an order, {CANCELLED_SUBSCRIBERS} cancelled; small day {len(at_school2):,}, warm-up {WARMUP_ORDERS}"
        )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    clock.say("VACUUM ANALYZE done")
    return {
        "holders": len(holders),
        "accounts": len(accounts),
        "opening_transactions": openings,
        "big_day": big.pk,
        "small_day": small.pk,
        "warmup_day": warmup.pk,
        "profile_day": profiled.pk,
        "seconds": time.perf_counter() - clock.started,
    }


def _statement_kind(sql: str) -> str:
    head = sql.lstrip()[:200]
    verb = head.split(" ", 1)[0].upper()
    if verb == "SELECT":
        if "FOR UPDATE" in sql:
            table = "meal orders" if '"canteen_mealorder"' in head else "accounts"
            return f"SELECT {table} FOR UPDATE"
        return "other SELECT"
    for table, label in (
        ("payments_ledgertransaction", "ledger transaction"),
        ("payments_ledgerentry", "ledger entries"),
        ("payments_ledgeraccount", "balance"),
        ("canteen_mealorder", "meal orders"),
        ("cards_card", "cards (debt block)"),
        ("canteen_schoolday", "school day"),
    ):
        if table in head:
            return f"{verb} {label}"
    return f"other {verb}"


def _profile(day_id: int) -> dict[str, Any]:
    """A cProfile of closing a 1,000-order day: where the Python time goes."""
    import cProfile
    import pstats

    from canteen.meal_deadline import meal_day_close
    from canteen.models import SchoolDay

    day = SchoolDay.objects.select_related("institution").get(pk=day_id)
    profiler = cProfile.Profile()
    profiler.enable()
    meal_day_close(school_day=day)
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    entries = stats.stats  # type: ignore[attr-defined]

    def label(key: tuple[str, int, str]) -> str:
        filename, line, function = key
        for marker in ("site-packages/", "/main/"):
            if marker in filename:
                filename = filename.split(marker, 1)[1]
        return f"{filename}:{line}({function})"

    by_own = sorted(entries.items(), key=lambda item: item[1][2], reverse=True)[:25]
    by_cumulative = sorted(entries.items(), key=lambda item: item[1][3], reverse=True)[:40]
    return {
        "total_s": total,
        "own_time": [(label(key), calls, round(own, 4)) for key, (_cc, calls, own, _cum, _callers) in by_own],
        "cumulative": [(label(key), calls, round(cum, 4)) for key, (_cc, calls, _own, cum, _callers) in by_cumulative],
    }


@contextmanager
def _steps_timed(timings: dict[str, float]) -> Iterator[None]:
    """Time each step of the job, and the parts of its binding step, by wrapping their functions
    for the duration (read-only: the job itself is unchanged)."""
    import canteen.meal_deadline as job

    # (owner, attribute, label); the parts ("  ...") are inside "binding and paying".
    targets: list[tuple[Any, str, str]] = [
        (job, "_subscriptions_order", "subscriptions"),
        (job, "_option2_minimum_apply", "option 2 rule"),
        (job, "_orders_bind", "binding and paying"),
        (job, "holders_accounts_lock", "  locking the accounts"),
        (job, "meal_legs", "  judging each meal (main, extra, debt)"),
        (job, "movements_post_batch", "  ledger writes, a batch per chunk"),
        (job, "_kitchen_notify", "kitchen task queued"),
    ]
    with functions_timed(targets, timings):
        yield


def _close(day_id: int) -> dict[str, Any]:
    import gc

    from django.db import connection

    from canteen.meal_deadline import meal_day_close
    from canteen.models import SchoolDay

    day = SchoolDay.objects.select_related("institution").get(pk=day_id)
    gc.collect()
    objects_before = len(gc.get_objects())
    rss_before, _peak = rss_mb()
    load_before = os.getloadavg()[0]
    peak_reset()
    statements = Statements(_statement_kind)
    steps: dict[str, float] = {}
    commits = Commits(connection)
    with connection.execute_wrapper(statements), _steps_timed(steps), commits:
        start = time.perf_counter()
        cpu = time.process_time()
        result = meal_day_close(school_day=day)
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu
    rss_after, peak = rss_mb()
    load_after = os.getloadavg()[0]
    gc.collect()
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "db_s": statements.seconds,
        "commit_s": commits.seconds,
        "commits": commits.count,
        "steps": steps,
        "statements": sum(statements.kinds.values()),
        "statement_kinds": dict(statements.kinds.most_common()),
        "statement_ms": {
            kind: round(statements.kind_seconds[kind] / n * 1000, 3) for kind, n in statements.kinds.most_common()
        },
        "paid": result.paid,
        "unpaid": result.unpaid,
        "subscriptions": result.subscriptions,
        "moved_to_option1": len(result.moved_to_option1),
        "rss_before_mb": rss_before,
        "rss_after_mb": rss_after,
        "peak_mb": peak,
        "peak_growth_mb": peak - rss_before,
        "gc_objects_growth": len(gc.get_objects()) - objects_before,
        "load_before": load_before,
        "load_after": load_after,
    }


def _expected(day_id: int) -> dict[str, int]:
    """What closing the day must do, from the data before it runs (the same rule as meal_split)."""
    from canteen.models import MealOrder, MealPrice, MealSubscription, SchoolDay
    from payments.models import LedgerAccount

    day = SchoolDay.objects.get(pk=day_id)
    prices = dict(
        MealPrice.objects.filter(institution_id=day.institution_id).values_list("price_category_id", "price_cents")
    )
    ordering = set(
        MealOrder.objects.filter(school_day=day, status=MealOrder.Status.ORDERED).values_list("holder_id", flat=True)
    )
    with_row = set(MealOrder.objects.filter(school_day=day).values_list("holder_id", flat=True))
    subscribed = set(
        MealSubscription.objects.filter(holder__institution_id=day.institution_id).values_list("holder_id", flat=True)
    )
    eating = ordering | (subscribed - with_row)
    balances: dict[int, dict[str, tuple[int, int]]] = {}
    for holder_id, kind, balance, floor in LedgerAccount.objects.filter(holder_id__in=eating).values_list(
        "holder_id", "kind", "balance_cents", "floor_cents"
    ):
        balances.setdefault(holder_id, {})[kind] = (balance, floor)
    categories = dict(
        LedgerAccount.objects.filter(holder_id__in=eating, kind="main").values_list(
            "holder_id", "holder__price_category_id"
        )
    )
    paid = unpaid = blocked = 0
    for holder_id in eating:
        (main, floor), (extra, _zero) = balances[holder_id]["main"], balances[holder_id]["extra"]
        price = prices[categories[holder_id]]
        from_main = min(price, max(0, main))
        from_extra = min(price - from_main, max(0, extra))
        after = main - from_main - (price - from_main - from_extra)
        if main <= floor or after < floor:
            unpaid += 1
        else:
            paid += 1
            blocked += after <= floor
    return {"paid": paid, "unpaid": unpaid, "subscriptions": len(subscribed - with_row), "blocked": blocked}


def _warm_up() -> None:
    """What a long-running worker has already done: connected, loaded the catalogs, imported WeasyPrint."""
    from django.db import connection
    from django.utils.translation import gettext

    connection.ensure_connection()
    gettext("Meal %(date)s")
    import weasyprint  # noqa: F401


def measure() -> dict[str, Any]:
    clock = Clock()
    django_setup()
    from django.core import mail
    from django.test.utils import override_settings

    from accounts.models import Institution
    from canteen.kitchen import kitchen_day_counts, kitchen_day_mail
    from canteen.models import MealOrder, MealPolicy, SchoolDay
    from cards.models import Card
    from payments.selectors import ledger_mismatches

    _warm_up()
    school = Institution.objects.get(name="Bench School")
    big_id = SchoolDay.objects.get(institution=school, date=BIG_DAY).pk
    school2 = Institution.objects.get(name="Bench School 2")
    small_id = SchoolDay.objects.get(institution=school2, date=SMALL_DAY).pk
    warmup_id = SchoolDay.objects.get(institution=school2, date=WARMUP_DAY).pk
    expected = _expected(big_id)
    clock.say(f"expected for the big day: {expected}")
    from canteen.meal_deadline import CHUNK

    out: dict[str, Any] = {"expected": expected, "chunk": CHUNK}
    with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
        mail.outbox = []
        out["warmup"] = _close(warmup_id)
        clock.say(f"warm-up day: {out['warmup']['wall_s']:.2f} s")
        out["small"] = _close(small_id)
        clock.say(
            f"small day: {out['small']['wall_s']:.2f} s, {out['small']['statements']} statements, "
            f"peak +{out['small']['peak_growth_mb']:.1f} MB"
        )
        out["big"] = big = _close(big_id)
        clock.say(
            f"big day: {big['wall_s']:.2f} s (PostgreSQL {big['db_s']:.2f} s, CPU {big['cpu_s']:.2f} s), "
            f"{big['statements']:,} statements, paid {big['paid']:,}, unpaid {big['unpaid']:,}, "
            f"subscriptions {big['subscriptions']:,}, peak +{big['peak_growth_mb']:.1f} MB; steps {big['steps']}"
        )
        blocked = Card.objects.filter(holder__institution=school, status=Card.Status.DEBT_BLOCKED).count()
        still_open = MealOrder.objects.filter(school_day_id=big_id, status=MealOrder.Status.ORDERED).count()
        problems = [
            f"{what} {got} != {want}"
            for what, got, want in (
                ("paid", big["paid"], expected["paid"]),
                ("unpaid", big["unpaid"], expected["unpaid"]),
                ("subscriptions", big["subscriptions"], expected["subscriptions"]),
                ("debt-blocked cards", blocked, expected["blocked"]),
                ("orders still open", still_open, 0),
                ("moved to option 1", big["moved_to_option1"], 0),
            )
            if got != want
        ]
        if problems:
            raise RuntimeError(f"the job did not do what the data says: {'; '.join(problems)}")
        out["idle"] = idle = _close(big_id)
        if idle["paid"] or idle["unpaid"] or idle["subscriptions"]:
            raise RuntimeError(f"a second run found work: {idle}")
        clock.say(f"again, nothing to do: {idle['wall_s'] * 1000:.0f} ms, {idle['statements']} statements")

        MealPolicy.objects.filter(institution=school).update(kitchen_email="kitchen@bench.example")
        start = time.perf_counter()
        sent = kitchen_day_mail(school_day_id=big_id)
        kitchen_wall = time.perf_counter() - start
        message = mail.outbox[-1] if mail.outbox else None
        if not sent or message is None or message.to != ["kitchen@bench.example"]:
            raise RuntimeError("the kitchen e-mail was not sent")
        counts = kitchen_day_counts(school_day=SchoolDay.objects.get(pk=big_id))
        if counts.totals.total != big["paid"] or counts.unpaid.total != big["unpaid"]:
            raise RuntimeError(f"kitchen counts {counts.totals.total}/{counts.unpaid.total} != the job's")
        out["kitchen"] = {
            "wall_s": kitchen_wall,
            "pdf_bytes": len(message.attachments[0][1]),
            "allergies": len(counts.allergies),
            "meals": counts.totals.total,
        }
        clock.say(f"kitchen e-mail: {kitchen_wall:.2f} s, {len(counts.allergies)} allergy lines")
    out["profile"] = _profile(SchoolDay.objects.get(institution=school2, date=PROFILE_DAY).pk)
    clock.say(f"profiled a 1,000-order day: {out['profile']['total_s']:.2f} s under cProfile")
    mismatches = [str(m) for m in ledger_mismatches()]
    clock.say(f"ledger_mismatches(): {'clean' if not mismatches else f'{len(mismatches)} found'}")
    out["ledger_mismatches"] = mismatches[:50]
    return out


if __name__ == "__main__":
    if sys.argv[1:] == ["fill"]:
        print(json.dumps(fill()))
    elif sys.argv[1:] == ["measure"]:
        print(json.dumps(measure(), default=str))
    else:
        from bench.__main__ import main as bench_main

        sys.exit(bench_main([NAME]))
