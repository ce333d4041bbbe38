"""Class meals [PZ]: a teacher confirms, with a teacher card, which pupils of a class had the organised meal.

Each pupil served is charged the price of their category by the meal rule (main, then extra, then
debt on main down to the limit: `canteen.meal_payments`), except a pupil whose order was paid at
the deadline, who is marked served and charged nothing more, and a pupil the lunch line already
served, who is reported and left alone. A pupil the debt limit stops is not served.

A class, meal and day is confirmed once. The confirmation row is written first: a second teacher
confirming the same class at the same moment waits on its unique index until the first commits,
then gets `already_confirmed` without having locked or charged anyone. Every pupil's balances are
then locked at once, in primary-key order like every movement, so the lunch line serving one of
them at the same moment waits for the class (or the class for it), and each pupil pays once.
"""

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import Institution, Role, StaffMembership
from canteen.errors import AlreadyConfirmed, NotATeacherCard
from canteen.meal_calendar import MealPriceMissing, local_today, school_day_get
from canteen.meal_payments import meal_charge
from canteen.models import ClassMeal, MealOrder, MealPrice
from cards.models import Card, Cardholder
from cardsystem.errors import InvalidRequest, NotFound
from payments.errors import DebtLimitReached
from payments.ledger import holders_accounts_lock
from payments.models import LedgerAccount

# A class is at most a few dozen pupils; the bound keeps one request's locks and work small.
MAX_PUPILS = 200
# What a confirmation changes on an existing order.
ORDER_FIELDS = [
    "option",
    "source",
    "status",
    "price_cents",
    "ledger_transaction",
    "served_at",
    "class_meal",
    "updated_at",
]


class Outcome(StrEnum):
    """What the confirmation did for one pupil."""

    CHARGED = "charged"  # served and paid now
    PAID_BEFORE = "paid_before"  # served; the order was paid at the deadline
    ALREADY_SERVED = "already_served"  # the lunch line served the pupil earlier: nothing done
    DEBT_LIMIT_REACHED = "debt_limit_reached"  # at the debt limit: not served


OUTCOME_LABELS = {
    Outcome.CHARGED: _("Charged now"),
    Outcome.PAID_BEFORE: _("Paid in advance"),
    Outcome.ALREADY_SERVED: _("Already served at the lunch line"),
    Outcome.DEBT_LIMIT_REACHED: _("Not served: debt limit reached"),
}


@dataclass(frozen=True)
class PupilResult:
    """One pupil of a confirmation. `charged_main` includes `debt`, the part taken from main below zero."""

    holder_id: int
    name: str
    outcome: Outcome
    price_cents: int
    charged_main: int = 0
    charged_extra: int = 0
    debt: int = 0
    blocked: bool = False  # at the debt limit after this confirmation: the pupil's cards are debt-blocked

    @property
    def served(self) -> bool:
        return self.outcome in (Outcome.CHARGED, Outcome.PAID_BEFORE)


@dataclass(frozen=True)
class ClassMealConfirmed:
    class_meal: ClassMeal
    pupils: list[PupilResult]


def class_meal_teacher_check(*, institution: Institution, card: Card) -> None:
    """Raise NotATeacherCard unless the card is an active teacher card of a teacher (or administrator)
    of this institution."""
    if card.kind != Card.Kind.TEACHER or card.status != Card.Status.ACTIVE or card.staff_user_id is None:
        raise NotATeacherCard()
    teaches_here = StaffMembership.objects.filter(
        user_id=card.staff_user_id, institution=institution, role__in=[Role.TEACHER, Role.ADMIN]
    ).exists()
    if not teaches_here:
        raise NotATeacherCard(gettext("This teacher card is not for a teacher of this school."))


def _served_ids(served_holder_ids: Iterable[int]) -> list[int]:
    wanted = sorted(set(served_holder_ids))
    if not wanted:
        raise InvalidRequest(fields={"served": [gettext("Tick at least one pupil.")]})
    if len(wanted) > MAX_PUPILS:
        raise InvalidRequest(fields={"served": [gettext("At most %(count)s pupils at once.") % {"count": MAX_PUPILS}]})
    return wanted


