"""Buying a place on a webshop item, settling a provider payment for it, and refunding it.

The cap on places is kept under the item's row lock: every purchase, and every provider payment
that arrives, locks the item first and counts the places taken (paid orders, and orders whose
provider payment is still open) before taking one, so the last place is sold once. A paid order
is one ledger movement to the institution's revenue account: from the extra balance, or from the
provider's clearing account when the provider's verified callback says the payment succeeded.
A refund is the opposite movement, back to the extra balance or through the provider.
"""

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import audit_record
from accounts.models import User
from cards.models import Card
from cards.selectors import holder_list_for_guardian
from cardsystem.errors import InvalidRequest, NotFound
from outbox.services import task_send_on_commit
from payments.errors import DebtLimitReached
from payments.ledger import Leg, holder_accounts_lock, movement_post, system_account
from payments.models import LedgerAccount, LedgerTransaction, Payment
from payments.providers import provider_get
from payments.topups import payment_reference_new
from webshop.errors import (
    AlreadyBought,
    BalanceNotAllowed,
    NotOnSale,
    NotRefundable,
    OrderDeadlinePassed,
    SoldOut,
)
from webshop.models import ShopItem, ShopOrder
from webshop.selectors import items_for_holder

Kind = LedgerAccount.Kind
PaidWith = ShopOrder.PaidWith


def _holding_a_place(*, now: dt.datetime) -> Q:
    """Orders that hold a place: paid, or waiting for a provider payment that may still succeed."""
    return Q(status=ShopOrder.Status.PAID) | Q(
        status=ShopOrder.Status.PENDING, payment__status=Payment.Status.PENDING, payment__expires_at__gt=now
    )


def places_taken(*, item: ShopItem, now: dt.datetime | None = None, excluding: int | None = None) -> int:
    orders = ShopOrder.objects.filter(_holding_a_place(now=now or timezone.now()), item=item)
    if excluding is not None:
        orders = orders.exclude(pk=excluding)
    return orders.count()


def _item_lock(item_id: int) -> ShopItem:
    return ShopItem.objects.select_for_update().select_related("institution").get(pk=item_id)


def _option_check(*, item: ShopItem, option_id: int | None) -> int | None:
    option_ids = set(item.options.values_list("pk", flat=True))
    if option_ids and option_id not in option_ids:
        raise InvalidRequest(fields={"option": [_("Choose one of the options.")]})
    if not option_ids and option_id is not None:
        raise InvalidRequest(fields={"option": [_("This item has no options.")]})
    return option_id


