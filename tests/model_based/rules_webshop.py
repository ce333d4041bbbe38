"""Rules for the institution webshop: places bought from the extra balance or at the provider, the
provider's callbacks (a success with no place left is paid back at once), payments running out,
and refunds by the office to the extra balance or through the provider."""

import datetime as dt
from typing import NamedTuple

from django.utils import timezone
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from cards.models import Card
from cardsystem.errors import DomainError, InvalidRequest, NotFound
from payments.errors import DebtLimitReached, InsufficientFunds
from payments.models import Payment
from payments.providers.test import simulated_callback_deliver, simulated_event
from payments.topups import payments_expire_overdue
from tests.model_based.base import MachineBase
from tests.model_based.world import (
    GROUPS,
    HOLDERS,
    SHIRT_PRICE,
    SHIRT_SIZES,
    TRIP_PLACES,
    TRIP_PRICE,
    PaymentStatus,
    ShopItemModel,
    ShopOrderModel,
    ShopStatus,
)
from tests.webshop.factories import item_for_groups
from webshop.errors import AlreadyBought, BalanceNotAllowed, NotRefundable, SoldOut
from webshop.models import ShopOrder
from webshop.orders import order_create, order_refund

PaidWith = ShopOrder.PaidWith
RefundTo = ShopOrder.RefundTo


class Buy(NamedTuple):
    """One purchase the guardian tries."""

    index: int  # the cardholder
    item: int  # 0: the trip, 1: the T-shirt
    paid_with: str
    option_fits: bool  # False: no size for the T-shirt, or a T-shirt size for the trip
    size: int
    # At the provider's page: "succeeded" or "failed" at once, "left" (the payment runs out), or
    # None (the verdict comes in a later step).
    page: str | None


BUYS = st.builds(
    Buy,
    index=st.integers(0, HOLDERS - 1),
    item=st.integers(0, 1),
    paid_with=st.sampled_from([PaidWith.BALANCE, PaidWith.PROVIDER]),
    option_fits=st.sampled_from([True, True, True, True, True, False]),
    size=st.integers(0, len(SHIRT_SIZES) - 1),
    page=st.sampled_from([None, "succeeded", "failed", "left"]),
)
# The purchases an example starts with: each one the shop offers (the trip from the balance, or
# either item at the provider), for a cardholder of a class it is offered to.
FIRST_BUYS = st.builds(
    Buy,
    index=st.integers(0, HOLDERS - 1),
    item=st.just(0),
    paid_with=st.sampled_from([PaidWith.BALANCE, PaidWith.PROVIDER]),
    option_fits=st.just(True),
    size=st.just(0),
    page=st.sampled_from([None, None, "succeeded", "left"]),
) | st.builds(
    Buy,
    index=st.sampled_from([i for i, group in enumerate(GROUPS) if group == GROUPS[0]]),
    item=st.just(1),
    paid_with=st.just(PaidWith.PROVIDER),
    option_fits=st.just(True),
    size=st.integers(0, len(SHIRT_SIZES) - 1),
    page=st.sampled_from([None, None, "succeeded", "left"]),
)