def class_meal_confirm(
    *,
    institution: Institution,
    teacher_card: Card,
    group: str,
    served_holder_ids: Iterable[int],
    terminal_id: int | None = None,
    place: str = "",
    now: dt.datetime | None = None,
) -> ClassMealConfirmed:
    """Confirm today's meal for these pupils of the class `group`, paying each as the rules say.

    Raises NotATeacherCard, NotASchoolDay, AlreadyConfirmed, InvalidRequest (a pupil not of this
    class, or none) or MealPriceMissing (a pupil to charge has no price); nothing is written then.
    A pupil stopped by the debt limit is not an error: the result reports them.

    Runs in the caller's transaction when there is one (the API's idempotency record commits with
    the confirmation), else in its own durable one.
    """
    moment = now or timezone.now()
    class_meal_teacher_check(institution=institution, card=teacher_card)
    group = group.strip()
    if not group:
        raise InvalidRequest(fields={"group": [gettext("Choose a class.")]})
    wanted = _served_ids(served_holder_ids)
    day = school_day_get(institution=institution, date=local_today(institution=institution, now=moment))
    pupils = {
        holder.pk: holder
        for holder in Cardholder.objects.filter(pk__in=wanted, institution=institution, group=group).only(
            "pk", "name", "price_category_id"
        )
    }
    strangers = [holder_id for holder_id in wanted if holder_id not in pupils]
    if strangers:
        # Ids only: the names of another school's pupils are not the teacher's to see.
        raise InvalidRequest(
            fields={
                "served": [
                    gettext("Cardholder %(id)s is not a pupil of class %(group)s.") % {"id": pk, "group": group}
                    for pk in strangers
                ]
            }
        )
    if ClassMeal.objects.filter(school_day=day, group=group).exists():
        raise AlreadyConfirmed()
    prices = dict(MealPrice.objects.filter(institution=institution).values_list("price_category_id", "price_cents"))
    reason = gettext("Class meal %(group)s %(date)s") % {"group": group, "date": day.date.isoformat()}

    with transaction.atomic(durable=not connection.in_atomic_block):
        class_meal = ClassMeal(
            institution=institution,
            school_day=day,
            group=group,
            teacher_card=teacher_card,
            terminal_id=terminal_id,
            place=place,
            confirmed_at=moment,
        )
        try:
            with transaction.atomic():
                class_meal.save()
        except IntegrityError:
            # Another confirmation of this class committed since the check above.
            raise AlreadyConfirmed() from None
        accounts = holders_accounts_lock(holder_ids=wanted)
        # Re-read under the lock: the lunch line changes an order only while holding its pupil's lock.
        orders = {
            order.holder_id: order
            for order in MealOrder.objects.select_for_update().filter(school_day=day, holder_id__in=wanted)
        }
        unpriced = [
            pupils[pk].name for pk in wanted if _needs_charge(orders.get(pk)) and _price(prices, pupils[pk]) is None
        ]
        if unpriced:
            raise MealPriceMissing(
                gettext("No meal price for: %(names)s. Ask the office to set their price category.")
                % {"names": ", ".join(unpriced)}
            )

        results: list[PupilResult] = []
        created: list[MealOrder] = []
        changed: list[MealOrder] = []
        for pk in wanted:
            holder = pupils[pk]
            order = orders.get(pk)
            if order is not None and order.served_at is not None:
                results.append(PupilResult(pk, holder.name, Outcome.ALREADY_SERVED, order.price_cents or 0))
                continue
            if order is not None and order.status == MealOrder.Status.PAID:
                order.served_at, order.class_meal = moment, class_meal
                changed.append(order)
                results.append(PupilResult(pk, holder.name, Outcome.PAID_BEFORE, order.price_cents or 0))
                continue
            price = _price(prices, holder)
            assert price is not None  # checked above
            try:
                charge = meal_charge(
                    holder_id=pk,
                    institution=institution,
                    price_cents=price,
                    reason=reason,
                    created_by=teacher_card.staff_user,
                    accounts=accounts[pk],
                )
            except DebtLimitReached:
                results.append(PupilResult(pk, holder.name, Outcome.DEBT_LIMIT_REACHED, price, blocked=True))
                continue
            if order is None:
                order = MealOrder(holder_id=pk, school_day=day, option=1, source=MealOrder.Source.CLASS_MEAL)
                created.append(order)
            else:
                if order.status == MealOrder.Status.CANCELLED:  # cancelled, then ate with the class anyway
                    order.option, order.source = 1, MealOrder.Source.CLASS_MEAL
                changed.append(order)
            order.status, order.price_cents, order.ledger_transaction = MealOrder.Status.PAID, price, charge.transaction
            order.served_at, order.class_meal = moment, class_meal
            results.append(
                PupilResult(
                    pk,
                    holder.name,
                    Outcome.CHARGED,
                    price,
                    charged_main=charge.charged_main,
                    charged_extra=charge.from_extra,
                    debt=charge.debt,
                    blocked=charge.blocked,
                )
            )
        MealOrder.objects.bulk_create(created)
        if changed:
            for order in changed:
                order.updated_at = moment
            MealOrder.objects.bulk_update(changed, ORDER_FIELDS)
    results.sort(key=lambda result: (result.name, result.holder_id))
    return ClassMealConfirmed(class_meal=class_meal, pupils=results)


