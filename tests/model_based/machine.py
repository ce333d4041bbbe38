"""The money model's state machine: every area's rules over one world, and the invariants checked
after every step against the ledger."""

import datetime as dt
import uuid

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant

from accounts.models import Role
from canteen.meal_deadline import meal_day_close
from canteen.models import ClassMeal, MealOrder
from cards.models import Card
from cards.services import guardianship_create
from payments.ledger import holder_accounts_get
from payments.models import LedgerEntry, LedgerTransaction
from payments.selectors import ledger_mismatches
from payouts.batches import payout_batch_approve, payout_batch_build, payout_batch_export
from tests.factories import (
    CardFactory,
    InstitutionFactory,
    ProductFactory,
    UserFactory,
    holder_with_balances,
    staff_user,
    terminal_with_token,
)
from tests.meal_factories import MealPolicyFactory, MealPriceFactory, SchoolDayFactory, teacher_card_for
from tests.model_based.rules_meals import MealRules
from tests.model_based.rules_payments import PaymentRules
from tests.model_based.rules_payouts import PayoutRules
from tests.model_based.rules_webshop import FIRST_BUYS, Buy, RefundTo, WebshopRules
from tests.model_based.world import (
    DEBT_LIMIT,
    FIRST_DAY,
    GROUPS,
    HOLDERS,
    MEAL_PRICE,
    PRODUCT_PRICES,
    SHARED_KINDS,
    HolderModel,
    Kind,
    MealRequest,
    Order,
    ShopStatus,
    next_school_day,
    sum_of,
    system_total,
)
from webshop.models import ShopItem, ShopOrder
from webshop.orders import places_taken


