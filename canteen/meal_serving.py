"""The lunch line: a card on the reader gets its meal once a day, on school days, in the serving window [SL].

A paid order is marked served and charged nothing more. An order the deadline did not pay (the
debt limit stopped it, or it came in as the deadline passed) is paid now. Without an order, the
pupil is served only where the institution allows walk-ins, at the category price. Two readers
racing for one card are serialised on the cardholder's balances lock, and the unique order per
cardholder and day is the backstop: the second is `already_served_today`.
"""

import datetime as dt
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import Institution, User
from canteen.errors import AlreadyServedToday, NoMealOrdered, OutsideServingHours
from canteen.meal_calendar import local_today, meal_policy_get, meal_price_cents, school_day_get, serving_now
from canteen.meal_payments import MealCharge, meal_charge
from canteen.models import MealOrder
from canteen.services import card_refusal
from cards.models import Card
from cardsystem.errors import NotFound
from payments.ledger import holder_accounts_lock


@dataclass(frozen=True)
class MealServed:
    order: MealOrder
    charged_cents: int
    main_after: int
    extra_after: int


def meal_serve(
    *,
    institution: Institution,
    card: Card,
    served_by: User | None = None,
    now: dt.datetime | None = None,
) -> MealServed:
    """Serve today's meal to the card's holder at this institution, paying it if not paid yet.

    Raises CardBlocked or DebtLimitReached (the card), NotFound (a card of another institution),
    NotASchoolDay, OutsideServingHours, AlreadyServedToday, NoMealOrdered; nothing is written then.
    """
    moment = now or timezone.now()
    refusal = card_refusal(card=card)
    if refusal is not None:
        raise refusal
    holder = card.holder
    assert holder is not None  # card_refusal refuses staff cards
    if holder.institution_id != institution.pk:
        raise NotFound()
    day = school_day_get(institution=institution, date=local_today(institution=institution, now=moment))
    policy = meal_policy_get(institution=institution)
    if not serving_now(policy=policy, institution=institution, now=moment):
        raise OutsideServingHours()
    # In the caller's transaction when there is one (the API's idempotency record commits with the
    # meal), else in its own.
    with transaction.atomic(durable=not connection.in_atomic_block):
        accounts = holder_accounts_lock(holder_id=holder.pk)
        order = MealOrder.objects.select_for_update().filter(holder=holder, school_day=day).first()
        if order is not None and order.served_at is not None:
            raise AlreadyServedToday()
        ordered = order is not None and order.status != MealOrder.Status.CANCELLED
        if not ordered and not policy.walk_ins_allowed:
            raise NoMealOrdered()
        charged = 0
        if order is None or order.status != MealOrder.Status.PAID:
            price = meal_price_cents(holder=holder)
            charge: MealCharge = meal_charge(
                holder_id=holder.pk,
                institution=institution,
                price_cents=price,
                reason=gettext("Meal %(date)s") % {"date": day.date.isoformat()},
                created_by=served_by,
                accounts=accounts,
            )
            charged = price
            if order is None:
                order = MealOrder(holder=holder, school_day=day, option=1, source=MealOrder.Source.WALK_IN)
            elif not ordered:  # cancelled earlier, then came anyway where walk-ins are allowed
                order.option, order.source = 1, MealOrder.Source.WALK_IN
            order.status, order.price_cents, order.ledger_transaction = MealOrder.Status.PAID, price, charge.transaction
        order.served_at = moment
        order.save()
    return MealServed(
        order=order,
        charged_cents=charged,
        main_after=accounts.main.balance_cents,
        extra_after=accounts.extra.balance_cents,
    )