class WebshopRules(MachineBase):
    """The webshop's world, rules and model; `MoneyMachine` checks the orders after every step."""

    def shop_world(self, *, shirt_places: int | None, first_buys: list[Buy]) -> None:
        """The school's webshop: a trip for every class (extra balance or provider, two places), and a
        T-shirt for class 5B in a size (provider only; one place or no limit); and the first purchases."""
        deadline = timezone.now() + dt.timedelta(days=365)  # open for the whole example
        trip = item_for_groups(
            *sorted(set(GROUPS)),
            institution=self.school,
            name="Zoo trip",
            price_cents=TRIP_PRICE,
            capacity=TRIP_PLACES,
            balance_allowed=True,
            deadline=deadline,
        )
        shirt = item_for_groups(
            GROUPS[0],
            options=SHIRT_SIZES,
            institution=self.school,
            name="Camp T-shirt",
            price_cents=SHIRT_PRICE,
            capacity=shirt_places,
            deadline=deadline,
        )
        self.shop_items = [
            ShopItemModel(trip.pk, TRIP_PRICE, tuple(sorted(set(GROUPS))), TRIP_PLACES, balance_allowed=True),
            ShopItemModel(
                shirt.pk,
                SHIRT_PRICE,
                (GROUPS[0],),
                shirt_places,
                balance_allowed=False,
                option_pks=list(shirt.options.order_by("position").values_list("pk", flat=True)),
            ),
        ]
        for buy in first_buys:
            self.shop_buy(buy)

    def places_held(self, item: int, *, besides: ShopOrderModel | None = None) -> int:
        return sum(o.holds_a_place for o in self.shop_orders if o.item == item and o is not besides)

    def buy_refusal(self, *, index: int, item: int, paid_with: str, option_fits: bool) -> type[DomainError] | None:
        """Which refusal `order_create` should raise, in the order it checks, or None."""
        shop_item, holder = self.shop_items[item], self.holders[index]
        # A cardholder whose account a refund closed is still at the school: the webshop still offers
        # them its items (with or without a card).
        if holder.group not in shop_item.groups:
            return NotFound
        if paid_with == PaidWith.BALANCE and not shop_item.balance_allowed:
            return BalanceNotAllowed
        if not option_fits:
            return InvalidRequest
        if any(o.holds_a_place for o in self.shop_orders if o.item == item and o.holder == index):
            return AlreadyBought
        if shop_item.capacity is not None and self.places_held(item) >= shop_item.capacity:
            return SoldOut
        if paid_with == PaidWith.BALANCE and (holder.at_debt_limit or holder.card_status == Card.Status.DEBT_BLOCKED):
            return DebtLimitReached
        if paid_with == PaidWith.BALANCE and holder.extra < shop_item.price:
            return InsufficientFunds
        return None

    def shop_buy(self, buy: Buy) -> None:
        """The guardian buys a place for a cardholder: from the extra balance (paid at once) or at the
        provider (pending until its callback, which comes now or in a later step). A misfit option is
        none for the T-shirt, or a T-shirt size for the trip."""
        shop_item = self.shop_items[buy.item]
        sizes = self.shop_items[1].option_pks
        if shop_item.option_pks:
            option_id = shop_item.option_pks[buy.size] if buy.option_fits else None
        else:
            option_id = None if buy.option_fits else sizes[buy.size]
        holder = self.holders[buy.index]
        bought: list[ShopOrder] = []
        error = self.refused(
            lambda: bought.append(
                order_create(
                    guardian=self.guardian,
                    item_id=shop_item.pk,
                    holder_id=holder.pk,
                    option_id=option_id,
                    paid_with=buy.paid_with,
                )
            )
        )
        expected = self.buy_refusal(
            index=buy.index, item=buy.item, paid_with=buy.paid_with, option_fits=buy.option_fits
        )
        assert (None if error is None else type(error)) is expected, error
        if expected is not None:
            return
        [order] = bought
        model = ShopOrderModel(order.pk, buy.item, buy.index, buy.paid_with)
        if buy.paid_with == PaidWith.BALANCE:
            assert order.status == ShopStatus.PAID
            model.status = ShopStatus.PAID
            holder.extra -= shop_item.price
            self.totals.shop_sold_from_extra += shop_item.price
        else:
            assert order.status == ShopStatus.PENDING and order.payment is not None
            model.payment_reference = order.payment.reference
        self.shop_orders.append(model)
        if buy.paid_with == PaidWith.PROVIDER and buy.page == "left":
            self.payment_overdue(model)
        elif buy.paid_with == PaidWith.PROVIDER and buy.page:
            self.shop_verdict(model, buy.page)

    # Several at once, so that the places fill up within an example's few steps.
    @rule(buys=st.lists(BUYS, min_size=1, max_size=4))
    def shop_purchases(self, buys: list[Buy]) -> None:
        """The guardian buys places, one after another (the same cardholder and item, perhaps)."""
        for buy in buys:
            self.shop_buy(buy)

    def shop_payment_model(self, order: ShopOrderModel, outcome: str) -> None:
        """The provider's verdict on the model: a success sells the place, or pays the money straight
        back through the provider when the holder has a paid place already or the others fill the item."""
        if order.payment_status in (PaymentStatus.SUCCEEDED, PaymentStatus.FAILED):
            return  # final already: a repeated or contradicting callback changes nothing
        if outcome == "failed":
            if order.payment_status == PaymentStatus.PENDING:  # an expired payment stays expired
                order.payment_status = PaymentStatus.FAILED
            return
        item = self.shop_items[order.item]
        taken_elsewhere = any(
            o.status == ShopStatus.PAID and o.item == order.item and o.holder == order.holder for o in self.shop_orders
        )
        full = item.capacity is not None and self.places_held(order.item, besides=order) >= item.capacity
        order.payment_status = PaymentStatus.SUCCEEDED
        self.totals.shop_sold_by_provider += item.price
        if taken_elsewhere or full:
            order.status, order.refunded_to = ShopStatus.REFUNDED, RefundTo.PROVIDER
            self.totals.shop_refunded_to_provider += item.price
        else:
            order.status = ShopStatus.PAID

    def provider_orders(self) -> list[ShopOrderModel]:
        return [o for o in self.shop_orders if o.payment_reference]

    def shop_verdict(self, order: ShopOrderModel, outcome: str, *, times: int = 1) -> None:
        """The provider's callback for the order's payment, sometimes twice (a retried webhook)."""
        payment = Payment.objects.get(reference=order.payment_reference)
        for _ in range(times):
            simulated_callback_deliver(simulated_event(payment=payment, outcome=outcome, save_card=False))  # type: ignore[arg-type]
        self.shop_payment_model(order, outcome)

    @precondition(lambda self: self.provider_orders())
    @rule(
        which=st.integers(0, 50),
        decided=st.sampled_from([False, False, True]),
        outcome=st.sampled_from(["succeeded", "succeeded", "failed"]),
        times=st.integers(1, 2),
    )
    def shop_callback(self, which: int, decided: bool, outcome: str, times: int) -> None:
        """The provider's callback for a webshop payment still undecided (open or run out), or for one
        already decided (a late or contradicting webhook: it changes nothing)."""
        final = (PaymentStatus.SUCCEEDED, PaymentStatus.FAILED)
        orders = self.provider_orders()
        chosen = [o for o in orders if (o.payment_status in final) == decided] or orders
        self.shop_verdict(chosen[which % len(chosen)], outcome, times=times)

    def payment_overdue(self, order: ShopOrderModel) -> None:
        """The payment's time runs out (it is not marked expired until the sweep runs)."""
        Payment.objects.filter(reference=order.payment_reference).update(
            expires_at=timezone.now() - dt.timedelta(minutes=1)
        )
        order.overdue = True

    def open_payments(self) -> list[ShopOrderModel]:
        return [o for o in self.provider_orders() if o.payment_status == PaymentStatus.PENDING and not o.overdue]

    @precondition(lambda self: self.open_payments())
    @rule(
        which=st.integers(0, 50),
        sweep=st.booleans(),
        again=st.sampled_from([None, PaidWith.BALANCE, PaidWith.PROVIDER, PaidWith.PROVIDER]),
        again_for=st.integers(0, HOLDERS - 1),
        late_outcome=st.sampled_from([None, "succeeded", "succeeded", "failed"]),
    )
    def shop_payment_runs_out(
        self, which: int, sweep: bool, again: str | None, again_for: int, late_outcome: str | None
    ) -> None:
        """The guardian leaves the provider's page: the payment's time runs out and its place is free
        again; sometimes the sweep marks it expired. The guardian may buy the item at once for the same
        or another cardholder (from the balance, or at the provider and paid), and the first payment's
        verdict may come after all: a success then finds the holder with a place, or the item full,
        and is paid back; or it takes a place still free."""
        orders = self.open_payments()
        order = orders[which % len(orders)]
        self.payment_overdue(order)
        if sweep:
            payments_expire_overdue()
            for other in self.provider_orders():
                if other.overdue and other.payment_status == PaymentStatus.PENDING:
                    other.payment_status = PaymentStatus.EXPIRED
        if again is not None:
            self.shop_buy(Buy(again_for, order.item, again, True, 0, "succeeded"))
        if late_outcome is not None:
            self.shop_verdict(order, late_outcome)

    @precondition(lambda self: self.shop_orders)
    @rule(
        which=st.integers(0, 50),
        paid=st.sampled_from([True, True, False]),
        refund_to=st.sampled_from([RefundTo.BALANCE, RefundTo.PROVIDER]),
        twice=st.booleans(),
    )
    def shop_refund(self, which: int, paid: bool, refund_to: str, twice: bool) -> None:
        """The office refunds an order (a paid one, mostly): only a paid one (NotRefundable), through
        the provider only what was paid there (InvalidRequest); a second refund is NotRefundable."""
        chosen = [o for o in self.shop_orders if (o.status == ShopStatus.PAID) == paid] or self.shop_orders
        order = chosen[which % len(chosen)]

        def refund() -> None:
            order_refund(
                order=ShopOrder.objects.get(pk=order.pk), refund_to=refund_to, reason="Trip cancelled", by=self.office
            )

        error = self.refused(refund)
        if order.status != ShopStatus.PAID:
            expected: type[DomainError] | None = NotRefundable
        elif refund_to == RefundTo.PROVIDER and order.paid_with == PaidWith.BALANCE:
            expected = InvalidRequest
        else:
            expected = None
        assert (None if error is None else type(error)) is expected, error
        if expected is None:
            price = self.shop_items[order.item].price
            order.status, order.refunded_to = ShopStatus.REFUNDED, refund_to
            if refund_to == RefundTo.BALANCE:
                self.holders[order.holder].extra += price
                self.totals.shop_refunded_to_extra += price
            else:
                self.totals.shop_refunded_to_provider += price
            if twice:
                assert isinstance(self.refused(refund), NotRefundable)
