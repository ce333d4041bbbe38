"""Guardian pages: the portal's overview and history, and the guardian API, with 10,000 transactions.

DESIGN.md: "Guardian pages and history with 10,000 transactions: under 100 ms (indexes, pagination)."

1. A fresh PostgreSQL database (`bench_guardian_pages`, dropped and recreated, migrated), filled:
   - one school with a buffet (eight products, two tills);
   - one guardian with two cardholders, each with a card: the first with BENCH_PAGES_TRANSACTIONS
     (10,000) ledger transactions over the last year, the second with 300: card purchases from the
     extra balance with one to three sale lines, organised meals from the main balance, and a top-up
     of whichever balance runs short, in time order, so no balance goes below its floor and every
     entry's `balance_after_cents` is right; the last two movements are today's. Written with COPY in
     time order (transaction ids follow time within each account, as `holder_balances_before`
     relies on);
   - BENCH_PAGES_OTHERS (2,000) other cardholders with BENCH_PAGES_BACKGROUND (100,000) purchases
     between them, written in SQL, so that the guardian's rows are a few percent of each table and
     the queries must find them through indexes;
   - then VACUUM ANALYZE; `payments.selectors.ledger_mismatches()` must be empty, or the benchmark
     fails (it stands in for the ledger's deferred trigger, off while the rows go in:
     `bench.low_balance_sweep.ledger_trigger_off`).
2. In a fresh process, through `django.test.Client` signed in with `force_login` (the whole WSGI
   handler and middleware stack, DEBUG off, one request at a time; no HTTP server, so add ~1 ms for
   gunicorn and the network): the overview, the history (first page and page 150, without and with
   a date filter of one quarter), the API's holder list and transactions (first page and page 150).
   Each is requested 3 times to warm up, then BENCH_PAGES_REQUESTS (100) times, the pages taking
   turns: server time per request, p50 and p99 (target: p99 < 100 ms), and the time spent waiting
   for PostgreSQL. The whole history as CSV (it streams everything; twice) and last month's
   statement PDF (once) are timed with no target. For each page, the SQL statements of one request
   (CaptureQueriesContext) and the plan of the slowest (EXPLAIN ANALYZE) go to the JSON details.

Environment: BENCH_DATABASE_URL (postgres://postgres@127.0.0.1:5432/), BENCH_PAGES_DB_NAME,
BENCH_PAGES_TRANSACTIONS (10000), BENCH_PAGES_OTHERS (2000), BENCH_PAGES_BACKGROUND (100000),
BENCH_PAGES_REQUESTS (100).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import statistics
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from bench import PROJECT_DIR, Row, machine_info, write_json
from bench._steps import database_recreate, database_url
from bench.low_balance_sweep import (
    RESULT_MARK,
    Clock,
    DbTimer,
    child_run,
    django_setup,
    ledger_trigger_off,
    rows_copy,
)
from bench.lunch_rush.cpu import CpuMeter, cpu_use
from bench.lunch_rush.database import django_env
from bench.lunch_rush.measure import percentile
from bench.lunch_rush.settings import BUSY_OTHER_CORES

NAME = "guardian_pages"
DB_NAME = os.environ.get("BENCH_PAGES_DB_NAME") or "bench_guardian_pages"
TRANSACTIONS = int(os.environ.get("BENCH_PAGES_TRANSACTIONS") or 10_000)
SECOND_HOLDER_TRANSACTIONS = 300
OTHERS = int(os.environ.get("BENCH_PAGES_OTHERS") or 2_000)
BACKGROUND = int(os.environ.get("BENCH_PAGES_BACKGROUND") or 100_000)
REQUESTS = max(1, int(os.environ.get("BENCH_PAGES_REQUESTS") or 100))
WARMUP = 3
# The CSV and the PDF take seconds each: timed this many times, with no warm-up request.
CSV_REQUESTS = 2
PDF_REQUESTS = 1
TARGET_P99_MS = 100.0
HISTORY_PAGE_SIZE = 50  # payments.views.HISTORY_PAGE_SIZE and payments.apis.PAGE_SIZE

PRODUCTS = [
    ("food", "Sandwich", 2500),
    ("food", "Pasta salad", 3200),
    ("food", "Soup", 2200),
    ("drinks", "Milk", 500),
    ("drinks", "Juice", 800),
    ("fruit", "Apple", 400),
    ("fruit", "Banana", 400),
    ("sweets", "Muffin", 1500),
]
MEAL_CENTS = 1500
TILLS = ("Till 1", "Till 2")
SEED = 20261122


def run() -> list[Row]:
    started = time.perf_counter()
    database_recreate(DB_NAME)
    env = django_env(database_url(DB_NAME))
    fill = child_run(f"bench.{NAME}", "fill", env)
    measured = child_run(f"bench.{NAME}", "measure", env)
    results: dict[str, Any] = {"fill": fill, **measured}
    rows = _rows(results)
    results["rows"] = [row.as_dict() for row in rows]
    results["machine"] = machine_info()
    path = write_json(NAME, results)
    print(f"  details: {path.relative_to(PROJECT_DIR)} (total {time.perf_counter() - started:.0f} s)")
    return rows


def _rows(results: dict[str, Any]) -> list[Row]:
    rows = []
    for page in results["pages"]:
        label = f"{page['label']} ({page['statements']} SQL)"
        if page["target"]:
            rows.append(Row(NAME, f"{label} p50", page["p50_ms"], "ms"))
            rows.append(
                Row(
                    NAME,
                    f"{page['label']} p99",
                    page["p99_ms"],
                    "ms",
                    f"< {TARGET_P99_MS:.0f} ms",
                    ratio=page["p99_ms"] / TARGET_P99_MS,
                    met=page["p99_ms"] < TARGET_P99_MS,
                )
            )
        else:
            times = "one request" if len(page["ms"]) == 1 else f"slowest of {len(page['ms'])}"
            rows.append(Row(NAME, f"{label}, {times}", page["max_ms"], "ms"))
    other = results["cpu"]["other"]
    rows.append(
        Row(
            NAME,
            "unrelated processes' CPU while timing",
            other,
            "cores",
            f"< {BUSY_OTHER_CORES} (else figures are high)",
            met=other < BUSY_OTHER_CORES,
        )
    )
    mismatches = results["fill"]["ledger_mismatches"]
    rows.append(
        Row(
            NAME,
            "ledger_mismatches() after the fill",
            "clean" if not mismatches else f"{len(mismatches)} found",
            "",
            "clean",
            met=not mismatches,
        )
    )
    return rows


# --- inside the Django process ------------------------------------------------------------------


@dataclass
class Event:
    """One ledger transaction of a cardholder, before it is written."""

    at: dt.datetime
    kind: str  # "sale", "meal" or "topup" (LedgerTransaction.Kind values)
    main: int = 0  # what it does to the main balance
    extra: int = 0
    main_after: int = 0
    extra_after: int = 0
    lines: list[tuple[int, int]] = field(default_factory=list)  # (product index, quantity)
    place: str = ""


def _moments(rng: random.Random, count: int, now: dt.datetime, zone: ZoneInfo) -> list[dt.datetime]:
    """`count` moments on the school days of the last year, 07:30–15:00 local time, the last two today."""
    today = now.astimezone(zone).date()
    days = [today - dt.timedelta(days=n) for n in range(1, 366)]
    school_days = [day for day in days if day.weekday() < 5]
    moments = []
    for _n in range(count - 2):
        minute = rng.randint(7 * 60 + 30, 15 * 60)
        at = dt.time(minute // 60, minute % 60, rng.randint(0, 59))
        moments.append(dt.datetime.combine(rng.choice(school_days), at, zone))
    return [*sorted(moments), now - dt.timedelta(minutes=20), now - dt.timedelta(minutes=10)]


def _history(rng: random.Random, count: int, now: dt.datetime, zone: ZoneInfo) -> list[Event]:
    """A cardholder's year, in time order: purchases and meals, and a top-up whenever money runs short."""
    main = extra = 0
    events = []
    for at in _moments(rng, count, now, zone):
        if rng.random() < 0.08:
            event = Event(at, "meal", main=-MEAL_CENTS)
        else:
            lines = [(rng.randrange(len(PRODUCTS)), rng.choice((1, 1, 1, 2))) for _n in range(rng.randint(1, 3))]
            total = sum(PRODUCTS[p][2] * q for p, q in lines)
            event = Event(at, "sale", extra=-total, lines=lines, place=rng.choice(TILLS))
        if main + event.main < 0 or extra + event.extra < 0:
            # This moment is the guardian's top-up instead, of whichever balance runs low (a purchase is
            # at most 192.00, a meal 15.00).
            event = Event(
                at,
                "topup",
                main=rng.choice((10000, 20000)) if main < 5000 else 0,
                extra=rng.choice((20000, 30000, 50000)) if extra < 20000 else 0,
            )
        main += event.main
        extra += event.extra
        event.main_after, event.extra_after = main, extra
        events.append(event)
    return events


