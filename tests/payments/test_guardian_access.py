"""Every guardian page and endpoint, asked by another family for this family's ids: 404, nothing changes.

`test_every_guardian_url_is_in_the_matrix` walks the URL configuration, so a new page or endpoint
under /portal/ or /api/v1/me/ fails here until it is added to the matrix (or to the pages that
take no id, which build their choices from the signed-in guardian's own cardholders).
"""

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.services import personal_token_create
from canteen.meal_orders import meal_order_place
from canteen.models import MealOrder, MealSubscription, SchoolDay
from cards.models import Card, Cardholder, ReplacementOrder
from cards.services import guardianship_create
from payments.auto_topups import auto_topup_set
from payments.ledger import holder_accounts_get
from payments.models import AutoTopUp, Payment, PaymentMandate
from payments.replacements import card_replacement_order, replacement_fee_payment
from payments.topups import AllocationRequest, topup_create
from payouts.models import RefundRequest
from tests.factories import PASSWORD, CardFactory, UserFactory, holder_with_balances
from tests.webshop.factories import item_for_groups
from webshop.models import ShopItem, ShopOrder
from webshop.orders import order_create

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _own_cache(settings: Any) -> Iterator[None]:
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "access"}}
    cache.clear()
    yield
    cache.clear()


@dataclass
class Family:
    """The victim: a guardian with a cardholder, cards, a top-up, an automatic top-up, a token, an order."""

    holder: Cardholder
    card: Card
    replaced: Card
    payment: Payment
    rule: AutoTopUp
    token_id: int
    meal_order: MealOrder
    shop_item: ShopItem
    shop_order: ShopOrder  # paid from the balance
    shop_pending: ShopOrder  # awaiting the provider

    @classmethod
    def create(cls) -> "Family":
        guardian = UserFactory()
        holder = holder_with_balances(main=10000, extra=10000)
        guardianship_create(guardian=guardian, holder=holder)
        card = CardFactory(holder=holder)
        replaced = CardFactory(holder=holder)
        order = card_replacement_order(guardian=guardian, card=replaced, paid_with=ReplacementOrder.PaidWith.PROVIDER)
        replacement_fee_payment(guardian=guardian, order=order)
        payment = topup_create(
            guardian=guardian, allocations=[AllocationRequest(holder_id=holder.pk, balance="main", amount_cents=5000)]
        )
        mandate = PaymentMandate.objects.create(guardian=guardian, provider="test", reference="m-victim")
        rule = auto_topup_set(
            guardian=guardian,
            holder_id=holder.pk,
            balance="main",
            threshold_cents=100,
            amount_cents=5000,
            mandate_id=mandate.pk,
        )
        token, _raw = personal_token_create(user=guardian, name="victim's script")
        # A school day a fortnight ahead, open for orders, with the family's order on it.
        day = SchoolDay.objects.create(
            institution=holder.institution,
            date=dt.date.today() + dt.timedelta(days=14),
            option1="Soup",
            option2="Pasta",
        )
        meal_order = meal_order_place(holder=holder, date=day.date, option=1, source="guardian")
        # A trip for the holder's group, bought from the balance, and a camp awaiting the provider.
        trip = item_for_groups(holder.group, institution=holder.institution, balance_allowed=True, price_cents=1000)
        camp = item_for_groups(holder.group, institution=holder.institution)
        shop_order = order_create(guardian=guardian, item_id=trip.pk, holder_id=holder.pk, paid_with="balance")
        pending = order_create(guardian=guardian, item_id=camp.pk, holder_id=holder.pk, paid_with="provider")
        return cls(holder, card, replaced, payment, rule, token.pk, meal_order, trip, shop_order, pending)

    def state(self) -> tuple[Any, ...]:
        """Everything the requests could change."""
        accounts = holder_accounts_get(holder_id=self.holder.pk)
        self.holder.refresh_from_db()
        return (
            accounts.main.balance_cents,
            accounts.extra.balance_cents,
            self.holder.low_balance_alert_cents,
            tuple(Card.objects.filter(holder=self.holder).order_by("pk").values_list("status", flat=True)),
            tuple(Payment.objects.order_by("pk").values_list("status", flat=True)),
            Payment.objects.count(),
            tuple(AutoTopUp.objects.filter(pk=self.rule.pk).values_list("active", "paused_reason")),
            ReplacementOrder.objects.count(),
            tuple(MealOrder.objects.order_by("pk").values_list("option", "status")),
            MealSubscription.objects.count(),
            RefundRequest.objects.count(),
            tuple(self.holder.category_blocks.values_list("pk", flat=True)),
            tuple(ShopOrder.objects.order_by("pk").values_list("status", flat=True)),
        )


@pytest.fixture
def victim() -> Family:
    return Family.create()


@pytest.fixture
def stranger() -> Client:
    """Another family's guardian, signed in, with a cardholder of their own."""
    user = UserFactory()
    guardianship_create(guardian=user, holder=holder_with_balances(main=5000))
    client = Client()
    client.force_login(user)
    return client


