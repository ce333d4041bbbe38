"""E-mails about payments: a receipt for a top-up, and every automatic top-up, charged or not."""

from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import translation

from accounts.language import user_language
from payments.models import Payment

# Outcomes the guardian hears about by e-mail; a failed manual payment was seen on the page.
_MAILED = {
    (Payment.Purpose.TOPUP, Payment.Status.SUCCEEDED),
    (Payment.Purpose.CARD_FEE, Payment.Status.SUCCEEDED),
    (Payment.Purpose.AUTO_TOPUP, Payment.Status.SUCCEEDED),
    (Payment.Purpose.AUTO_TOPUP, Payment.Status.FAILED),
}


def payment_settled_mail(*, payment: Payment) -> bool:
    """Mail the guardian about a settled payment once, however often it is called."""
    if (payment.purpose, payment.status) not in _MAILED:
        return False
    # Claim the mail in one statement, so two workers running the task send it once.
    claimed = Payment.objects.filter(pk=payment.pk, guardian_notified=False).update(guardian_notified=True)
    if not claimed:
        return False
    context = {"payment": payment, "allocations": list(payment.allocations.select_related("holder"))}
    with translation.override(user_language(payment.guardian)):
        subject = render_to_string("payments/email/payment_subject.txt", context).strip()
        body = render_to_string("payments/email/payment_body.txt", context)
    send_mail(subject, body, None, [payment.guardian.email])
    return True
