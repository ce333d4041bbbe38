"""Rules for the money that leaves: refunds of a closing account, payout batches, bank returns."""

import time_machine
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from cards.models import Card
from payouts.batches import payout_batch_approve, payout_batch_build, payout_batch_export, return_file_import
from payouts.models import Payout, RefundRequest
from payouts.refunds import DebtOutstanding, refund_approve, refund_request_create
from tests.model_based.base import MachineBase
from tests.model_based.world import HOLDERS, PAYOUT_COST, VALID_CPR, Order


class PayoutRules(MachineBase):
    # --- refunds and payouts ----------------------------------------------------------------------

    # Rare (one draw in four acts): a refunded cardholder is out of play for the rest of the example.
    @rule(index=st.integers(0, HOLDERS - 1), act=st.integers(0, 3))
    def refund(self, index: int, act: int) -> None:
        holder = self.in_play(index)
        if holder is None or act:
            return
        holder_db = next(h for h in self.holders_db() if h.pk == holder.pk)

        def ask_and_approve() -> RefundRequest:
            requested = refund_request_create(
                holder=holder_db, requested_by=self.guardian, payee_name="Jens Hansen", payee_cpr=VALID_CPR
            )
            return refund_approve(refund=requested.refund, approved_by=self.office)

        if holder.main < 0:
            assert isinstance(self.refused(ask_and_approve), DebtOutstanding)
            return
        # The account closes (at noon on the model's day): the subscription stops and every order not
        # yet paid from today on is cancelled, binding or not, so no deadline job charges it later.
        with time_machine.travel(self.at(12, 0), tick=False):
            refund = ask_and_approve()
        holder.subscribed = False
        for date, order in holder.orders.items():
            if date >= self.today and order.status == Order.ORDERED:
                order.status = Order.CANCELLED
        balance = holder.main + holder.extra
        cost = min(PAYOUT_COST, balance)
        assert (refund.balance_cents, refund.cost_cents, refund.amount_cents) == (balance, cost, balance - cost)
        self.totals.refunded += balance
        self.totals.payout_costs += cost
        if balance - cost > 0:
            self.totals.approved_refunds.append(refund.pk)
        holder.main = holder.extra = 0
        holder.refunded = True
        if holder.card_status in (Card.Status.ACTIVE, Card.Status.BLOCKED, Card.Status.DEBT_BLOCKED):
            holder.card_status = Card.Status.RETURNED

    @precondition(lambda self: self.totals.approved_refunds)
    @rule()
    def payout_batch(self) -> None:
        [batch] = payout_batch_build(built_by=self.builder)
        payout_batch_approve(batch=batch, approved_by=self.approver)
        payout_batch_export(batch=batch, exported_by=self.approver)
        self.batch_ids.append(batch.pk)
        payouts = list(Payout.objects.filter(batch=batch))
        assert sorted(p.refund_id for p in payouts) == sorted(self.totals.approved_refunds)
        self.totals.exported += sum(p.amount_cents for p in payouts)
        self.totals.approved_refunds = []

    @precondition(lambda self: self.totals.exported > self.totals.paid)
    @rule(twice=st.booleans())
    def bank_return_completed(self, twice: bool) -> None:
        exported = Payout.objects.filter(batch_id__in=self.batch_ids, status=Payout.Status.EXPORTED)
        content = "reference,status,code,text\n" + "".join(f"{p.reference},completed,,\n" for p in exported)
        for _ in range(2 if twice else 1):
            return_file_import(content=content.encode(), filename="return.csv", imported_by=self.approver)
        self.totals.paid = self.totals.exported
