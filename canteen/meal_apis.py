"""The guardian API for meals (API.md): order and cancel a cardholder's meal, and read a month.

Session or `Authorization: Bearer <personal token>`, as the rest of the guardian API. Holders and
orders are looked up from `holder_list_for_guardian`, so another family's is a 404 and nothing changes.
"""

import datetime as dt
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from canteen import meal_serializers as s
from canteen.meal_calendar import local_today, order_deadline
from canteen.meal_orders import guardian_meal_order_get, meal_order_cancel, meal_order_place
from canteen.meal_selectors import MealDay, holder_meal_month
from canteen.models import MealOrder, SchoolDay
from cards.models import Cardholder
from cards.selectors import holder_list_for_guardian
from cardsystem.api import error_responses, validated
from cardsystem.errors import NotFound
from cardsystem.money import cents_to_str, currency
from payments.apis import GuardianApiView


def meal_order_body(order: MealOrder, deadline: dt.datetime, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """An order as the API shows it; `deadline` is its day's (in the institution's time zone)."""
    moment = now or timezone.now()
    return {
        "id": order.pk,
        "holder": order.holder_id,
        "date": order.school_day.date.isoformat(),
        "option": order.option,
        "status": order.status,
        "deadline": deadline.isoformat(),
        "open": moment < deadline,
        "source": order.source,
        "served": order.served_at is not None,
        "moved_from_option2": order.moved_from_option2,
        "price": None if order.price_cents is None else cents_to_str(order.price_cents),
    }


def _menu_option(name: str, allergens: str) -> dict[str, str]:
    return {"name": name, "allergens": allergens}


def _menu_body(day: SchoolDay) -> dict[str, Any]:
    return {
        "option1": _menu_option(day.option1, day.option1_allergens),
        "option2": _menu_option(day.option2, day.option2_allergens) if day.offers_option2 else None,
    }


def meal_day_body(day: MealDay, *, now: dt.datetime) -> dict[str, Any]:
    return {
        "date": day.date.isoformat(),
        "deadline": day.deadline.isoformat(),
        "open": day.is_open,
        "menu": _menu_body(day.school_day),
        "option2_dropped": day.school_day.option2_dropped,
        "order": None if day.order is None else meal_order_body(day.order, day.deadline, now=now),
        "option": day.option,
        "state": day.state,
    }


class MealGuardianApiView(GuardianApiView):
    def holders(self, request: Request) -> QuerySet[Cardholder]:
        # Balances and cards are not needed here: the plain guardian scope with the institution.
        return holder_list_for_guardian(user=self.guardian(request)).select_related("institution")

    def holder(self, request: Request, holder_id: int) -> Cardholder:
        if holder_id > s.MAX_ID:  # no such id can exist; the database would refuse to compare it
            raise NotFound()
        return super().holder(request, holder_id)


class MealOrderCreateApi(MealGuardianApiView):
    @extend_schema(
        operation_id="guardian_meal_order_create",
        request=s.MealOrderInput,
        responses={201: s.MealOrderOutput, **error_responses(400, 401, 404, 409)},
        summary=(
            "Order option 1 or 2 of a school day's meal for one of the guardian's cardholders, or change the "
            "option, until the deadline (14:00 on the previous school day). 409 order_deadline_passed, "
            "not_a_school_day, option_not_offered."
        ),
    )
    def post(self, request: Request) -> Response:
        data = validated(s.MealOrderInput, request.data)
        holder = self.holder(request, data["holder"])
        order = meal_order_place(
            holder=holder,
            date=data["date"],
            option=data["option"],
            source=MealOrder.Source.GUARDIAN,
            ordered_by=self.guardian(request),
        )
        return Response(meal_order_body(order, order_deadline(school_day=order.school_day)), status=201)


class MealOrderApi(MealGuardianApiView):
    @extend_schema(
        operation_id="guardian_meal_order_cancel",
        request=None,
        responses={204: None, **error_responses(401, 404, 409)},
        summary="Cancel an order until the deadline: it costs nothing. 409 order_deadline_passed.",
    )
    def delete(self, request: Request, order_id: int) -> Response:
        if order_id > s.MAX_ID:
            raise NotFound()
        order = guardian_meal_order_get(guardian=self.guardian(request), order_id=order_id)
        meal_order_cancel(holder=order.holder, date=order.school_day.date, cancelled_by=self.guardian(request))
        return Response(status=204)


class HolderMealMonthApi(MealGuardianApiView):
    @extend_schema(
        operation_id="guardian_holder_meals",
        parameters=[
            OpenApiParameter(
                "month", str, description="YYYY-MM; the current month at the holder's institution when left out."
            )
        ],
        responses={200: s.MealMonthOutput, **error_responses(400, 401, 404)},
        summary=(
            "The school days of a month with the menu, the order deadline and the holder's meal: their own "
            "order, or option 1 by the subscription."
        ),
    )
    def get(self, request: Request, holder_id: int) -> Response:
        query = validated(s.MealMonthQuery, request.query_params)
        holder = self.holder(request, holder_id)
        now = timezone.now()
        first = query.get("month") or local_today(institution=holder.institution, now=now).replace(day=1)
        month = holder_meal_month(holder=holder, year=first.year, month=first.month, now=now)
        return Response(
            {
                "holder": holder.pk,
                "month": f"{first.year:04d}-{first.month:02d}",
                "currency": currency(),
                "price": None if month.price_cents is None else cents_to_str(month.price_cents),
                "subscribed": month.subscribed,
                "option2_minimum": month.policy.option2_minimum,
                "days": [meal_day_body(day, now=now) for day in month.days],
            }
        )