class MoneyMachine(PaymentRules, MealRules, PayoutRules, WebshopRules, RuleBasedStateMachine):
    """One school, a guardian with three cardholders, a till, an office and two finance users."""

    @initialize(
        # Some open in debt (carried over from an old system), near or at the limit.
        openings=st.lists(
            st.tuples(
                st.integers(0, 10000) | st.sampled_from([-2500, -12500, -14000, -DEBT_LIMIT]), st.integers(0, 15000)
            ),
            min_size=HOLDERS,
            max_size=HOLDERS,
        ),
        walk_ins=st.booleans(),
        first_orders=st.lists(
            st.sampled_from([None, "option 1", "option 2", "cancel", "subscribe"]), min_size=HOLDERS, max_size=HOLDERS
        ),
        first_deadline_ran=st.booleans(),
        shirt_places=st.sampled_from([None, 1]),
        first_buys=st.lists(FIRST_BUYS, min_size=1, max_size=3),
    )
    def world(
        self,
        openings: list[tuple[int, int]],
        walk_ins: bool,
        first_orders: list[str | None],
        first_deadline_ran: bool,
        shirt_places: int | None,
        first_buys: list[Buy],
    ) -> None:
        # A new school per example (examples share the database, which is emptied after the test):
        # its accounts, cardholders, school days and orders are this example's alone.
        self.school = InstitutionFactory(
            name=f"School {uuid.uuid4().hex}", debt_limit_cents=DEBT_LIMIT, time_zone="Europe/Copenhagen"
        )
        self.guardian = UserFactory()
        self.office = staff_user(institution=self.school, role=Role.OFFICE)
        self.builder = staff_user(institution=self.school, role=Role.FINANCE)
        self.approver = staff_user(institution=self.school, role=Role.FINANCE)
        self.products = [ProductFactory(institution=self.school, price_cents=price) for price in PRODUCT_PRICES]
        _terminal, self.token = terminal_with_token(institution=self.school)
        # Refunds an earlier example approved but never paid would join this example's batch: pay them first.
        for batch in payout_batch_build(built_by=self.builder):
            payout_batch_approve(batch=batch, approved_by=self.approver)
            payout_batch_export(batch=batch, exported_by=self.approver)
        self.batch_ids: list[int] = []
        self.baseline = {kind: system_total(kind) for kind in SHARED_KINDS}
        for (main, extra), group in zip(openings, GROUPS, strict=True):
            holder = holder_with_balances(institution=self.school, main=main, extra=extra, group=group)
            guardianship_create(guardian=self.guardian, holder=holder)
            card = CardFactory(holder=holder)
            self.holders.append(
                HolderModel(pk=holder.pk, card_pk=card.pk, uid=card.uid, main=main, extra=extra, group=group)
            )
            self.totals.corrected += main + extra  # opening balances come from the corrections account
        MealPriceFactory(
            institution=self.school, price_category=self.holders_db()[0].price_category, price_cents=MEAL_PRICE
        )
        # The meal calendar: today and tomorrow are school days; each new day brings the one after.
        MealPolicyFactory(institution=self.school, option2_minimum=1, walk_ins_allowed=walk_ins)
        self.walk_ins = walk_ins
        self.today = FIRST_DAY
        self.school_days = {
            date: SchoolDayFactory(institution=self.school, date=date)
            for date in (FIRST_DAY, next_school_day(FIRST_DAY))
        }
        self.closed: set[dt.date] = set()  # days the deadline job has settled
        self.class_meals: set[tuple[dt.date, str]] = set()
        self.meal_requests: list[MealRequest] = []
        self.teacher = teacher_card_for(institution=self.school)
        self.info_token = terminal_with_token(institution=self.school, name="Info 1")[1]
        self.line_token = terminal_with_token(institution=self.school, name="Lunch line")[1]
        # The first day's orders, placed before its deadline (14:00 on the Friday before).
        friday = FIRST_DAY - dt.timedelta(days=3)
        for holder, choice in zip(self.holders, first_orders, strict=True):
            if choice is not None:
                self.order_placed(holder, choice, date=FIRST_DAY, now=self.at(13, date=friday))
        if first_deadline_ran:
            meal_day_close(school_day=self.school_days[FIRST_DAY], now=self.at(14, date=friday))
            self.settle_model(FIRST_DAY)
        self.shop_world(shirt_places=shirt_places, first_buys=first_buys)

    # --- invariants, after every step ---------------------------------------------------------------

    @invariant()
    def ledger_is_consistent(self) -> None:
        if not self.holders:
            return
        assert ledger_mismatches() == []

    @invariant()
    def balances_match_the_model_and_their_floors(self) -> None:
        for holder in self.holders:
            accounts = holder_accounts_get(holder_id=holder.pk)
            assert (accounts.main.balance_cents, accounts.extra.balance_cents) == (holder.main, holder.extra)
            assert accounts.extra.balance_cents >= 0
            assert accounts.main.balance_cents >= -DEBT_LIMIT
            assert Card.objects.get(pk=holder.card_pk).status == holder.card_status

    @invariant()
    def no_money_made_or_lost(self) -> None:
        if not self.holders:
            return
        t = self.totals
        on_balances = sum(h.main + h.extra for h in self.holders)
        # The model's own books: what came in is on the balances or went out.
        assert on_balances == (
            t.topped_up
            + t.corrected
            - t.sold
            - t.meals
            - t.fees
            - t.refunded
            - t.shop_sold_from_extra
            + t.shop_refunded_to_extra
        )
        # The ledger's system accounts agree with the model, edge by edge.
        moved = {kind: system_total(kind) - self.baseline[kind] for kind in SHARED_KINDS}
        assert moved == {
            Kind.PROVIDER_CLEARING: -t.topped_up - t.shop_sold_by_provider + t.shop_refunded_to_provider,
            Kind.CORRECTIONS: -t.corrected,
            Kind.PAYOUT_CLEARING: t.refunded - t.payout_costs - t.exported,
            Kind.PAYOUT_SENT: t.exported - t.paid,
            Kind.BANK: t.paid,
            Kind.PAYOUT_COSTS: t.payout_costs,
        }
        shop_sold = t.shop_sold_from_extra + t.shop_sold_by_provider
        shop_refunded = t.shop_refunded_to_extra + t.shop_refunded_to_provider
        assert system_total(Kind.REVENUE, self.school) == t.sold + t.meals + t.cash + shop_sold - shop_refunded
        assert system_total(Kind.CASH, self.school) == -t.cash
        assert system_total(Kind.CARD_FEES, self.school) == t.fees
        # Every meal (a class meal, the lunch line, the deadline job) credits the school's revenue:
        # the meal orders' part is linked to their orders.
        meal_revenue = LedgerEntry.objects.filter(
            account__kind=Kind.REVENUE, account__institution=self.school, transaction__kind=LedgerTransaction.Kind.MEAL
        )
        assert sum_of(meal_revenue) == t.meals
        assert sum_of(meal_revenue.filter(transaction__meal_order__isnull=False)) == t.order_meals
        # The webshop's sales and refunds each reach revenue as their own movement.
        revenue = LedgerEntry.objects.filter(account__kind=Kind.REVENUE, account__institution=self.school)
        assert sum_of(revenue.filter(transaction__kind=LedgerTransaction.Kind.WEBSHOP)) == shop_sold
        assert sum_of(revenue.filter(transaction__kind=LedgerTransaction.Kind.REFUND)) == -shop_refunded

    @invariant()
    def meal_orders_and_class_meals_match_the_model(self) -> None:
        if not self.holders:
            return
        orders = MealOrder.objects.filter(holder_id__in=[h.pk for h in self.holders]).values_list(
            "holder_id", "school_day__date", "status", "option", "served_at", "price_cents"
        )
        # One row per cardholder and day: served at most once a day.
        assert {(h, d): (status, option, served is not None) for h, d, status, option, served, _p in orders} == {
            (holder.pk, date): (order.status, order.option, order.served)
            for holder in self.holders
            for date, order in holder.orders.items()
        }
        assert sum(price or 0 for _h, _d, status, _o, _s, price in orders if status == Order.PAID) == (
            self.totals.order_meals
        )
        confirmed = ClassMeal.objects.filter(institution=self.school).values_list("school_day__date", "group")
        assert set(confirmed) == self.class_meals

    @invariant()
    def webshop_orders_match_the_model(self) -> None:
        """Each order's status, where its refund went (through the provider: the provider was asked)
        and its payment's status; per item, the places taken within the cap, one paid per cardholder."""
        if not self.shop_items:
            return
        rows = ShopOrder.objects.filter(item_id__in=[i.pk for i in self.shop_items]).values_list(
            "pk", "item_id", "holder_id", "paid_with", "status", "refund_to", "refund_reference", "payment__status"
        )
        assert {
            pk: (item, holder, paid_with, status, to, bool(ref), paid)
            for pk, item, holder, paid_with, status, to, ref, paid in rows
        } == {
            o.pk: (
                self.shop_items[o.item].pk,
                self.holders[o.holder].pk,
                o.paid_with,
                o.status,
                o.refunded_to,
                o.refunded_to == RefundTo.PROVIDER,
                o.payment_status if o.payment_reference else None,
            )
            for o in self.shop_orders
        }
        for index, item in enumerate(self.shop_items):
            orders = [o for o in self.shop_orders if o.item == index]
            paid_holders = [o.holder for o in orders if o.status == ShopStatus.PAID]
            assert len(paid_holders) == len(set(paid_holders))  # one paid place per cardholder
            held = self.places_held(index)
            assert item.capacity is None or held <= item.capacity
            assert places_taken(item=ShopItem(pk=item.pk)) == held
            paid = ShopOrder.objects.filter(item_id=item.pk, status=ShopStatus.PAID).count()
            assert paid == len(paid_holders)
