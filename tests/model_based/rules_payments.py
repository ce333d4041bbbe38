"""Rules for the money that comes and goes outside meals: top-ups and their callbacks, sales at the
till (by the API, by the service, for cash), blocked and replaced cards, transfers, corrections."""

from django.db import transaction
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from cards.errors import CardNotReopenable, CardReplaced
from cards.models import Card
from cards.services import card_block, card_unblock
from payments.errors import InsufficientFunds
from payments.models import Payment
from payments.providers.test import simulated_callback_deliver, simulated_event
from payments.topups import AllocationRequest, topup_create
from payments.transfers import transfer_create
from tests.factories import CardFactory
from tests.model_based.base import MachineBase
from tests.model_based.world import (
    HOLDERS,
    PRODUCT_PRICES,
    REPLACEMENT_FEE,
    HolderModel,
    Kind,
    PaymentModel,
    credit_debt_first,
)


class PaymentRules(MachineBase):
    # --- top-ups ----------------------------------------------------------------------------------

    @rule(
        index=st.integers(0, HOLDERS - 1),
        balance=st.sampled_from([Kind.MAIN, Kind.EXTRA]),
        amount=st.integers(5000, 20000),
        sibling=st.none() | st.tuples(st.integers(0, HOLDERS - 1), st.sampled_from([Kind.MAIN, Kind.EXTRA])),
        paid_at_once=st.sampled_from([None, "succeeded", "succeeded", "failed"]),
    )
    def topup(
        self, index: int, balance: str, amount: int, sibling: tuple[int, str] | None, paid_at_once: str | None
    ) -> None:
        allocations = [(index, balance, amount)]
        if sibling is not None and sibling[0] != index:
            allocations.append((sibling[0], sibling[1], 1000))
        payment = topup_create(
            guardian=self.guardian,
            allocations=[AllocationRequest(self.holders[i].pk, b, a) for i, b, a in allocations],
        )
        self.payments.append(PaymentModel(reference=payment.reference, allocations=allocations))
        if paid_at_once:
            # The guardian completes the provider's page now; otherwise a later `callback` step does.
            self.callback(which=len(self.payments) - 1, outcome=paid_at_once, times=1)

    @precondition(lambda self: self.payments)
    @rule(
        which=st.integers(0, 50),
        outcome=st.sampled_from(["succeeded", "succeeded", "failed"]),
        times=st.integers(1, 2),
    )
    def callback(self, which: int, outcome: str, times: int) -> None:
        """Deliver the provider's callback for a payment, sometimes twice (a retried webhook)."""
        model = self.payments[which % len(self.payments)]
        payment = Payment.objects.get(reference=model.reference)
        for _ in range(times):
            simulated_callback_deliver(simulated_event(payment=payment, outcome=outcome, save_card=False))  # type: ignore[arg-type]
        if model.status != Payment.Status.PENDING:
            return  # final already: a repeated or contradicting callback changes nothing
        model.status = outcome
        if outcome == "succeeded":
            shares: dict[int, dict[str, int]] = {}
            for i, balance, amount in model.allocations:
                shares.setdefault(i, {})[balance] = amount
                self.totals.topped_up += amount
            for i, share in shares.items():
                credit_debt_first(self.holders[i], to_main=share.get(Kind.MAIN, 0), to_extra=share.get(Kind.EXTRA, 0))

    # --- the till ---------------------------------------------------------------------------------

    def purchase_expected(self, holder: HolderModel, total: int) -> str | None:
        if holder.card_status == Card.Status.DEBT_BLOCKED:
            return "debt_limit_reached"
        if holder.card_status != Card.Status.ACTIVE:
            return "card_blocked"
        if holder.at_debt_limit:
            return "debt_limit_reached"
        if holder.extra < total:
            return "insufficient_funds"
        return None

    @rule(
        index=st.integers(0, HOLDERS - 1),
        product=st.integers(0, len(PRODUCT_PRICES) - 1),
        quantity=st.integers(1, 3),
        replay=st.booleans(),
    )
    def purchase_at_till(self, index: int, product: int, quantity: int, replay: bool) -> None:
        holder = self.holders[index]
        body = {"uid": holder.uid, "lines": [{"product": self.products[product].pk, "quantity": quantity}]}
        key = self.new_key()
        status, answer = self.terminal_post(body, key)
        total = PRODUCT_PRICES[product] * quantity
        expected = self.purchase_expected(holder, total)
        if expected is None:
            assert status == 201, answer
            holder.extra -= total
            self.totals.sold += total
        else:
            assert status == 409, answer
            assert answer["error"]["code"] == expected
        if replay:
            # The same key and body again: the first answer, and no money moves a second time.
            assert self.terminal_post(body, key) == (status, answer)

    @rule(index=st.integers(0, HOLDERS - 1), product=st.integers(0, len(PRODUCT_PRICES) - 1))
    def purchase_by_service(self, index: int, product: int) -> None:
        from canteen.services import LineRequest, purchase_create

        holder = self.holders[index]
        card = Card.objects.select_related("holder__institution").get(pk=holder.card_pk)
        total = PRODUCT_PRICES[product]
        expected = self.purchase_expected(holder, total)

        def sell() -> None:
            with transaction.atomic(durable=True):
                purchase_create(
                    institution=self.school, card=card, lines=[LineRequest(self.products[product].pk, 1)], place="Till"
                )

        error = self.refused(sell)
        assert (error.code if error else None) == expected
        if expected is None:
            holder.extra -= total
            self.totals.sold += total

    @rule(product=st.integers(0, len(PRODUCT_PRICES) - 1), quantity=st.integers(1, 3), replay=st.booleans())
    def cash_sale(self, product: int, quantity: int, replay: bool) -> None:
        body = {"lines": [{"product": self.products[product].pk, "quantity": quantity}], "payment": "cash"}
        key = self.new_key()
        status, answer = self.terminal_post(body, key)
        assert status == 201, answer
        self.totals.cash += PRODUCT_PRICES[product] * quantity
        if replay:
            assert self.terminal_post(body, key) == (status, answer)

    # --- cards ------------------------------------------------------------------------------------

    @rule(index=st.integers(0, HOLDERS - 1), block=st.booleans())
    def block_or_unblock(self, index: int, block: bool) -> None:
        holder = self.holders[index]
        card = Card.objects.get(pk=holder.card_pk)
        if block:
            card_block(card=card, reason="Lost at school")
            if holder.card_status == Card.Status.ACTIVE:
                holder.card_status = Card.Status.BLOCKED
            return
        error = self.refused(lambda: card_unblock(card=card))
        if holder.card_status == Card.Status.REPLACED:
            assert isinstance(error, CardReplaced)
        elif holder.card_status in (Card.Status.ACTIVE, Card.Status.BLOCKED):
            assert error is None
            holder.card_status = Card.Status.ACTIVE
        else:
            assert isinstance(error, CardNotReopenable)

    # Rarer than the rest (one draw in three acts): each one costs a fee and a card.
    @rule(index=st.integers(0, HOLDERS - 1), act=st.integers(0, 2))
    def replacement_paid_from_extra(self, index: int, act: int) -> None:
        from payments.replacements import CardNotReplaceable, FeeNotCovered, card_replacement_order

        if act:
            return
        holder = self.holders[index]
        card = Card.objects.get(pk=holder.card_pk)
        error = self.refused(lambda: card_replacement_order(guardian=self.guardian, card=card))
        if holder.card_status == Card.Status.RETURNED:
            assert isinstance(error, CardNotReplaceable)
            return
        if holder.extra < REPLACEMENT_FEE:
            assert isinstance(error, FeeNotCovered)
            return
        assert error is None
        holder.extra -= REPLACEMENT_FEE
        self.totals.fees += REPLACEMENT_FEE
        # The office hands out the new card; the holder goes on with it.
        new = CardFactory(holder=card.holder)
        holder.card_pk, holder.uid, holder.card_status = new.pk, new.uid, Card.Status.ACTIVE

    # --- the guardian and the office move money ---------------------------------------------------

    @rule(
        giver=st.integers(0, HOLDERS - 1),
        receiver=st.integers(0, HOLDERS - 1),
        source_balance=st.sampled_from([Kind.MAIN, Kind.EXTRA]),
        target_balance=st.sampled_from([Kind.MAIN, Kind.EXTRA]),
        amount=st.integers(1, 3000),
    )
    def transfer(self, giver: int, receiver: int, source_balance: str, target_balance: str, amount: int) -> None:
        src, dst = self.in_play(giver), self.in_play(receiver)
        if src is None or dst is None or src is dst:
            return
        holders = {h.pk: h for h in self.holders_db()}
        error = self.refused(
            lambda: transfer_create(
                guardian=self.guardian,
                source_holder=holders[src.pk],
                source_balance=source_balance,
                target_holder=holders[dst.pk],
                target_balance=target_balance,
                amount_cents=amount,
            )
        )
        if getattr(src, source_balance) < amount:
            assert isinstance(error, InsufficientFunds)
            return
        assert error is None
        setattr(src, source_balance, getattr(src, source_balance) - amount)
        setattr(dst, target_balance, getattr(dst, target_balance) + amount)

    @rule(
        index=st.integers(0, HOLDERS - 1),
        balance=st.sampled_from([Kind.MAIN, Kind.EXTRA]),
        amount=st.integers(-3000, 3000).filter(bool),
    )
    def correction(self, index: int, balance: str, amount: int) -> None:
        from payments.corrections import correction_request

        holder = self.in_play(index)
        if holder is None:
            return
        holder_db = next(h for h in self.holders_db() if h.pk == holder.pk)
        error = self.refused(
            lambda: correction_request(
                holder=holder_db, balance=balance, amount_cents=amount, requested_by=self.office, reason="Receipt"
            )
        )
        if amount < 0 and getattr(holder, balance) < -amount:
            assert isinstance(error, InsufficientFunds)
            return
        assert error is None
        self.totals.corrected += amount
        if amount > 0:
            credit_debt_first(
                holder, to_main=amount if balance == Kind.MAIN else 0, to_extra=amount if balance == Kind.EXTRA else 0
            )
        else:
            setattr(holder, balance, getattr(holder, balance) + amount)