def _fill_guardian(*, rng: random.Random, now: dt.datetime) -> dict[str, Any]:
    """The guardian, the two cardholders and their histories (COPY, `rows_copy`)."""
    from accounts.models import Institution, User
    from canteen.models import Product, ProductCategory, Sale, SaleLine
    from cards.models import Card, Cardholder, Guardianship
    from payments.ledger import holder_accounts_open, system_account
    from payments.models import LedgerAccount, LedgerEntry, LedgerTransaction

    school = Institution.objects.create(
        name="Bench School", school_number="920", kind=Institution.Kind.SCHOOL, canteen_provider="Bench Kantine"
    )
    categories = {
        code: ProductCategory.objects.create(institution=school, code=code, name=code.title())
        for code in sorted({code for code, _name, _price in PRODUCTS})
    }
    products = [
        Product.objects.create(institution=school, category=categories[code], name=name, price_cents=price, position=n)
        for n, (code, name, price) in enumerate(PRODUCTS)
    ]
    guardian = User.objects.create(email="guardian@bench.example", full_name="Bench Guardian", password="!")
    holders = [
        Cardholder.objects.create(name=name, institution=school, group=group, low_balance_alert_cents=5000)
        for name, group in (("Astrid Bench", "7B"), ("Bo Bench", "3A"))
    ]
    cards = []
    for n, holder in enumerate(holders):
        Guardianship.objects.create(guardian=guardian, holder=holder)
        holder_accounts_open(holder=holder)
        cards.append(
            Card.objects.create(uid=f"04B0{n:010X}", number=f"70{n:04d}", holder=holder, daily_limit_cents=8000)
        )
    Card.objects.create(
        uid="04B0FFFFFFFFFF", number="709999", holder=holders[0], status=Card.Status.REPLACED, status_reason="Lost"
    )
    accounts = {(a.holder_id, a.kind): a for a in LedgerAccount.objects.filter(holder__in=holders)}
    revenue = system_account(kind=LedgerAccount.Kind.REVENUE, institution=school)
    clearing = system_account(kind=LedgerAccount.Kind.PROVIDER_CLEARING)
    system_account(kind=LedgerAccount.Kind.CORRECTIONS)

    zone = school.zone
    merged = [
        (event, n)
        for n, count in enumerate((TRANSACTIONS, SECOND_HOLDER_TRANSACTIONS))
        for event in _history(rng, count, now, zone)
    ]
    merged.sort(key=lambda pair: pair[0].at)  # ids follow time, as when the tills wrote them
    txns = [
        LedgerTransaction(
            kind=event.kind,
            created_at=event.at,
            institution=None if event.kind == "topup" else school,
            created_by=guardian if event.kind == "topup" else None,
            reason="Top-up (bench)" if event.kind == "topup" else "",
        )
        for event, _n in merged
    ]
    rows_copy(LedgerTransaction, txns)
    entries: list[LedgerEntry] = []
    sales: list[Sale] = []
    sale_lines: list[list[tuple[int, int]]] = []
    for txn, (event, n) in zip(txns, merged, strict=True):
        holder = holders[n]
        main, extra = accounts[(holder.pk, "main")], accounts[(holder.pk, "extra")]
        if event.main:
            entries.append(
                LedgerEntry(
                    transaction=txn, account=main, amount_cents=event.main, balance_after_cents=event.main_after
                )
            )
        if event.extra:
            entries.append(
                LedgerEntry(
                    transaction=txn, account=extra, amount_cents=event.extra, balance_after_cents=event.extra_after
                )
            )
        other = clearing if event.kind == "topup" else revenue
        entries.append(LedgerEntry(transaction=txn, account=other, amount_cents=-(event.main + event.extra)))
        if event.kind == "sale":
            sales.append(
                Sale(
                    institution=school,
                    place=event.place,
                    card=cards[n],
                    holder=holder,
                    payment=Sale.Payment.CARD,
                    total_cents=-event.extra,
                    extra_after_cents=event.extra_after,
                    main_after_cents=event.main_after,
                    ledger_transaction=txn,
                    created_at=event.at,
                )
            )
            sale_lines.append(event.lines)
    rows_copy(LedgerEntry, entries)
    rows_copy(Sale, sales)
    rows_copy(
        SaleLine,
        [
            SaleLine(
                sale=sale,
                product=products[p],
                name=products[p].name,
                unit_price_cents=products[p].price_cents,
                quantity=q,
            )
            for sale, lines in zip(sales, sale_lines, strict=True)
            for p, q in lines
        ],
    )
    for n, holder in enumerate(holders):
        last = [event for event, m in merged if m == n][-1]
        LedgerAccount.objects.filter(pk=accounts[(holder.pk, "main")].pk).update(balance_cents=last.main_after)
        LedgerAccount.objects.filter(pk=accounts[(holder.pk, "extra")].pk).update(balance_cents=last.extra_after)
    return {
        "guardian_id": guardian.pk,
        "holder_ids": [h.pk for h in holders],
        "institution_id": school.pk,
        "transactions": [sum(1 for _e, m in merged if m == n) for n in range(len(holders))],
        "entries": len(entries),
        "sales": len(sales),
        "first_at": merged[0][0].at.isoformat(),
        "product_ids": [p.pk for p in products],
        "revenue_id": revenue.pk,
    }