def _price(prices: dict[int, int], holder: Cardholder) -> int | None:
    category = holder.price_category_id
    return None if category is None else prices.get(category)


def _needs_charge(order: MealOrder | None) -> bool:
    return order is None or (order.served_at is None and order.status != MealOrder.Status.PAID)


# --- reads for the info terminal's screen and the receipt ---------------------------------------------


@dataclass(frozen=True)
class ClassRow:
    group: str
    pupils: int
    class_meal: ClassMeal | None  # today's confirmation, if any


@dataclass(frozen=True)
class PupilRow:
    holder_id: int
    name: str
    category: str
    order_status: str | None
    option: int | None
    served: bool  # served today already (lunch line or a class meal)
    at_debt_limit: bool

    @property
    def ordered(self) -> bool:
        """Ticked on the screen: an order that is not cancelled."""
        return self.order_status is not None and self.order_status != MealOrder.Status.CANCELLED


def _natural(text: str) -> tuple[tuple[int, str], ...]:
    # "2A" before "10A".
    return tuple((int(part), "") if part.isdigit() else (0, part.lower()) for part in re.split(r"(\d+)", text) if part)


def class_meal_groups(*, institution: Institution, date: dt.date) -> list[ClassRow]:
    """The classes of the institution (groups with pupils), each with today's confirmation if any."""
    counts = (
        Cardholder.objects.filter(institution=institution)
        .exclude(group="")
        .values_list("group")
        .annotate(pupils=Count("pk"))
    )
    confirmed = {
        class_meal.group: class_meal
        for class_meal in ClassMeal.objects.filter(institution=institution, school_day__date=date)
    }
    rows = [ClassRow(group=group, pupils=pupils, class_meal=confirmed.get(group)) for group, pupils in counts]
    return sorted(rows, key=lambda row: _natural(row.group))


def class_meal_pupils(*, institution: Institution, group: str, date: dt.date) -> list[PupilRow]:
    """The pupils of a class with their meal today: ticked on the screen when they have an order
    that is not cancelled. Three queries whatever the size of the class."""
    holders = list(
        Cardholder.objects.filter(institution=institution, group=group)
        .select_related("price_category")
        .order_by("name", "pk")
    )
    ids = [holder.pk for holder in holders]
    orders = {
        holder_id: (status, option, served_at)
        for holder_id, status, option, served_at in MealOrder.objects.filter(
            holder_id__in=ids, school_day__institution=institution, school_day__date=date
        ).values_list("holder_id", "status", "option", "served_at")
    }
    at_limit = set(
        LedgerAccount.objects.filter(
            holder_id__in=ids, kind=LedgerAccount.Kind.MAIN, floor_cents__lt=0, balance_cents__lte=F("floor_cents")
        ).values_list("holder_id", flat=True)
    )
    rows = []
    for holder in holders:
        status, option, served_at = orders.get(holder.pk, (None, None, None))
        rows.append(
            PupilRow(
                holder_id=holder.pk,
                name=holder.name,
                category=holder.price_category.name if holder.price_category else "",
                order_status=status,
                option=option,
                served=served_at is not None,
                at_debt_limit=holder.pk in at_limit,
            )
        )
    return rows


def class_meal_receipt_get(*, token: str) -> ClassMeal:
    """The confirmation behind a receipt link (a capability: 128 random bits), or NotFound."""
    class_meal = (
        ClassMeal.objects.select_related("institution", "school_day", "teacher_card__staff_user")
        .filter(receipt_token=token)
        .first()
    )
    if class_meal is None:
        raise NotFound()
    return class_meal