def order_create(
    *, guardian: User, item_id: int, holder_id: int, option_id: int | None = None, paid_with: str
) -> ShopOrder:
    """Buy a place on an item for one of the guardian's cardholders.

    Paid from the extra balance, the order is paid when this returns; paid at the provider, it
    waits for the provider's callback (`order_payment_settle`) and holds its place until the
    payment expires. Refused before any write: an item or holder that is not the guardian's to see
    (NotFound), a missing or foreign option, the balance where the item does not allow it, an item
    off sale or past its deadline, a holder with a place already, no places left, and from the
    balance: a holder at the debt limit or blocked for debt (DebtLimitReached), or an extra balance
    short of the price (InsufficientFunds).
    """
    holder = holder_list_for_guardian(user=guardian).filter(pk=holder_id).select_related("institution").first()
    if holder is None:
        raise NotFound()
    if not items_for_holder(holder=holder).filter(pk=item_id).exists():
        raise NotFound()
    if paid_with not in PaidWith.values:
        raise InvalidRequest(fields={"paid_with": [_("Choose how to pay.")]})
    with transaction.atomic(durable=True):
        item = _item_lock(item_id)
        if paid_with == PaidWith.BALANCE and not item.balance_allowed:
            raise BalanceNotAllowed(fields={"paid_with": [str(BalanceNotAllowed.default_message)]})
        option_id = _option_check(item=item, option_id=option_id)
        now = timezone.now()
        if not item.active:
            raise NotOnSale()
        if now > item.deadline:
            raise OrderDeadlinePassed()
        if ShopOrder.objects.filter(_holding_a_place(now=now), item=item, holder=holder).exists():
            raise AlreadyBought()
        if item.capacity is not None and places_taken(item=item, now=now) >= item.capacity:
            raise SoldOut()
        order = ShopOrder(
            item=item, holder=holder, guardian=guardian, option_id=option_id, price_cents=item.price_cents,
            paid_with=paid_with,
        )  # fmt: skip
        if paid_with == PaidWith.BALANCE:
            accounts = holder_accounts_lock(holder_id=holder.pk)
            # At the debt limit, or blocked for debt until it is paid: no purchases from the card [PZ].
            at_limit = accounts.main.floor_cents < 0 and accounts.main.balance_cents <= accounts.main.floor_cents
            if at_limit or Card.objects.filter(holder=holder, status=Card.Status.DEBT_BLOCKED).exists():
                raise DebtLimitReached()
            order.sale_transaction = _sale_post(order=order, source=accounts.extra)
            order.status = ShopOrder.Status.PAID
            order.paid_at = now
        else:
            order.payment = Payment.objects.create(
                guardian=guardian,
                purpose=Payment.Purpose.WEBSHOP,
                amount_cents=item.price_cents,
                provider=settings.PAYMENT_PROVIDER,
                reference=payment_reference_new(),
                expires_at=now + dt.timedelta(minutes=settings.PAYMENT_EXPIRY_MINUTES),
            )
        order.save()
        if order.status == ShopOrder.Status.PAID:
            _receipt_mail_send(order.pk)
    return order


def _sale_post(*, order: ShopOrder, source: LedgerAccount) -> LedgerTransaction:
    revenue = system_account(kind=Kind.REVENUE, institution=order.item.institution)
    return movement_post(
        kind=LedgerTransaction.Kind.WEBSHOP,
        legs=[Leg(source, -order.price_cents), Leg(revenue, order.price_cents)],
        institution=order.item.institution,
        created_by=order.guardian,
        reason=f"{order.item.name} ({order.holder.name})",
        accounts_locked=True,
    )


def order_payment_settle(*, payment: Payment) -> LedgerTransaction:
    """The provider says the order's payment succeeded (called once, under the payment's lock).

    The sale is posted from the provider's clearing account. If the place is gone meanwhile (the
    payment arrived after it expired and the item filled up, or the holder got a place through
    another payment), the money goes straight back through the provider: the refund is posted in
    the same transaction and the provider is asked once it commits.
    """
    order = ShopOrder.objects.select_related("holder", "guardian").get(payment=payment)
    order.item = _item_lock(order.item_id)
    now = timezone.now()
    order.sale_transaction = _sale_post(order=order, source=system_account(kind=Kind.PROVIDER_CLEARING))
    order.paid_at = now
    taken_elsewhere = ShopOrder.objects.filter(
        item_id=order.item_id, holder_id=order.holder_id, status=ShopOrder.Status.PAID
    ).exists()
    full = order.item.capacity is not None and places_taken(item=order.item, now=now, excluding=order.pk) >= (
        order.item.capacity
    )
    if taken_elsewhere or full:
        order.status = ShopOrder.Status.PAID  # for the refund's check; saved as refunded below
        _refund_post(
            order=order,
            refund_to=ShopOrder.RefundTo.PROVIDER,
            reason=_("No place was left when the payment arrived."),
            by=None,
            now=now,
        )
        _provider_refund_send(order.pk)
    else:
        order.status = ShopOrder.Status.PAID
        order.save()
        _receipt_mail_send(order.pk)
    return order.sale_transaction