# The other cardholders' purchases, in SQL: each gets an opening balance covering all its purchases,
# then its purchases in time order (ids follow time within each account), each with one sale line.
# Only integers are put into the statements (str.format); none takes parameters.
_BACKGROUND_SQL = [
    """
    CREATE TEMP TABLE bg_account ON COMMIT DROP AS
    SELECT row_number() OVER (ORDER BY a.id) - 1 AS k, a.id AS account_id, a.holder_id
      FROM payments_ledgeraccount a WHERE a.holder_id BETWEEN {first_holder} AND {last_holder} AND a.kind = 'extra'
    """,
    """
    CREATE TEMP TABLE bg_sale ON COMMIT DROP AS
    SELECT n, a.account_id, a.holder_id, 1500 + (n % 13) * 100 AS total,
           now() - interval '365 days' + (n::float8 / {count}) * interval '364 days' AS at
      FROM generate_series(0, {count} - 1) AS n JOIN bg_account a ON a.k = n % {others}
    """,
    # Opening balances first, so their ids come before every purchase of the account.
    """
    CREATE TEMP TABLE bg_opening ON COMMIT DROP AS
    SELECT account_id, sum(total) + 10000 AS amount,
           nextval(pg_get_serial_sequence('payments_ledgertransaction', 'id')) AS txn_id
      FROM bg_sale GROUP BY account_id
    """,
    """
    INSERT INTO payments_ledgertransaction (id, kind, created_at, reason)
    SELECT txn_id, 'opening', now() - interval '366 days', 'Bench opening balance' FROM bg_opening
    """,
    """
    INSERT INTO payments_ledgerentry (transaction_id, account_id, amount_cents, balance_after_cents)
    SELECT txn_id, account_id, amount, amount FROM bg_opening
    UNION ALL SELECT txn_id, {corrections}, -amount, NULL FROM bg_opening
    """,
    # The purchases' ids: a block of the sequence, in the order of n (time).
    """
    ALTER TABLE bg_sale ADD COLUMN txn_id bigint
    """,
    """
    UPDATE bg_sale SET txn_id = s.base + bg_sale.n
      FROM (SELECT nextval(pg_get_serial_sequence('payments_ledgertransaction', 'id')) AS base) AS s
    """,
    """
    SELECT setval(pg_get_serial_sequence('payments_ledgertransaction', 'id'), (SELECT max(txn_id) FROM bg_sale))
    """,
    """
    INSERT INTO payments_ledgertransaction (id, kind, created_at, reason, institution_id)
    SELECT txn_id, 'sale', at, '', {institution} FROM bg_sale
    """,
    """
    INSERT INTO payments_ledgerentry (transaction_id, account_id, amount_cents, balance_after_cents)
    SELECT s.txn_id, s.account_id, -s.total, o.amount - sum(s.total) OVER (PARTITION BY s.account_id ORDER BY s.n)
      FROM bg_sale s JOIN bg_opening o USING (account_id)
    UNION ALL SELECT txn_id, {revenue}, total, NULL FROM bg_sale
    """,
    """
    UPDATE payments_ledgeraccount a SET balance_cents = 10000 FROM bg_opening o WHERE a.id = o.account_id
    """,
    """
    INSERT INTO canteen_sale (place, payment, total_cents, extra_after_cents, receipt_token, created_at,
                              holder_id, institution_id, ledger_transaction_id)
    SELECT CASE WHEN s.n % 2 = 0 THEN 'Till 1' ELSE 'Till 2' END, 'card', s.total, NULL,
           md5('bench-' || s.n), s.at, s.holder_id, {institution}, s.txn_id
      FROM bg_sale s
    """,
    """
    INSERT INTO canteen_saleline (name, unit_price_cents, quantity, product_id, sale_id)
    SELECT 'Bench item', sale.total_cents, 1, {product}, sale.id
      FROM bg_sale s JOIN canteen_sale sale ON sale.ledger_transaction_id = s.txn_id
    """,
]


