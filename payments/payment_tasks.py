"""Celery tasks of payments at the provider (registered through payments.tasks)."""

from celery import shared_task

from payments.models import Payment
from payments.payment_mails import payment_settled_mail
from payments.providers.test import simulated_callback_deliver, simulated_event
from payments.topups import payments_expire_overdue


@shared_task(name="payments.payments_expire")
def payments_expire_task() -> int:
    return payments_expire_overdue()


@shared_task(name="payments.payment_settled")
def payment_settled_task(payment_id: int) -> None:
    payment = Payment.objects.select_related("guardian").filter(pk=payment_id).first()
    if payment is not None:
        payment_settled_mail(payment=payment)


@shared_task(name="payments.test_provider_charge")
def simulated_mandate_charge_task(reference: str) -> None:
    """The test provider charging a saved card: it always succeeds, then calls back."""
    payment = Payment.objects.filter(reference=reference, status=Payment.Status.PENDING).first()
    if payment is not None:
        simulated_callback_deliver(simulated_event(payment=payment, outcome="succeeded", save_card=False))
