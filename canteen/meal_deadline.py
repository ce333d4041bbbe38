"""The deadline job [SL]: when a school day's orders close, settle them.

For each day whose deadline has passed, in order, each step safe to run again:

1. subscribers with no order of their own that day get option 1;
2. with fewer than the minimum (20) on option 2, those orders move to option 1 and the guardians
   are told by e-mail (the day is marked, so this happens once);
3. every open order becomes binding and is paid (`meal_charge`: main, extra, then debt); an order
   the debt limit stops is marked unpaid, and the lunch line tries again;
4. the day is marked closed, and the kitchen is sent the counts.

Celery beat runs `meal_deadlines_run` every few minutes. Orders are paid in chunks, each chunk in
its own transaction, so a worker killed half-way leaves paid orders paid and the next run pays
the rest; nothing is charged twice because an order leaves `ordered` in the transaction that pays it.
"""

import datetime as dt
import logging
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone
from django.utils.translation import gettext

from canteen.meal_calendar import MealPriceMissing, meal_policy_get, order_deadlines
from canteen.meal_payments import at_debt_limit, meal_legs
from canteen.models import MealOrder, MealPolicy, MealPrice, MealSubscription, SchoolDay
from cards.services import holders_debt_block
from cardsystem.rawsql import adapt_datetime
from outbox.services import task_send_on_commit
from payments.errors import DebtLimitReached
from payments.ledger import Leg, holders_accounts_lock, movements_post_batch
from payments.models import LedgerTransaction

logger = logging.getLogger(__name__)

CHUNK = 250
# Days looked at by each run: a missed run (a stopped worker over a weekend) is caught up on.
LOOKBACK = dt.timedelta(days=7)
LOOKAHEAD = dt.timedelta(days=14)


@dataclass
class DayClosed:
    school_day_id: int
    subscriptions: int = 0
    moved_to_option1: list[int] = field(default_factory=list)
    paid: int = 0
    unpaid: int = 0


def meal_deadlines_run(*, now: dt.datetime | None = None) -> list[DayClosed]:
    """Close every school day (of every institution) whose deadline has passed and that is not closed yet."""
    moment = now or timezone.now()
    today = moment.date()
    open_days = list(
        SchoolDay.objects.filter(
            orders_closed_at__isnull=True, date__gte=today - LOOKBACK, date__lte=today + LOOKAHEAD
        ).select_related("institution")
    )
    by_institution: dict[int, list[SchoolDay]] = {}
    for day in open_days:
        by_institution.setdefault(day.institution_id, []).append(day)
    closed = []
    for days in by_institution.values():
        institution = days[0].institution
        policy = meal_policy_get(institution=institution)
        deadlines = order_deadlines(institution=institution, dates=[d.date for d in days], policy=policy)
        for day in sorted(days, key=lambda d: d.date):
            if deadlines[day.date] <= moment:
                closed.append(meal_day_close(school_day=day, policy=policy, now=moment))
    return closed


def meal_day_close(
    *, school_day: SchoolDay, policy: MealPolicy | None = None, now: dt.datetime | None = None
) -> DayClosed:
    """Settle one school day's orders (the steps above); safe to call again for the same day."""
    policy = policy or meal_policy_get(institution=school_day.institution)
    result = DayClosed(school_day_id=school_day.pk)
    result.subscriptions = _subscriptions_order(school_day)
    result.moved_to_option1 = _option2_minimum_apply(school_day, policy)
    result.paid, result.unpaid = _orders_bind(school_day)
    claimed = SchoolDay.objects.filter(pk=school_day.pk, orders_closed_at__isnull=True).update(
        orders_closed_at=now or timezone.now()
    )
    if claimed:
        _kitchen_notify(school_day.pk)
    logger.info(
        "meal day %s closed: %s subscriptions, %s moved to option 1, %s paid, %s unpaid",
        school_day,
        result.subscriptions,
        len(result.moved_to_option1),
        result.paid,
        result.unpaid,
    )
    return result


def kitchen_mails_due(*, now: dt.datetime | None = None) -> list[int]:
    """Closed days of the last week whose kitchen e-mail has not gone out (a mail server that was
    down): the beat task queues them again; the mail itself is claimed once (`canteen.kitchen`)."""
    today = (now or timezone.now()).date()
    return list(
        SchoolDay.objects.filter(
            orders_closed_at__isnull=False,
            kitchen_notified_at__isnull=True,
            date__gte=today - LOOKBACK,
            institution__meal_policy__kitchen_email__gt="",
        ).values_list("pk", flat=True)
    )


def _subscriptions_order(day: SchoolDay) -> int:
    """Option 1 for each subscriber of the institution without an order (or a cancellation) that day."""
    has_row = MealOrder.objects.filter(holder_id=OuterRef("holder_id"), school_day=day)
    subscriber_ids = list(
        MealSubscription.objects.filter(holder__institution_id=day.institution_id)
        .exclude(Exists(has_row))
        .values_list("holder_id", flat=True)
    )
    created = MealOrder.objects.bulk_create(
        [
            MealOrder(holder_id=holder_id, school_day=day, option=1, source=MealOrder.Source.SUBSCRIPTION)
            for holder_id in subscriber_ids
        ],
        batch_size=1000,
        ignore_conflicts=True,  # a guardian's own order placed meanwhile wins
    )
    return len(created)