def _fill_background(*, guardian: dict[str, Any]) -> dict[str, Any]:
    from django.db import connection

    from accounts.models import Institution
    from cards.models import Cardholder
    from payments.ledger import system_account
    from payments.models import LedgerAccount

    school = Institution.objects.get(pk=guardian["institution_id"])
    others = [
        Cardholder(name=f"Pupil {i:05d}", institution=school, group=f"{i % 9 + 1}{'ABC'[i % 3]}") for i in range(OTHERS)
    ]
    rows_copy(Cardholder, others)
    floor = -school.debt_limit_cents
    rows_copy(
        LedgerAccount,
        [
            LedgerAccount(holder_id=h.pk, kind=kind, floor_cents=floor if kind == LedgerAccount.Kind.MAIN else 0)
            for h in others
            for kind in LedgerAccount.HOLDER_KINDS
        ],
    )
    ids = [h.pk for h in others]
    assert ids == list(range(ids[0], ids[0] + len(ids))), "the other cardholders' ids are not contiguous"
    values: dict[str, int] = {
        "first_holder": ids[0],
        "last_holder": ids[-1],
        "count": BACKGROUND,
        "others": OTHERS,
        "product": guardian["product_ids"][0],
        "corrections": system_account(kind=LedgerAccount.Kind.CORRECTIONS).pk,
        "revenue": guardian["revenue_id"],
        "institution": school.pk,
    }
    with connection.cursor() as cursor:
        for sql in _BACKGROUND_SQL:
            cursor.execute(sql.format(**values))
    return {"others": OTHERS, "background_purchases": BACKGROUND}


