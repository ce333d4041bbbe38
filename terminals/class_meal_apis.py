"""`POST /api/v1/terminal/class-meals` (API.md): a teacher confirms the pupils of a class served a meal [PZ]."""

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from canteen.class_meals import ClassMealConfirmed, class_meal_confirm
from cards.selectors import card_get_by_uid
from cardsystem.api import error_responses, validated
from cardsystem.money import cents_to_str, currency
from payments.idempotency import IDEMPOTENCY_HEADER, idempotency_key, idempotent_run, request_fingerprint
from terminals import class_meal_serializers as s
from terminals.apis import TerminalApiView


def class_meal_body(confirmed: ClassMealConfirmed) -> dict[str, Any]:
    """The API's answer; the info terminal's screen stores and shows the same."""
    class_meal = confirmed.class_meal
    return {
        "id": class_meal.pk,
        "group": class_meal.group,
        "date": class_meal.school_day.date.isoformat(),
        "confirmed_at": class_meal.confirmed_at.isoformat(),
        "receipt_url": reverse("class_meals:receipt", args=[class_meal.receipt_token]),
        "receipt_pdf_url": reverse("class_meals:receipt_pdf", args=[class_meal.receipt_token]),
        "currency": currency(),
        "pupils": [
            {
                "holder": pupil.holder_id,
                "name": pupil.name,
                "outcome": pupil.outcome.value,
                "served": pupil.served,
                "price": cents_to_str(pupil.price_cents),
                "charged_main": cents_to_str(pupil.charged_main),
                "charged_extra": cents_to_str(pupil.charged_extra),
                "debt": cents_to_str(pupil.debt),
                "blocked": pupil.blocked,
            }
            for pupil in confirmed.pupils
        ],
    }


class ClassMealApi(TerminalApiView):
    @extend_schema(
        operation_id="terminal_class_meal_confirm",
        request=s.ClassMealInput,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: s.ClassMealOutput, **error_responses(400, 401, 403, 404, 409, 422)},
        summary="A teacher card confirms today's meal for pupils of a class; each is charged as the meal rules say.",
        description=(
            "403 `not_a_teacher_card`: not an active teacher card of a teacher of this school. "
            "409 `already_confirmed`: the class's meal today is confirmed already; `not_a_school_day`; "
            "`no_meal_price`. 400 `invalid_request`: a pupil who is not of the class. 404 `card_unknown`."
        ),
    )
    def post(self, request: Request) -> Response:
        key = idempotency_key(request)
        data = validated(s.ClassMealInput, request.data)
        terminal = self.terminal(request)

        def run() -> tuple[int, dict[str, Any]]:
            confirmed = class_meal_confirm(
                institution=terminal.institution,
                teacher_card=card_get_by_uid(uid=data["teacher_uid"]),
                group=data["group"],
                served_holder_ids=data["served"],
                terminal_id=terminal.pk,
                place=terminal.name,
            )
            return 201, class_meal_body(confirmed)

        fingerprint = request_fingerprint(method="POST", path=request.path, body=request.data)
        status, body = idempotent_run(caller=f"terminal:{terminal.pk}", key=key, fingerprint=fingerprint, run=run)
        return Response(body, status=status)
