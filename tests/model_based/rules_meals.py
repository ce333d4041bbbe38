"""Rules for the organised meals: the meal rule, guardians' orders, the deadline job, the lunch
line, class meals confirmed by a teacher card, and terminals retrying their meal requests."""

import datetime as dt
from typing import Any

import time_machine
from django.db import transaction
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from canteen.errors import OrderDeadlinePassed
from canteen.meal_deadline import meal_day_close
from canteen.meal_orders import meal_order_cancel, meal_order_place, meal_subscription_set
from canteen.meal_payments import meal_charge
from canteen.models import MealOrder
from cards.models import Card, Cardholder
from cardsystem.money import cents_to_str
from payments.errors import DebtLimitReached
from tests.meal_factories import SchoolDayFactory
from tests.model_based.base import MachineBase
from tests.model_based.world import (
    CLASS_MEALS,
    DEBT_LIMIT,
    GROUPS,
    HOLDERS,
    MEAL_PRICE,
    MEAL_SERVE,
    READ_AT,
    HolderModel,
    MealRequest,
    Order,
    OrderModel,
    next_school_day,
)


class MealRules(MachineBase):
    # --- organised meals --------------------------------------------------------------------------

    def charge_meal(self, holder: HolderModel) -> tuple[int, int, int] | None:
        """The meal rule on the model: main's credit first, then extra, the rest as debt on main down to
        the limit, where the active cards are debt-blocked. Returns (from main with the debt, from
        extra, debt), or None, changing nothing, when the holder is at the limit or would pass it."""
        from_main = min(MEAL_PRICE, max(0, holder.main))
        from_extra = min(MEAL_PRICE - from_main, max(0, holder.extra))
        debt = MEAL_PRICE - from_main - from_extra
        if holder.at_debt_limit or holder.main - from_main - debt < -DEBT_LIMIT:
            return None
        holder.main -= from_main + debt
        holder.extra -= from_extra
        self.totals.meals += MEAL_PRICE
        if holder.at_debt_limit and holder.card_status == Card.Status.ACTIVE:
            holder.card_status = Card.Status.DEBT_BLOCKED
        return from_main + debt, from_extra, debt

    def pay_order(self, holder: HolderModel) -> tuple[int, int, int] | None:
        charged = self.charge_meal(holder)
        if charged is not None:
            self.totals.order_meals += MEAL_PRICE
        return charged

    @rule(index=st.integers(0, HOLDERS - 1))
    def meal(self, index: int) -> None:
        holder = self.in_play(index)
        if holder is None:
            return

        def charge() -> None:
            with transaction.atomic(durable=True):
                meal_charge(holder_id=holder.pk, institution=self.school, price_cents=MEAL_PRICE, reason="Lunch")

        error = self.refused(charge)
        if self.charge_meal(holder) is None:
            assert isinstance(error, DebtLimitReached)
        else:
            assert error is None

    # --- meal orders and the deadline job ---------------------------------------------------------

    def order_placed(self, holder: HolderModel, choice: str, *, date: dt.date, now: dt.datetime) -> None:
        """The guardian orders option 1 or 2 for `date`, or cancels, before its deadline; or (un)subscribes."""
        holder_db = Cardholder.objects.select_related("institution").get(pk=holder.pk)
        if choice in ("subscribe", "unsubscribe"):
            holder.subscribed = meal_subscription_set(holder=holder_db, subscribed=choice == "subscribe")
        elif choice == "cancel":
            meal_order_cancel(holder=holder_db, date=date, now=now)
            holder.orders.setdefault(date, OrderModel()).status = Order.CANCELLED
        else:
            option = int(choice[-1])
            meal_order_place(holder=holder_db, date=date, option=option, source=MealOrder.Source.GUARDIAN, now=now)
            holder.orders[date] = OrderModel(option=option)

    @rule(
        index=st.integers(0, HOLDERS - 1),
        choice=st.sampled_from(["option 1", "option 2", "cancel", "subscribe", "unsubscribe", "too late"]),
    )
    def meal_order(self, index: int, choice: str) -> None:
        """The guardian orders, changes or cancels tomorrow's meal before its deadline (14:00 today), or
        (un)subscribes to option 1 from the next deadline on. Today's meal can no longer be ordered."""
        holder = self.in_play(index)
        if holder is None:
            return
        if choice != "too late":
            self.order_placed(holder, choice, date=next_school_day(self.today), now=self.at(13, 59, 59))
            return
        holder_db = Cardholder.objects.select_related("institution").get(pk=holder.pk)
        error = self.refused(
            lambda: meal_order_place(
                holder=holder_db, date=self.today, option=1, source=MealOrder.Source.GUARDIAN, now=self.at(9)
            )
        )
        assert isinstance(error, OrderDeadlinePassed)

    def settle_model(self, date: dt.date) -> None:
        """The deadline job on the model: subscribers without a row get option 1, then every open
        order is paid by the meal rule, or marked unpaid where the debt limit stops it."""
        for holder in self.holders:
            if holder.subscribed and date not in holder.orders:
                holder.orders[date] = OrderModel()
            order = holder.orders.get(date)
            if order is not None and order.status == Order.ORDERED:
                order.status = Order.PAID if self.pay_order(holder) else Order.UNPAID
        self.closed.add(date)

    @rule(deadline_job_ran=st.sampled_from([True, True, False]))
    def next_day(self, deadline_job_ran: bool) -> None:
        """At 14:00 the deadline job settles tomorrow's orders (unless it is down: then the lunch line
        pays them), and the model moves on to the next school day."""
        tomorrow = next_school_day(self.today)
        if deadline_job_ran:
            meal_day_close(school_day=self.school_days[tomorrow], now=self.at(14))
            self.settle_model(tomorrow)
        self.today = tomorrow
        after = next_school_day(tomorrow)
        self.school_days[after] = SchoolDayFactory(institution=self.school, date=after)

    @precondition(lambda self: self.today not in self.closed)
    @rule()
    def deadline_job_catching_up(self) -> None:
        """The deadline job, down at 14:00 yesterday, settles today's orders in the middle of lunch."""
        with time_machine.travel(self.at(12, 20), tick=True):
            meal_day_close(school_day=self.school_days[self.today])
        self.settle_model(self.today)

    # --- the lunch line ---------------------------------------------------------------------------

    def serve_model(self, holder: HolderModel, when: str) -> str | int:
        """What the lunch line should do for this card read: a refusal's code, or the amount charged
        (0 for an order the deadline paid); the model is updated for a meal served."""
        if holder.card_status == Card.Status.DEBT_BLOCKED:
            return "debt_limit_reached"
        if holder.card_status != Card.Status.ACTIVE:
            return "card_blocked"
        if when == "saturday":
            return "not_a_school_day"
        if when in ("too_early", "closed"):
            return "outside_serving_hours"
        order = holder.orders.get(self.today)
        if order is not None and order.served:
            return "already_served_today"
        ordered = order is not None and order.status != Order.CANCELLED
        if not ordered and not self.walk_ins:
            return "no_meal_ordered"
        charged = 0
        if order is None or order.status != Order.PAID:
            if self.pay_order(holder) is None:
                return "debt_limit_reached"
            charged = MEAL_PRICE
            if order is None or order.status == Order.CANCELLED:  # a walk-in, or came after cancelling
                order = OrderModel(option=1)
            order.status = Order.PAID
        order.served = True
        holder.orders[self.today] = order
        return charged

    @rule(
        queue=st.lists(st.integers(0, HOLDERS - 1), min_size=1, max_size=HOLDERS + 1),
        when=st.sampled_from(["lunch"] * 6 + ["opens", "too_early", "closed", "queued", "saturday"]),
        again=st.sampled_from([None, "replay", "read again"]),
    )
    def serve_at_lunch_line(self, queue: list[int], when: str, again: str | None) -> None:
        """Cards on the lunch-line reader, one after another (a card may come back); after each, sometimes
        the same request again (a retry) or the card read again."""
        if when == "saturday":
            moment = self.at(12, date=self.today + dt.timedelta(days=5 - self.today.weekday()))
        else:
            # A queued read: read at 12:10 while the network was down, delivered after serving hours.
            moment = self.at(14, 30) if when == "queued" else self.at(*READ_AT[when])
        for index in queue:
            holder = self.holders[index]
            body: dict[str, Any] = {"uid": holder.uid}
            if when == "queued":
                body["read_at"] = self.at(12, 10).isoformat()  # served as of then
            key = self.new_key()
            with time_machine.travel(moment, tick=True):
                status, answer = self.terminal_post(body, key, path=MEAL_SERVE, token=self.line_token)
                self.check_served(holder, when, status, answer)
                if again == "replay":
                    assert self.terminal_post(body, key, path=MEAL_SERVE, token=self.line_token) == (status, answer)
                elif again == "read again":
                    reread = self.terminal_post(body, self.new_key(), path=MEAL_SERVE, token=self.line_token)
                    self.check_served(holder, when, *reread)
            self.meal_requests.append(MealRequest(MEAL_SERVE, self.line_token, key, body, (status, answer)))

    def check_served(self, holder: HolderModel, when: str, status: int, answer: dict[str, Any]) -> None:
        expected = self.serve_model(holder, when)
        if isinstance(expected, str):
            assert (status, answer["error"]["code"]) == (409, expected), answer
            return
        assert status == 201, answer
        assert answer["charged"] == cents_to_str(expected)
        assert answer["option"] == holder.orders[self.today].option
        assert answer["balances"] == {"main": cents_to_str(holder.main), "extra": cents_to_str(holder.extra)}

    # --- class meals ------------------------------------------------------------------------------

    def class_meal_model(self, pupils: list[HolderModel]) -> list[dict[str, Any]]:
        """Each pupil of a confirmation as the API should report them; the model is updated."""
        results = []
        for holder in sorted(pupils, key=lambda h: h.pk):
            order = holder.orders.get(self.today)
            result = {"holder": holder.pk, "price": cents_to_str(MEAL_PRICE), "blocked": False}
            charged = (0, 0, 0)
            if order is not None and order.served:
                outcome = "already_served"
            elif order is not None and order.status == Order.PAID:
                outcome = "paid_before"
                order.served = True
            elif (paid := self.pay_order(holder)) is None:
                outcome, result["blocked"] = "debt_limit_reached", True
            else:
                outcome, charged, result["blocked"] = "charged", paid, holder.at_debt_limit
                if order is None or order.status == Order.CANCELLED:  # ate with the class all the same
                    order = holder.orders[self.today] = OrderModel(option=1)
                order.status, order.served = Order.PAID, True
            result["outcome"] = outcome
            result["served"] = outcome in ("charged", "paid_before")
            result["charged_main"], result["charged_extra"], result["debt"] = map(cents_to_str, charged)
            results.append(result)
        return results

    @rule(
        group=st.sampled_from(sorted(set(GROUPS))),
        ticks=st.lists(st.booleans(), min_size=HOLDERS, max_size=HOLDERS),
        stranger=st.integers(0, 5),
        refusal=st.sampled_from([None, None, None, None, None, "pupil card", "saturday"]),
        again=st.sampled_from([None, "replay", "confirm again"]),
    )
    def class_meal(self, group: str, ticks: list[bool], stranger: int, refusal: str | None, again: str | None) -> None:
        """A teacher card confirms the ticked pupils of a class served; sometimes the same request
        again (a retry: the first answer) or a new confirmation (409 already_confirmed)."""
        # A pupil who was refunded has left: the teacher does not tick them.
        pupils = [
            h for h, tick in zip(self.holders, ticks, strict=True) if tick and h.group == group and not h.refunded
        ]
        outsider = next((h for h in self.holders if h.group != group), None)
        if not stranger and outsider is not None:
            pupils.append(outsider)  # a pupil of another class: nothing is written
        if not pupils:
            return
        teacher_uid = self.holders[0].uid if refusal == "pupil card" else self.teacher.uid
        body = {"teacher_uid": teacher_uid, "group": group, "served": [h.pk for h in pupils]}
        saturday = self.today + dt.timedelta(days=5 - self.today.weekday())
        moment = self.at(12, 30, date=saturday if refusal == "saturday" else None)
        key = self.new_key()
        with time_machine.travel(moment, tick=True):
            status, answer = self.terminal_post(body, key, path=CLASS_MEALS, token=self.info_token)
            if again == "replay":
                assert self.terminal_post(body, key, path=CLASS_MEALS, token=self.info_token) == (status, answer)
            elif again == "confirm again":
                again_status, again_answer = self.terminal_post(
                    body, self.new_key(), path=CLASS_MEALS, token=self.info_token
                )
        self.meal_requests.append(MealRequest(CLASS_MEALS, self.info_token, key, body, (status, answer)))
        if refusal == "pupil card":
            expected: tuple[int, str] | None = (403, "not_a_teacher_card")
        elif refusal == "saturday":
            expected = (409, "not_a_school_day")
        elif any(h.group != group for h in pupils):
            expected = (400, "invalid_request")
        elif (self.today, group) in self.class_meals:
            expected = (409, "already_confirmed")
        else:
            expected = None
        if expected is not None:
            assert (status, answer["error"]["code"]) == expected, answer
        else:
            assert status == 201, answer
            self.class_meals.add((self.today, group))
            keys = ("holder", "outcome", "served", "price", "charged_main", "charged_extra", "debt", "blocked")
            reported = sorted(({k: pupil[k] for k in keys} for pupil in answer["pupils"]), key=lambda p: p["holder"])
            assert reported == self.class_meal_model(pupils)
        if again == "confirm again":
            # Confirmed by the first request, or refused as it was: nothing is charged twice.
            second = (409, "already_confirmed") if expected is None else expected
            assert (again_status, again_answer["error"]["code"]) == second, again_answer

    # --- a terminal retrying a meal request later -------------------------------------------------

    @precondition(lambda self: self.meal_requests)
    @rule(which=st.integers(0, 50), tamper=st.booleans())
    def meal_request_retried(self, which: int, tamper: bool) -> None:
        """A terminal sends an earlier meal request again with its key, at today's lunch (a day later,
        perhaps, whatever happened since): the first answer, and nothing moves. The same key with
        another body is refused with 422 and moves nothing either."""
        sent = self.meal_requests[which % len(self.meal_requests)]
        body = dict(sent.body)
        if tamper:
            if sent.path == MEAL_SERVE:
                body["sequence"] = 7  # the reader's counter: another request
            else:
                body["group"] = next(g for g in GROUPS if g != body["group"])
        with time_machine.travel(self.at(12, 40), tick=True):
            status, answer = self.terminal_post(body, sent.key, path=sent.path, token=sent.token)
        if tamper:
            assert (status, answer["error"]["code"]) == (422, "idempotency_key_reused"), answer
        else:
            assert (status, answer) == sent.answer
