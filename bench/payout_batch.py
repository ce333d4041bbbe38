"""Payout batch: build, approve and export a batch of 10,000 refunds, then read the bank's answer.

Issue target: "build and export a batch of 10,000 refunds (target under 10 s, memory flat)".

1. A fresh PostgreSQL database (`bench_payout_batch`, dropped and recreated, migrated) is filled in
   bulk: "Bench Town School"; BENCH_PAYOUT_REFUNDS (10,000) + 1,000 + 100 cardholders, each with
   one refund request of 1.00–500.00 to a payee with a CPR number of a real date (encrypted with
   the deployment's keys, as `payouts.crypto` stores it) or, for 5 %, an IBAN. Each refund's money
   is in the ledger as the refund service leaves it: an opening balance, then the whole balance
   moved from the holder's main account to payout clearing. The requests wait as "requested";
   two finance users (builder and approver). Then VACUUM ANALYZE.
2. In a fresh process (as a Celery worker): each set of refunds in turn is marked approved (not
   timed) and then, timed together: `payout_batch_build` (a NemKonto and a SEPA batch),
   `payout_batch_approve` by the second user and `payout_batch_export` (ledger movements, bank
   files written and checked against their schemas). First 100 refunds (warm-up: imports,
   schemas, caches), then 1,000, then 10,000. Figures: wall time (target under 10 s for 10,000),
   waiting for PostgreSQL, CPU, the time of each step, the SQL statements; the process's peak RSS
   during the run (VmHWM, reset before by /proc/self/clear_refs). "Memory flat": the 10,000-refund
   run grows the process by no more than the 1,000-refund run plus BENCH_PAYOUT_FLAT_MB (16 MB)
   (the bank files themselves, about 3 MB, are in memory by design).
   The outcome is checked: every refund in a batch, every payout exported, the files' counts and
   sums those of the payouts, the money moved from clearing to payouts sent.
3. The bank's return file for the 10,000 (95 % completed, 3 % rejected with code 7, 2 % with code 9)
   is imported (timed), then imported again (nothing to do); the batch files written again for a
   download; the summary PDF (its first 1,000 payments listed).
4. `payments.selectors.ledger_mismatches()` must be empty.

Environment: BENCH_DATABASE_URL (postgres://postgres@127.0.0.1:5432/), BENCH_PAYOUT_DB_NAME,
BENCH_PAYOUT_REFUNDS (10000), BENCH_PAYOUT_FLAT_MB (16).
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

NAME = "payout_batch"
DB_NAME = os.environ.get("BENCH_PAYOUT_DB_NAME") or "bench_payout_batch"
REFUNDS = int(os.environ.get("BENCH_PAYOUT_REFUNDS") or 10_000)
FLAT_MB = float(os.environ.get("BENCH_PAYOUT_FLAT_MB") or 16)
TARGET_S = 10.0

SMALL = 1_000
WARMUP = 100
IBAN_SHARE = 0.05
REJECTED_7 = 0.03
REJECTED_9 = 0.02
PAY_DAY = dt.date(2026, 12, 3)
BATCH = 5000
SEED = 20261203
IBANS = ("DE89370400440532013000", "DK5000400440116243", "NL91ABNA0417164300", "FR1420041010050500013M02606")


def run() -> list[Row]:
    started = time.perf_counter()
    database_recreate(DB_NAME)
    env = django_env(database_url(DB_NAME))
    env["BENCH_PAYOUT_REFUNDS"] = str(REFUNDS)
    fill = step_run(f"bench.{NAME}", "fill", env)
    measured = step_run(f"bench.{NAME}", "measure", env)
    results = {"refunds": REFUNDS, "fill": fill, **measured}
    rows = _rows(results)
    results["rows"] = [row.as_dict() for row in rows]
    results["machine"] = machine_info()
    path = write_json(NAME, results)
    print(f"  details: {path.relative_to(PROJECT_DIR)} (total {time.perf_counter() - started:.0f} s)")
    return rows


def _rows(results: dict[str, Any]) -> list[Row]:
    big, small, returns = results["big"], results["small"], results["returns"]
    refunds = big["payouts"]
    growth_big, growth_small = big["peak_growth_mb"], small["peak_growth_mb"]
    flat = growth_big <= growth_small + FLAT_MB
    main_kinds = {kind: n for kind, n in big["statement_kinds"].items() if n >= 5}
    rest = big["statements"] - sum(main_kinds.values())
    kinds = ", ".join([*(f"{n:,} {kind}" for kind, n in main_kinds.items()), f"{rest:,} other"])
    steps = ", ".join(f"{step} {seconds:.2f} s" for step, seconds in big["steps"].items())
    files = ", ".join(f"{name} ({size // 1024:,} KiB)" for name, size in big["files"].items())
    return [
        Row(
            NAME,
            f"build + approve + export, {refunds:,} refunds ({big['nemkonto']:,} NemKonto, {big['sepa']:,} SEPA)",
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
        Row(NAME, f"  files: {files}", None),
        Row(NAME, f"  SQL statements ({kinds})", big["statements"], "statements"),
        Row(NAME, "  time per refund", big["wall_s"] / max(refunds, 1) * 1000, "ms"),
        Row(NAME, f"{small['payouts']:,} refunds, for comparison", small["wall_s"], "s"),
        Row(
            NAME,
            f"peak RSS growth: {refunds:,} refunds (vs {small['payouts']:,}: {growth_small:.1f} MB)",
            growth_big,
            "MB",
            f"flat: ≤ {growth_small:.1f} + {FLAT_MB:.0f} MB",
            met=flat,
        ),
        Row(NAME, "  RSS after the run (process total)", big["rss_after_mb"], "MB"),
        Row(
            NAME,
            f"return file, {returns['lines']:,} answers ({returns['completed']:,} completed, "
            f"{returns['rejected']:,} rejected), imported",
            returns["wall_s"],
            "s",
        ),
        Row(NAME, "  the same return file again (nothing to do)", returns["again_s"], "s"),
        Row(NAME, "bank files written again for a download (both batches)", results["files_again_s"], "s"),
        Row(NAME, "summary PDF of the NemKonto batch (first 1,000 payments listed)", results["pdf_s"], "s"),
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


def _cpr(rng: random.Random) -> str:
    day = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 55))
    return f"{day:%d%m%y}{rng.randrange(0, 10_000):04d}"


def fill() -> dict[str, Any]:
    clock = Clock()
    django_setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from accounts.models import Institution, Role, StaffMembership, User
    from cards.models import Cardholder, PriceCategory
    from payments.ledger import system_account
    from payments.models import LedgerAccount
    from payouts.crypto import cpr_encrypt
    from payouts.models import PayeeKind, RefundRequest

    call_command("migrate", interactive=False, verbosity=0)
    clock.say(f"database {connection.settings_dict['NAME']} created and migrated")
    refunds = int(os.environ.get("BENCH_PAYOUT_REFUNDS") or REFUNDS)
    total = refunds + SMALL + WARMUP
    rng = random.Random(SEED)
    with transaction.atomic():
        school = Institution.objects.create(name="Bench Town School", school_number="911")
        category = PriceCategory.objects.create(code="grades-1-4", name="Grades 1–4")
        guardian = User.objects.create_user(email="guardian@bench.example")
        for email in ("builder@bench.example", "approver@bench.example"):
            user = User.objects.create_user(email=email, is_staff=True, full_name=email.split("@")[0].title())
            StaffMembership.objects.create(user=user, institution=school, role=Role.FINANCE)
        holders = Cardholder.objects.bulk_create(
            [
                Cardholder(name=f"Pupil {n:06d}", institution=school, group=f"{n % 9 + 1}A", price_category=category)
                for n in range(total)
            ],
            batch_size=BATCH,
        )
        amounts = [rng.randint(100, 50_000) for _ in holders]
        LedgerAccount.objects.bulk_create(
            [
                account
                for holder in holders
                for account in (
                    LedgerAccount(holder=holder, kind=LedgerAccount.Kind.MAIN, floor_cents=-15_000),
                    LedgerAccount(holder=holder, kind=LedgerAccount.Kind.EXTRA),
                )
            ],
            batch_size=BATCH,
        )
        requests = []
        for holder, amount in zip(holders, amounts, strict=True):
            iban = rng.random() < IBAN_SHARE
            requests.append(
                RefundRequest(
                    holder=holder,
                    institution=school,
                    requested_by=guardian,
                    status=RefundRequest.Status.REQUESTED,
                    payee_name=f"Payee {holder.name[6:]} Ærø",
                    payee_kind=PayeeKind.IBAN if iban else PayeeKind.CPR,
                    payee_cpr_token="" if iban else cpr_encrypt(_cpr(rng)),
                    payee_iban=rng.choice(IBANS) if iban else "",
                    balance_cents=amount,
                    cost_cents=0,
                    amount_cents=amount,
                )
            )
        RefundRequest.objects.bulk_create(requests, batch_size=BATCH)
        clock.say(
            f"{len(holders):,} cardholders and refund requests ({sum(r.payee_iban != '' for r in requests):,} IBAN)"
        )
        corrections = system_account(kind=LedgerAccount.Kind.CORRECTIONS)
        clearing = system_account(kind=LedgerAccount.Kind.PAYOUT_CLEARING)
        with connection.cursor() as cursor:
            # Per refund: an opening balance on main, then the whole balance to payout clearing.
            cursor.execute(
                "CREATE TEMP TABLE bench_refund ON COMMIT DROP AS "
                "SELECT a.id AS account_id, r.id AS refund_id, r.amount_cents, "
                "nextval(pg_get_serial_sequence('payments_ledgertransaction', 'id')) AS opening_id, "
                "nextval(pg_get_serial_sequence('payments_ledgertransaction', 'id')) AS refund_txn_id "
                "FROM payouts_refundrequest r JOIN payments_ledgeraccount a "
                "ON a.holder_id = r.holder_id AND a.kind = 'main'"
            )
            cursor.execute(
                "INSERT INTO payments_ledgertransaction (id, kind, created_at, reason) "
                "SELECT opening_id, 'opening', now() - interval '60 days', 'Bench opening balance' FROM bench_refund "
                "UNION ALL SELECT refund_txn_id, 'refund', now() - interval '1 day', 'Bench refund approved' "
                "FROM bench_refund"
            )
            cursor.execute(
                "INSERT INTO payments_ledgerentry (transaction_id, account_id, amount_cents, balance_after_cents) "
                "SELECT opening_id, account_id, amount_cents, amount_cents FROM bench_refund "
                "UNION ALL SELECT opening_id, %s, -amount_cents, NULL FROM bench_refund "
                "UNION ALL SELECT refund_txn_id, account_id, -amount_cents, 0 FROM bench_refund "
                "UNION ALL SELECT refund_txn_id, %s, amount_cents, NULL FROM bench_refund",
                [corrections.pk, clearing.pk],
            )
            cursor.execute(
                "UPDATE payouts_refundrequest r SET ledger_transaction_id = b.refund_txn_id "
                "FROM bench_refund b WHERE r.id = b.refund_id"
            )
        clock.say("ledger: an opening and a refund movement per refund")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    clock.say("VACUUM ANALYZE done")
    return {"holders": len(holders), "refunds": len(requests), "seconds": time.perf_counter() - clock.started}


def _statement_kind(sql: str) -> str:
    verb = sql.lstrip()[:10].split(" ", 1)[0].upper()
    target = sql[:300]
    if verb == "WITH" and " UPDATE " in sql:
        # The bulk updates name their table after the VALUES list.
        verb, target = "UPDATE", sql[sql.index(" UPDATE ") :][:100]
    if verb == "SELECT":
        return "SELECT FOR UPDATE" if "FOR UPDATE" in sql else "other SELECT"
    for table, label in (
        ("payments_ledgertransaction", "ledger transactions"),
        ("payments_ledgerentry", "ledger entries"),
        ("payouts_payoutbatch", "batch"),
        ("payouts_payout", "payouts"),
        ("payouts_refundrequest", "refunds"),
        ("payouts_returnfileimport", "return file"),
        ("accounts_auditentry", "audit"),
    ):
        if table in target:
            return f"{verb} {label}"
    return f"other {verb}"


@contextmanager
def _steps_timed(timings: dict[str, float]) -> Iterator[None]:
    """Time the steps inside the export by wrapping their functions for the duration."""
    import payouts.batches as batches
    from payouts.batches import lifecycle

    targets = [
        (batches, "payout_batch_build", "build"),
        (batches, "payout_batch_approve", "approve"),
        (lifecycle, "ledger_movements", "export: ledger movements"),
        (lifecycle, "payouts_update", "export: payouts marked"),
        (lifecycle, "batch_files_render", "export: files written"),
        (lifecycle, "batch_file_validate", "export: files checked"),
    ]
    with functions_timed(targets, timings):
        yield


def _approve_next(count: int) -> list[int]:
    """Mark the next `count` requested refunds approved (as the office would have): not timed."""
    from payouts.models import RefundRequest

    ids = list(
        RefundRequest.objects.filter(status=RefundRequest.Status.REQUESTED)
        .order_by("pk")
        .values_list("pk", flat=True)[:count]
    )
    RefundRequest.objects.filter(pk__in=ids).update(status=RefundRequest.Status.APPROVED)
    return ids


def _cycle(count: int) -> dict[str, Any]:
    """Approve `count` refunds (untimed), then build, approve and export, timed."""
    import gc

    from django.db import connection

    import payouts.batches as batches
    from accounts.models import User
    from payouts.models import Payout, PayoutBatch

    _approve_next(count)
    builder = User.objects.get(email="builder@bench.example")
    approver = User.objects.get(email="approver@bench.example")
    gc.collect()
    rss_before, _peak = rss_mb()
    peak_reset()
    statements = Statements(_statement_kind)
    steps: dict[str, float] = {}
    commits = Commits(connection)
    export_s = 0.0
    files: dict[str, int] = {}
    with connection.execute_wrapper(statements), _steps_timed(steps), commits:
        start = time.perf_counter()
        cpu = time.process_time()
        built = batches.payout_batch_build(built_by=builder, payment_date=PAY_DAY)
        for batch in built:
            batches.payout_batch_approve(batch=batch, approved_by=approver)
        for batch in built:
            export_start = time.perf_counter()
            for file in batches.payout_batch_export(batch=batch, exported_by=approver):
                files[file.name] = len(file.content)
                checked = (file.payments, file.total_cents)
                # Dropped at once, as a worker would once the file is handed on.
                del file
            export_s += time.perf_counter() - export_start
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu
    rss_after, peak = rss_mb()
    del checked
    ids = [batch.pk for batch in built]
    kinds = dict(PayoutBatch.objects.filter(pk__in=ids).values_list("kind", "pk"))
    counts = {
        kind: Payout.objects.filter(batch_id=pk, status=Payout.Status.EXPORTED).count() for kind, pk in kinds.items()
    }
    if sum(counts.values()) != count:
        raise RuntimeError(f"{sum(counts.values())} payouts exported, not {count}")
    steps["export (all of it)"] = export_s
    return {
        "batches": ids,
        "payouts": sum(counts.values()),
        "nemkonto": counts.get("nemkonto", 0),
        "sepa": counts.get("sepa", 0),
        "wall_s": wall,
        "cpu_s": cpu,
        "db_s": statements.seconds,
        "commit_s": commits.seconds,
        "commits": commits.count,
        "steps": steps,
        "statements": sum(statements.kinds.values()),
        "statement_kinds": dict(statements.kinds.most_common()),
        "files": files,
        "rss_before_mb": rss_before,
        "rss_after_mb": rss_after,
        "peak_growth_mb": peak - rss_before,
    }


def _check(cycle: dict[str, Any]) -> None:
    """The batches hold what the data says, and their money moved from clearing to payouts sent."""
    from django.db.models import Sum

    from payouts.batch_files import batch_files_exported
    from payouts.models import Payout, PayoutBatch, RefundRequest

    batches = PayoutBatch.objects.filter(pk__in=cycle["batches"])
    total = Payout.objects.filter(batch__in=batches).aggregate(total=Sum("amount_cents"))["total"]
    expected = RefundRequest.objects.filter(payouts__batch__in=batches).aggregate(total=Sum("amount_cents"))["total"]
    recorded = sum(int(f["total_cents"]) for b in batches for f in batch_files_exported(batch=b))
    if not total == expected == recorded:
        raise RuntimeError(f"payouts {total}, refunds {expected}, files {recorded}")
    if RefundRequest.objects.filter(status=RefundRequest.Status.APPROVED).exists():
        raise RuntimeError("approved refunds were left out of the batches")


def _returns(batch_ids: list[int]) -> dict[str, Any]:
    from payouts.batches import return_file_import
    from payouts.models import Payout
    from payouts.return_file import return_file_write

    rng = random.Random(SEED + 1)
    lines = []
    for reference in Payout.objects.filter(batch_id__in=batch_ids).order_by("pk").values_list("reference", flat=True):
        draw = rng.random()
        if draw < REJECTED_7:
            lines.append((reference, "rejected", "7", "Ingen NemKonto"))
        elif draw < REJECTED_7 + REJECTED_9:
            lines.append((reference, "rejected", "9", "Fejl i pengeinstitut"))
        else:
            lines.append((reference, "completed", "", ""))
    content = return_file_write(lines)
    start = time.perf_counter()
    record = return_file_import(content=content, filename="bench-return.csv", imported_by=None)
    wall = time.perf_counter() - start
    start = time.perf_counter()
    again = return_file_import(content=content, filename="bench-return-again.csv", imported_by=None)
    again_s = time.perf_counter() - start
    if again.pk != record.pk:
        raise RuntimeError("the same return file was imported twice")
    return {
        "lines": len(lines),
        "completed": record.summary["completed"],
        "rejected": record.summary["rejected"],
        "settled": record.summary["batches_settled"],
        "wall_s": wall,
        "again_s": again_s,
    }


def _warm_up() -> None:
    """What a long-running worker has already done: connected, loaded the catalogs and schemas."""
    from django.db import connection
    from django.utils.translation import gettext

    connection.ensure_connection()
    gettext("Payout batch")
    import weasyprint  # noqa: F401


def measure() -> dict[str, Any]:
    clock = Clock()
    django_setup()
    from payments.selectors import ledger_mismatches
    from payouts.batch_files import batch_files_render
    from payouts.batch_pdf import batch_summary_pdf
    from payouts.models import PayoutBatch

    _warm_up()
    refunds = int(os.environ.get("BENCH_PAYOUT_REFUNDS") or REFUNDS)
    out: dict[str, Any] = {}
    out["warmup"] = _cycle(WARMUP)
    clock.say(f"warm-up, {WARMUP} refunds: {out['warmup']['wall_s']:.2f} s")
    out["small"] = small = _cycle(SMALL)
    _check(small)
    clock.say(f"{SMALL:,} refunds: {small['wall_s']:.2f} s, peak +{small['peak_growth_mb']:.1f} MB")
    out["big"] = big = _cycle(refunds)
    _check(big)
    clock.say(
        f"{refunds:,} refunds: {big['wall_s']:.2f} s (PostgreSQL {big['db_s']:.2f} s, CPU {big['cpu_s']:.2f} s), "
        f"{big['statements']:,} statements, peak +{big['peak_growth_mb']:.1f} MB; steps {big['steps']}"
    )
    out["returns"] = _returns(big["batches"])
    clock.say(f"return file: {out['returns']}")
    start = time.perf_counter()
    for batch in PayoutBatch.objects.filter(pk__in=big["batches"]):
        batch_files_render(batch=batch)
    out["files_again_s"] = time.perf_counter() - start
    nemkonto = PayoutBatch.objects.get(pk__in=big["batches"], kind=PayoutBatch.Kind.NEMKONTO)
    start = time.perf_counter()
    pdf = batch_summary_pdf(batch=nemkonto, language="en")
    out["pdf_s"] = time.perf_counter() - start
    out["pdf_bytes"] = len(pdf)
    clock.say(f"files again {out['files_again_s']:.2f} s, PDF {out['pdf_s']:.2f} s ({len(pdf) // 1024} KiB)")
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
