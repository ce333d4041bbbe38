"""The model's world: its constants, the plain Python model of what the ledger should hold, and helpers."""

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Sum

from canteen.models import MealOrder
from cards.models import Card
from payments.models import LedgerAccount, LedgerEntry, Payment
from webshop.models import ShopOrder

HOLDERS = 3
DEBT_LIMIT = 15000
MEAL_PRICE = 2500
PAYOUT_COST = 100
REPLACEMENT_FEE = 2500
PRODUCT_PRICES = (2500, 500, 1200)
VALID_CPR = "0707614285"
Kind = LedgerAccount.Kind
Order = MealOrder.Status
COPENHAGEN = ZoneInfo("Europe/Copenhagen")
FIRST_DAY = dt.date(2026, 12, 7)  # a Monday
GROUPS = ("5B", "5B", "6A")  # each cardholder's class
PURCHASES = "/api/v1/terminal/purchases"
MEAL_SERVE = "/api/v1/terminal/meals/serve"
CLASS_MEALS = "/api/v1/terminal/class-meals"
# When a card is read at the lunch line (serving is 11:15–13:45, the end not included): (hour, minute, second).
READ_AT = {"lunch": (12, 10, 0), "opens": (11, 15, 0), "too_early": (11, 14, 59), "closed": (13, 45, 0)}
# The webshop: a trip from the extra balance or the provider, for every class, with two places; and
# a T-shirt for class 5B, at the provider only, in a size (its places drawn per example).
TRIP_PRICE = 1500
SHIRT_PRICE = 4500
TRIP_PLACES = 2
SHIRT_SIZES = ("S", "M")
ShopStatus = ShopOrder.Status
PaymentStatus = Payment.Status


def next_school_day(date: dt.date) -> dt.date:
    """The next Monday to Friday: every weekday is a school day in the model's calendar."""
    date += dt.timedelta(days=1)
    while date.weekday() >= 5:
        date += dt.timedelta(days=1)
    return date


def system_total(kind: str, institution: Any = None) -> int:
    """The balance of the system accounts of this kind (the institution's, if given): the sum of their entries."""
    entries = LedgerEntry.objects.filter(account__kind=kind, account__holder__isnull=True)
    if institution is not None:
        entries = entries.filter(account__institution=institution)
    return int(entries.aggregate(total=Sum("amount_cents"))["total"] or 0)


def sum_of(entries: Any) -> int:
    return int(entries.aggregate(total=Sum("amount_cents"))["total"] or 0)


# Accounts shared by the whole deployment: each example checks how far they moved from its start.
SHARED_KINDS = (
    Kind.PROVIDER_CLEARING,
    Kind.CORRECTIONS,
    Kind.PAYOUT_CLEARING,
    Kind.PAYOUT_SENT,
    Kind.BANK,
    Kind.PAYOUT_COSTS,
)


@dataclass
class OrderModel:
    """What the model expects of one cardholder's meal order on one school day."""

    status: str = Order.ORDERED
    option: int = 1
    served: bool = False


@dataclass
class HolderModel:
    """What the model expects of one cardholder."""

    pk: int
    card_pk: int
    uid: str
    main: int = 0
    extra: int = 0
    card_status: str = Card.Status.ACTIVE
    refunded: bool = False
    group: str = GROUPS[0]
    subscribed: bool = False
    orders: dict[dt.date, OrderModel] = field(default_factory=dict)

    @property
    def at_debt_limit(self) -> bool:
        return self.main <= -DEBT_LIMIT


@dataclass
class MealRequest:
    """A meal request a terminal sent, kept so that it can be sent again later with its key."""

    path: str
    token: str
    key: str
    body: dict[str, Any]
    answer: tuple[int, dict[str, Any]]


@dataclass
class PaymentModel:
    reference: str
    allocations: list[tuple[int, str, int]]  # (holder index, balance, amount)
    status: str = Payment.Status.PENDING


@dataclass
class Totals:
    """Money that crossed the edge of the cardholders' balances, as the model counts it."""

    topped_up: int = 0  # provider clearing → balances
    sold: int = 0  # extra → revenue (buffet)
    meals: int = 0  # main/extra → revenue (organised meals, however paid)
    order_meals: int = 0  # the part of `meals` paid for meal orders (deadline, lunch line, class meals)
    cash: int = 0  # cash → revenue
    fees: int = 0  # extra → card fees
    corrected: int = 0  # corrections → balances (net)
    refunded: int = 0  # balances → payout clearing + costs
    payout_costs: int = 0
    exported: int = 0  # payout clearing → sent
    paid: int = 0  # sent → bank
    shop_sold_from_extra: int = 0  # extra → revenue (webshop)
    shop_sold_by_provider: int = 0  # provider clearing → revenue (webshop, refunded at once or not)
    shop_refunded_to_extra: int = 0  # revenue → extra
    shop_refunded_to_provider: int = 0  # revenue → provider clearing
    approved_refunds: list[int] = field(default_factory=list)  # refund ids awaiting a batch


@dataclass
class ShopItemModel:
    """What the model knows of one webshop item."""

    pk: int
    price: int
    groups: tuple[str, ...]
    capacity: int | None
    balance_allowed: bool
    option_pks: list[int] = field(default_factory=list)


@dataclass
class ShopOrderModel:
    """What the model expects of one webshop order and, if paid at the provider, of its payment."""

    pk: int
    item: int  # index into the machine's items
    holder: int  # index into the machine's holders
    paid_with: str
    status: str = ShopStatus.PENDING
    payment_reference: str = ""  # none when paid from the extra balance
    refunded_to: str = ""
    payment_status: str = PaymentStatus.PENDING
    overdue: bool = False  # the payment's `expires_at` is in the past

    @property
    def holds_a_place(self) -> bool:
        """Paid, or waiting for a provider payment that may still succeed."""
        if self.status == ShopStatus.PAID:
            return True
        return self.status == ShopStatus.PENDING and self.payment_status == PaymentStatus.PENDING and not self.overdue


def credit_debt_first(holder: HolderModel, *, to_main: int, to_extra: int) -> None:
    """A top-up or a correction credit: money meant for extra repays a negative main first."""
    main_after = holder.main + to_main
    repay = min(to_extra, max(0, -main_after))
    holder.main = main_after + repay
    holder.extra += to_extra - repay
    if holder.main >= 0 and holder.card_status == Card.Status.DEBT_BLOCKED:
        holder.card_status = Card.Status.ACTIVE