def fill() -> dict[str, Any]:
    clock = Clock()
    django_setup()
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from payments.selectors import ledger_mismatches

    call_command("migrate", interactive=False, verbosity=0)
    clock.say(f"database {connection.settings_dict['NAME']} created and migrated")
    rng = random.Random(SEED)
    now = timezone.now()
    with transaction.atomic(), ledger_trigger_off() as switched_off:
        guardian = _fill_guardian(rng=rng, now=now)
        clock.say(
            f"guardian with 2 cardholders: {guardian['transactions']} transactions, {guardian['entries']:,} entries, "
            f"{guardian['sales']:,} sales"
        )
        background = _fill_background(guardian=guardian)
        clock.say(
            f"{OTHERS:,} other cardholders, {BACKGROUND:,} purchases; committing"
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
    return {**guardian, **background, "ledger_mismatches": mismatches, "seconds": time.perf_counter() - clock.started}


@dataclass
class Page:
    label: str
    path: str
    target: bool
    requests: int
    content_type: str
    ms: list[float] = field(default_factory=list)
    db_ms: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)


def _pages(fill: dict[str, Any], zone: ZoneInfo) -> list[Page]:
    from django.urls import reverse
    from django.utils import timezone

    holder = fill["holder_ids"][0]
    count = fill["transactions"][0]
    today = timezone.localdate(timezone.now(), zone)
    # A quarter of the year, half a year ago: about 2,500 of the holder's transactions.
    first, last = today - dt.timedelta(days=182), today - dt.timedelta(days=91)
    quarter_pages = max(1, count // 4 // HISTORY_PAGE_SIZE)
    deep = max(1, count * 3 // 4 // HISTORY_PAGE_SIZE)
    dates = {"from_date": first.isoformat(), "to_date": last.isoformat()}
    history = reverse("portal:history", args=[holder])
    transactions = reverse("guardian_holder_transactions", args=[holder])
    month = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    html, json_type = "text/html", "application/json"

    def query(path: str, **params: Any) -> str:
        return f"{path}?{urlencode(params)}" if params else path

    return [
        Page("overview /portal/", reverse("portal:home"), True, REQUESTS, html),
        Page("history, first page", history, True, REQUESTS, html),
        Page(f"history, page {deep}", query(history, page=deep), True, REQUESTS, html),
        Page("history, a quarter, first page", query(history, **dates), True, REQUESTS, html),
        Page(
            f"history, a quarter, page {quarter_pages * 3 // 4}",
            query(history, **dates, page=max(1, quarter_pages * 3 // 4)),
            True,
            REQUESTS,
            html,
        ),
        Page("API holders", reverse("guardian_holders"), True, REQUESTS, json_type),
        Page("API transactions, first page", transactions, True, REQUESTS, json_type),
        Page(f"API transactions, page {deep}", query(transactions, page=deep), True, REQUESTS, json_type),
        Page(
            f"history CSV, all {count:,} transactions",
            reverse("portal:history_csv", args=[holder]),
            False,
            CSV_REQUESTS,
            "text/csv",
        ),
        Page(
            f"statement PDF {month:%Y-%m}",
            reverse("portal:statement", args=[holder, month.year, month.month]),
            False,
            PDF_REQUESTS,
            "application/pdf",
        ),
    ]


def _get(client: Any, page: Page, queries: list[dict[str, Any]] | None = None) -> tuple[float, float, int]:
    """One request: server time in ms, of which waiting for PostgreSQL, and the body's size. With
    `queries`, its SQL statements are captured into it (CaptureQueriesContext)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    timer = DbTimer()
    captured = CaptureQueriesContext(connection)
    # Only when asked: capturing logs every statement, a cost the timed requests should not carry.
    with captured if queries is not None else contextlib.nullcontext(), connection.execute_wrapper(timer):
        start = time.perf_counter()
        response = client.get(page.path)
        # A streamed body is produced while it is read: read it inside the clock.
        body = b"".join(response.streaming_content) if response.streaming else response.content
        elapsed = time.perf_counter() - start
    if queries is not None:
        queries.extend(captured.captured_queries)
    if response.status_code != 200 or not response["Content-Type"].startswith(page.content_type):
        raise RuntimeError(f"{page.path}: {response.status_code} {response['Content-Type']}: {body[:300]!r}")
    return elapsed * 1000, timer.seconds * 1000, len(body)


def _statements(queries: list[dict[str, Any]]) -> dict[str, Any]:
    """How many statements one request made, and the slowest with its plan (EXPLAIN ANALYZE)."""
    from django.db import connection

    slowest = sorted(queries, key=lambda q: -float(q["time"]))[:3]
    plan: list[str] = []
    if slowest and slowest[0]["sql"].lstrip().upper().startswith("SELECT"):
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + slowest[0]["sql"])
            plan = [row[0] for row in cursor.fetchall()]
    return {
        "statements": len(queries),
        "slowest": [{"ms": float(q["time"]) * 1000, "sql": q["sql"][:2000]} for q in slowest],
        "slowest_plan": plan,
    }


def _weasyprint_warm_up() -> None:
    """Load WeasyPrint and its fonts, as a long-running server has done long before."""
    from weasyprint import HTML

    HTML(string="<p>warm-up</p>").write_pdf()


def _timed(client: Any, page: Page, queries: list[dict[str, Any]] | None = None) -> None:
    ms, db_ms, size = _get(client, page, queries)
    page.ms.append(ms)
    page.db_ms.append(db_ms)
    page.sizes.append(size)


def measure() -> dict[str, Any]:
    clock = Clock()
    django_setup()
    from django.db import connection
    from django.test import Client

    from accounts.models import User
    from cards.models import Cardholder

    guardian = User.objects.get(email="guardian@bench.example")
    holders = list(
        Cardholder.objects.filter(guardianships__guardian=guardian).select_related("institution").order_by("pk")
    )
    fill = {"holder_ids": [h.pk for h in holders], "transactions": [TRANSACTIONS, SECOND_HOLDER_TRANSACTIONS]}
    pages = _pages(fill, holders[0].institution.zone)
    # WhiteNoise warns once that collectstatic has not run: the benchmark serves no static files.
    warnings.filterwarnings("ignore", message="No directory at")
    client = Client()
    client.force_login(guardian)
    connection.ensure_connection()
    _weasyprint_warm_up()
    details: dict[str, dict[str, Any]] = {}
    for page in pages:
        queries: list[dict[str, Any]] = []
        if page.target:
            for _n in range(WARMUP - 1):
                _get(client, page)
            _get(client, page, queries)
        else:
            # A heavy page's first timed request: the logging of its statements is nothing next to seconds of work.
            _timed(client, page, queries)
        details[page.label] = _statements(queries)
    clock.say(f"{len(pages)} pages warmed up; then {REQUESTS} requests of each, taking turns")
    with CpuMeter() as meter:
        before = meter.snapshot()
        for _n in range(max(page.requests for page in pages)):
            for page in pages:
                if len(page.ms) < page.requests:
                    _timed(client, page)
        cpu = cpu_use(before, meter.snapshot())
    clock.say(
        f"cores used while timing: this process {cpu['client']:.2f}, PostgreSQL {cpu.get('postgres', 0):.2f}, "
        f"unrelated processes {cpu['other']:.2f}"
    )
    results = []
    for page in pages:
        figures = {
            "label": page.label,
            "path": page.path,
            "target": page.target,
            "ms": page.ms,
            "p50_ms": percentile(page.ms, 50),
            "p99_ms": percentile(page.ms, 99),
            "max_ms": max(page.ms),
            "db_p50_ms": percentile(page.db_ms, 50),
            "db_p99_ms": percentile(page.db_ms, 99),
            "bytes": statistics.median(page.sizes),
            **details[page.label],
        }
        results.append(figures)
        clock.say(
            f"{page.label}: p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms of {len(page.ms)} "
            f"(PostgreSQL p50 {figures['db_p50_ms']:.1f} ms), {figures['statements']} statements, "
            f"{figures['bytes'] / 1024:.0f} KiB"
        )
    return {"pages": results, "requests": REQUESTS, "cpu": cpu}


if __name__ == "__main__":
    if sys.argv[1:] == ["fill"]:
        print(RESULT_MARK + json.dumps(fill()))
    elif sys.argv[1:] == ["measure"]:
        print(RESULT_MARK + json.dumps(measure()))
    else:
        from bench.__main__ import main as bench_main

        sys.exit(bench_main([NAME]))
