"""Ordering and cancelling meals until the deadline [SL], by a guardian, a pupil at the self-service
terminal, or a subscription.

Nothing is paid here: an order is a wish until the deadline makes it binding
(`canteen.meal_deadline`). A cancelled order costs nothing; one placed again is the same row.
"""

import datetime as dt

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from canteen.errors import OptionNotOffered, OrderDeadlinePassed
from canteen.meal_calendar import meal_policy_get, order_deadline, school_day_get
from canteen.models import MealOrder, MealSubscription, SchoolDay
from cards.models import Cardholder
from cards.selectors import holder_list_for_guardian
from cardsystem.errors import InvalidRequest, NotFound


def _open_day(*, holder: Cardholder, date: dt.date, now: dt.datetime | None) -> SchoolDay:
    day = school_day_get(institution=holder.institution, date=date)
    if (now or timezone.now()) >= order_deadline(
        school_day=day, policy=meal_policy_get(institution=holder.institution)
    ):
        raise OrderDeadlinePassed()
    return day


def meal_order_place(
    *,
    holder: Cardholder,
    date: dt.date,
    option: int,
    source: str,
    ordered_by: User | None = None,
    now: dt.datetime | None = None,
) -> MealOrder:
    """Order (or change to) `option` for the holder's meal on `date`, before the deadline.

    Raises NotASchoolDay, OrderDeadlinePassed, OptionNotOffered or InvalidRequest (nothing written).
    """
    if option not in (1, 2):
        raise InvalidRequest(fields={"option": ["1 or 2"]})
    day = _open_day(holder=holder, date=date, now=now)
    if option == 2 and not day.offers_option2:
        raise OptionNotOffered()
    with transaction.atomic():
        order = MealOrder.objects.select_for_update().filter(holder=holder, school_day=day).first()
        if order is None:
            try:
                with transaction.atomic():
                    return MealOrder.objects.create(
                        holder=holder, school_day=day, option=option, source=source, ordered_by=ordered_by
                    )
            except IntegrityError:  # placed at the same moment from another device: change that one
                order = MealOrder.objects.select_for_update().get(holder=holder, school_day=day)
        order.option, order.status, order.source, order.ordered_by = (
            option,
            MealOrder.Status.ORDERED,
            source,
            ordered_by,
        )
        order.save(update_fields=["option", "status", "source", "ordered_by", "updated_at"])
    return order


def meal_order_cancel(
    *,
    holder: Cardholder,
    date: dt.date,
    cancelled_by: User | None = None,
    source: str = MealOrder.Source.GUARDIAN,
    now: dt.datetime | None = None,
) -> MealOrder:
    """Cancel the holder's meal on `date` before the deadline: costs nothing.

    Also for a subscriber with no order that day: the cancelled row keeps the subscription from
    ordering option 1 at the deadline.
    """
    day = _open_day(holder=holder, date=date, now=now)
    with transaction.atomic():
        order, _created = MealOrder.objects.select_for_update().get_or_create(
            holder=holder,
            school_day=day,
            defaults={
                "status": MealOrder.Status.CANCELLED,
                "source": source,
                "ordered_by": cancelled_by,
            },
        )
        if order.status != MealOrder.Status.CANCELLED:
            order.status, order.ordered_by = MealOrder.Status.CANCELLED, cancelled_by
            order.save(update_fields=["status", "ordered_by", "updated_at"])
    return order


def guardian_meal_order_get(*, guardian: User, order_id: int) -> MealOrder:
    """One of the guardian's cardholders' orders, or NotFound."""
    order = (
        MealOrder.objects.select_related("holder__institution", "school_day")
        .filter(pk=order_id, holder__in=holder_list_for_guardian(user=guardian))
        .first()
    )
    if order is None:
        raise NotFound()
    return order


def meal_subscription_set(*, holder: Cardholder, subscribed: bool, changed_by: User | None = None) -> bool:
    """Subscribe the holder to option 1 on every school day, or stop; returns whether subscribed now.

    Days whose deadline has passed are settled already; the change counts from the next deadline.
    """
    if subscribed:
        MealSubscription.objects.get_or_create(holder=holder, defaults={"created_by": changed_by})
    else:
        MealSubscription.objects.filter(holder=holder).delete()
    return subscribed


def meal_plans_end(*, holder: Cardholder) -> int:
    """The holder's account closed (refund, leaving): no subscription, and every meal order not yet
    paid from today on is cancelled, its deadline passed or not, so nothing is charged to a closed
    account. Paid orders stay paid. Returns how many orders were cancelled; idempotent."""
    MealSubscription.objects.filter(holder=holder).delete()
    today = timezone.localdate(timezone=holder.institution.zone)
    return MealOrder.objects.filter(holder=holder, status=MealOrder.Status.ORDERED, school_day__date__gte=today).update(
        status=MealOrder.Status.CANCELLED, updated_at=timezone.now()
    )