def requests_for(family: Family) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(URL name, method, path, body) for every guardian URL that names something of the family's."""
    h, c, r = family.holder.pk, family.card.number, family.replaced.number
    assert family.shop_pending.payment is not None
    pending_reference = family.shop_pending.payment.reference
    password = {"password": PASSWORD}
    return [
        ("guardian_holder", "get", f"/api/v1/me/holders/{h}", {}),
        ("guardian_holder", "patch", f"/api/v1/me/holders/{h}", {"low_balance_alert": "1.00"}),
        ("guardian_holder_transactions", "get", f"/api/v1/me/holders/{h}/transactions", {}),
        ("guardian_card_block", "post", f"/api/v1/me/cards/{c}/block", password),
        ("guardian_card_unblock", "post", f"/api/v1/me/cards/{c}/unblock", password),
        ("guardian_card_replace", "post", f"/api/v1/me/cards/{c}/replace", password),
        ("topups:api_detail", "get", f"/api/v1/me/topups/{family.payment.pk}", {}),
        ("topups:status", "get", f"/portal/topups/{family.payment.pk}/", {}),
        ("topups:auto_stop", "form", f"/portal/auto-topup/{family.rule.pk}/stop/", {}),
        ("cardpages:detail", "get", f"/portal/cards/{c}/", {}),
        ("cardpages:detail", "form", f"/portal/cards/{c}/", {"action": "block", "block-password": PASSWORD}),
        ("cardpages:pay_fee", "form", f"/portal/cards/{r}/pay-fee/", {}),
        ("accounts:token_revoke", "form", f"/portal/tokens/{family.token_id}/revoke/", {}),
        ("controls:holder_settings", "get", f"/portal/holders/{h}/settings/", {}),
        ("controls:holder_settings", "form", f"/portal/holders/{h}/settings/", {"low_balance_alert": "1.00"}),
        ("portal:history", "get", f"/portal/holders/{h}/history/", {}),
        ("portal:history_csv", "get", f"/portal/holders/{h}/history.csv", {}),
        ("portal:statement", "get", f"/portal/holders/{h}/statement/2026-11.pdf", {}),
        ("guardian_meal_order", "delete", f"/api/v1/me/meal-orders/{family.meal_order.pk}", {}),
        ("guardian_holder_meals", "get", f"/api/v1/me/holders/{h}/meals", {}),
        ("meals:calendar", "get", f"/portal/holders/{h}/meals/", {}),
        (
            "meals:calendar",
            "form",
            f"/portal/holders/{h}/meals/",
            {"date": str(family.meal_order.school_day.date), "choice": "2"},
        ),
        ("portal_refund", "get", f"/portal/holders/{h}/refund/", {}),
        ("portal_refund", "form", f"/portal/holders/{h}/refund/", {"payee_name": "X", "payee_cpr": "0101901234"}),
        ("meals:subscription", "form", f"/portal/holders/{h}/meals/subscription/", {"subscribed": "1"}),
        ("webshop:item", "get", f"/portal/shop/items/{family.shop_item.pk}/", {}),
        ("webshop:item", "form", f"/portal/shop/items/{family.shop_item.pk}/", {"holder": h, "paid_with": "balance"}),
        ("webshop:order", "get", f"/portal/shop/orders/{family.shop_order.pk}/", {}),
        ("webshop:order_pdf", "get", f"/portal/shop/orders/{family.shop_order.pk}/receipt.pdf", {}),
        ("webshop:payment_return", "get", f"/portal/shop/paid/{pending_reference}/", {}),
    ]


# Pages with no id in the path: their choices come from the signed-in guardian's own cardholders
# (each page's tests post another family's holder and see it refused).
NO_ID_NAMES = {
    "guardian_holders",
    "topups:api_create",
    "topups:new",
    "topups:auto",
    "accounts:tokens",
    "transfers:new",
    "portal:home",
    "cards:link",
    "guardian_meal_orders",  # the holder is in the body: test_meal_orders_api posts another family's
    "guardian_refunds",  # the holder is in the body: test_refund_api posts another family's
    "privacy:page",
    "privacy:export",  # the signed-in guardian's own family: test_export checks another's is absent
    "webshop:shop",  # the items of the signed-in guardian's own cardholders (tests/webshop/test_pages.py)
}


def send(client: Client, method: str, path: str, body: dict[str, Any]) -> Any:
    if method == "get":
        return client.get(path)
    if method == "delete":
        return client.delete(path)
    if method == "form":
        return client.post(path, body)
    return getattr(client, method)(path, data=json.dumps(body), content_type="application/json")


@pytest.mark.parametrize("index", range(30))
def test_another_familys_ids_are_not_found_and_change_nothing(index: int, victim: Family, stranger: Client) -> None:
    name, method, path, body = requests_for(victim)[index]
    before = victim.state()

    response = send(stranger, method, path, body)

    assert response.status_code == 404, (name, method, path, response.status_code)
    assert victim.state() == before, (name, method, path)


def test_the_matrix_covers_each_request_once(victim: Family) -> None:
    assert len(requests_for(victim)) == 30


def _guardian_url_names(resolver: URLResolver, prefix: str = "", namespace: str = "") -> Iterator[tuple[str, str]]:
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}:{pattern.namespace}" if namespace and pattern.namespace else pattern.namespace
            yield from _guardian_url_names(pattern, route, inner or namespace)
        elif isinstance(pattern, URLPattern) and route.startswith(("portal/", "api/v1/me/")):
            yield route, f"{namespace}:{pattern.name}" if namespace else str(pattern.name)


def test_every_guardian_url_is_in_the_matrix(victim: Family) -> None:
    covered = {name for name, *_rest in requests_for(victim)} | NO_ID_NAMES
    names = {name for _route, name in _guardian_url_names(get_resolver())}

    assert names - covered == set()


def test_a_guardian_reads_their_own_holder_by_id(victim: Family) -> None:
    guardian = victim.holder.guardianships.get().guardian
    client = Client()
    client.force_login(guardian)

    body = client.get(f"/api/v1/me/holders/{victim.holder.pk}").json()

    # Extra: 100.00 less the trip's 10.00 bought from it.
    assert (body["id"], body["balances"]["main"], body["balances"]["extra"]) == (victim.holder.pk, "100.00", "90.00")