def _option2_minimum_apply(day: SchoolDay, policy: MealPolicy) -> list[int]:
    """Move option 2's orders to option 1 when fewer than the minimum chose it; once per day."""
    if not day.option2:
        return []
    with transaction.atomic():
        locked = SchoolDay.objects.select_for_update().get(pk=day.pk)
        if locked.option2_dropped or locked.orders_closed_at is not None:
            return []
        option2 = MealOrder.objects.filter(school_day=day, option=2, status=MealOrder.Status.ORDERED)
        if option2.count() >= policy.option2_minimum:
            return []
        moved = list(option2.values_list("pk", flat=True))
        option2.update(option=1, moved_from_option2=True, updated_at=timezone.now())
        locked.option2_dropped = day.option2_dropped = True
        locked.save(update_fields=["option2_dropped"])
        if moved:
            _option2_moved_notify(moved)
    return moved


def _orders_bind(day: SchoolDay) -> tuple[int, int]:
    """Pay every open order of the day, a chunk per transaction; returns (paid, unpaid)."""
    prices = dict(
        MealPrice.objects.filter(institution_id=day.institution_id).values_list("price_category_id", "price_cents")
    )
    reason = gettext("Meal %(date)s") % {"date": day.date.isoformat()}
    paid = unpaid = 0
    last_pk = 0
    while True:
        ids = list(
            MealOrder.objects.filter(school_day=day, status=MealOrder.Status.ORDERED, pk__gt=last_pk)
            .order_by("pk")
            .values_list("pk", flat=True)[:CHUNK]
        )
        if not ids:
            return paid, unpaid
        last_pk = ids[-1]
        with transaction.atomic(durable=True):
            counted = _chunk_bind(day, ids, prices, reason)
        paid, unpaid = paid + counted[0], unpaid + counted[1]


def _chunk_bind(day: SchoolDay, ids: list[int], prices: dict[int, int], reason: str) -> tuple[int, int]:
    """Pay one chunk of orders in the caller's transaction: a handful of statements for the whole
    chunk (the ledger's batch poster and two UPDATEs), not a few per order."""
    # Re-read under the lock: another run may have paid some of them meanwhile.
    orders = list(
        MealOrder.objects.select_for_update(of=("self",))
        .filter(pk__in=ids, status=MealOrder.Status.ORDERED)
        .annotate(category_id=F("holder__price_category_id"))
        .order_by("pk")
    )
    # One order per cardholder and day (a database constraint), so each meal is judged on balances
    # no other meal of the chunk has touched.
    accounts = holders_accounts_lock(holder_ids=[o.holder_id for o in orders])
    movements: list[list[Leg]] = []
    paid: list[tuple[MealOrder, int, int | None]] = []  # order, price, index of its movement
    unpaid: list[int] = []
    for order in orders:
        price = prices.get(order.category_id) if order.category_id is not None else None
        try:
            if price is None:
                raise MealPriceMissing()
            legs = meal_legs(accounts=accounts[order.holder_id], price_cents=price, institution=day.institution)
        except (DebtLimitReached, MealPriceMissing) as refusal:
            logger.info("meal order %s not paid: %s", order.pk, refusal.code)
            unpaid.append(order.pk)
            continue
        paid.append((order, price, len(movements) if legs else None))
        if legs:
            movements.append(legs)
    txns = movements_post_batch(
        kind=LedgerTransaction.Kind.MEAL, movements=movements, institution=day.institution, reason=reason
    )
    at_limit = sorted({o.holder_id for o, _p, _i in paid if at_debt_limit(accounts[o.holder_id])})
    if at_limit:
        holders_debt_block(holder_ids=at_limit)
    now = timezone.now()
    if unpaid:
        MealOrder.objects.filter(pk__in=unpaid).update(status=MealOrder.Status.UNPAID, updated_at=now)
    if paid:
        rows = [(o.pk, price, None if i is None else txns[i].pk) for o, price, i in paid]
        with connection.cursor() as cursor:
            cursor.execute(
                "WITH v(id, price, txn) AS (VALUES " + ", ".join(["(%s, %s, %s)"] * len(rows)) + ") "  # noqa: S608 - placeholders only
                "UPDATE canteen_mealorder SET status = %s, updated_at = %s, price_cents = v.price, "
                "ledger_transaction_id = CAST(v.txn AS BIGINT) FROM v WHERE canteen_mealorder.id = v.id",
                [*[value for row in rows for value in row], MealOrder.Status.PAID.value, adapt_datetime(now)],
            )
    return len(paid), len(unpaid)


def _option2_moved_notify(order_ids: list[int]) -> None:
    from canteen.tasks import option2_moved_mail_task  # tasks import the services

    task_send_on_commit(option2_moved_mail_task, order_ids)


def _kitchen_notify(school_day_id: int) -> None:
    from canteen.tasks import kitchen_mail_task

    task_send_on_commit(kitchen_mail_task, school_day_id)
