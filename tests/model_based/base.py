"""What every area's rules share: the machine's state and the helpers to drive the app."""

import datetime as dt
import json
import uuid
from collections.abc import Callable
from typing import Any

from django.test import Client

from accounts.models import Institution, User
from canteen.models import Product, SchoolDay
from cards.models import Card, Cardholder
from cardsystem.errors import DomainError
from tests.model_based.world import (
    COPENHAGEN,
    HOLDERS,
    PURCHASES,
    HolderModel,
    MealRequest,
    PaymentModel,
    ShopItemModel,
    ShopOrderModel,
    Totals,
)


class MachineBase:
    """The state the rules of every area read and change; `MoneyMachine.world` sets it up."""

    school: Institution
    guardian: User
    office: User
    builder: User
    approver: User
    products: list[Product]
    token: str
    batch_ids: list[int]
    baseline: dict[str, int]
    walk_ins: bool
    today: dt.date
    school_days: dict[dt.date, SchoolDay]
    closed: set[dt.date]  # days the deadline job has settled
    class_meals: set[tuple[dt.date, str]]
    meal_requests: list[MealRequest]
    teacher: Card
    info_token: str
    line_token: str

    def __init__(self) -> None:
        super().__init__()
        self.holders: list[HolderModel] = []
        self.payments: list[PaymentModel] = []
        self.totals = Totals()
        self.keys = 0
        self.shop_items: list[ShopItemModel] = []
        self.shop_orders: list[ShopOrderModel] = []

    def holders_db(self) -> list[Cardholder]:
        return [Cardholder.objects.get(pk=h.pk) for h in self.holders]

    def in_play(self, index: int) -> HolderModel | None:
        holder = self.holders[index % HOLDERS]
        return None if holder.refunded else holder

    def terminal_post(
        self, body: dict[str, Any], key: str | None, *, path: str = PURCHASES, token: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token or self.token}"}
        if key:
            headers["HTTP_IDEMPOTENCY_KEY"] = key
        response = Client().post(path, data=json.dumps(body), content_type="application/json", **headers)
        return response.status_code, response.json()

    def at(self, hour: int, minute: int = 0, second: int = 0, *, date: dt.date | None = None) -> dt.datetime:
        """A wall-clock moment at the school, today unless another date is given."""
        return dt.datetime.combine(date or self.today, dt.time(hour, minute, second), tzinfo=COPENHAGEN)

    def new_key(self) -> str:
        self.keys += 1
        return f"model-{self.keys}-{uuid.uuid4().hex[:8]}"

    @staticmethod
    def refused(call: Callable[[], Any]) -> DomainError | None:
        try:
            call()
        except DomainError as error:
            return error
        return None