def _refund_post(*, order: ShopOrder, refund_to: str, reason: str, by: User | None, now: dt.datetime) -> None:
    revenue = system_account(kind=Kind.REVENUE, institution=order.item.institution)
    if refund_to == ShopOrder.RefundTo.BALANCE:
        target = holder_accounts_lock(holder_id=order.holder_id).extra
    else:
        target = system_account(kind=Kind.PROVIDER_CLEARING)
    order.refund_transaction = movement_post(
        kind=LedgerTransaction.Kind.REFUND,
        legs=[Leg(revenue, -order.price_cents), Leg(target, order.price_cents)],
        institution=order.item.institution,
        created_by=by,
        reason=f"{order.item.name} ({order.holder.name}): {reason}",
        accounts_locked=True,
    )
    order.status = ShopOrder.Status.REFUNDED
    order.refund_to = refund_to
    order.refund_reason = reason
    order.refunded_by = by
    order.refunded_at = now
    order.save()
    audit_record(
        actor=by,
        action="webshop.order_refund",
        target=order,
        institution=order.item.institution,
        reason=reason,
        details={"amount_cents": order.price_cents, "refund_to": refund_to},
    )


def _refund_key(order: ShopOrder) -> str:
    return f"shop-order-{order.pk}"


def order_refund(*, order: ShopOrder, refund_to: str, reason: str, by: User) -> ShopOrder:
    """Refund a paid order: to the holder's extra balance, or to the card it was paid with.

    Through the provider, the provider is asked first (outside the transaction: it is network
    I/O) with a key that is the same on every try, so a retry after a crash refunds once; the
    movement is posted when it agreed. A second refund of the same order is refused (NotRefundable).
    """
    reason = reason.strip()
    if not reason:
        raise InvalidRequest(fields={"reason": [_("Give a reason for the refund.")]})
    if refund_to not in ShopOrder.RefundTo.values:
        raise InvalidRequest(fields={"refund_to": [_("Choose where the money goes.")]})
    if order.status != ShopOrder.Status.PAID:
        raise NotRefundable()
    reference = ""
    if refund_to == ShopOrder.RefundTo.PROVIDER:
        if order.payment is None:
            raise InvalidRequest(fields={"refund_to": [_("This order was paid from the balance.")]})
        reference = provider_get(order.payment.provider).refund(
            payment=order.payment, amount_cents=order.price_cents, idempotency_key=_refund_key(order)
        )
    with transaction.atomic(durable=True):
        locked = ShopOrder.objects.select_for_update().select_related("item__institution", "holder").get(pk=order.pk)
        if locked.status != ShopOrder.Status.PAID:
            # Refunded meanwhile (a second click, or a colleague): the provider was asked with the
            # same key, so it refunded once.
            raise NotRefundable()
        locked.refund_reference = reference
        _refund_post(order=locked, refund_to=refund_to, reason=reason, by=by, now=timezone.now())
    return locked


def order_provider_refund_send(*, order_id: int) -> ShopOrder | None:
    """Ask the provider for a refund already posted (a payment that found no place); idempotent."""
    order = ShopOrder.objects.select_related("payment").filter(pk=order_id).first()
    if order is None or order.payment is None or order.refund_reference:
        return order
    if order.status != ShopOrder.Status.REFUNDED or order.refund_to != ShopOrder.RefundTo.PROVIDER:
        return order
    reference = provider_get(order.payment.provider).refund(
        payment=order.payment, amount_cents=order.price_cents, idempotency_key=_refund_key(order)
    )
    ShopOrder.objects.filter(pk=order.pk, refund_reference="").update(refund_reference=reference)
    order.refund_reference = reference
    return order


def order_for_guardian(*, guardian: User, order_id: int) -> ShopOrder:
    """One of the guardian's own orders (for a cardholder still theirs), or NotFound."""
    order = (
        ShopOrder.objects.filter(pk=order_id, guardian=guardian, holder__in=holder_list_for_guardian(user=guardian))
        .select_related("item__institution", "holder", "option", "payment")
        .first()
    )
    if order is None:
        raise NotFound()
    return order


def _receipt_mail_send(order_id: int) -> None:
    from webshop.tasks import order_receipt_mail_task  # tasks import the services

    task_send_on_commit(order_receipt_mail_task, order_id)


def _provider_refund_send(order_id: int) -> None:
    from webshop.tasks import order_provider_refund_task

    task_send_on_commit(order_provider_refund_task, order_id)
