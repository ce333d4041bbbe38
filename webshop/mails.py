"""E-mails of the webshop: the receipt of a paid order, and the announcement of a new item."""

from django.conf import settings
from django.core import mail
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from accounts.language import user_language
from accounts.models import User
from outbox.services import task_send_on_commit
from webshop.models import ShopItem, ShopOrder
from webshop.receipts import receipt_context, receipt_pdf


def order_receipt_mail(*, order_id: int) -> bool:
    """Mail the buyer the receipt (text and PDF) of a paid order once, however often it is called."""
    # Claimed in one statement, so two workers running the task send it once.
    claimed = ShopOrder.objects.filter(pk=order_id, status=ShopOrder.Status.PAID, receipt_mailed=False).update(
        receipt_mailed=True
    )
    if not claimed:
        return False
    order = ShopOrder.objects.select_related("item__institution", "holder", "guardian", "option").get(pk=order_id)
    language = user_language(order.guardian)
    with translation.override(language):
        context = {**receipt_context(order=order), "site_url": settings.SITE_URL}
        subject = " ".join(render_to_string("webshop/email/receipt_subject.txt", context).split())
        body = render_to_string("webshop/email/receipt_body.txt", context)
    message = mail.EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [order.guardian.email])
    message.attach(
        f"receipt-{order.receipt_number}.pdf", receipt_pdf(order=order, language=language), "application/pdf"
    )
    message.send()
    return True


def item_guardians(*, item: ShopItem) -> list[User]:
    """The active guardians of the cardholders the item is offered to."""
    holders = Q(guardianships__holder__institution_id=item.institution_id, guardianships__holder__left_at__isnull=True)
    groups = list(item.groups.values_list("group", flat=True))
    if groups:
        holders &= Q(guardianships__holder__group__in=groups)
    return list(User.objects.filter(holders, is_active=True).distinct().order_by("pk"))


def item_announce_queue(*, item: ShopItem) -> None:
    """Once the saved item (and its groups) commit, announce it if it is on sale and was not yet."""
    if item.active and item.announced_at is None:
        from webshop.tasks import item_announce_task  # tasks import this module

        task_send_on_commit(item_announce_task, item.pk)


def item_announce(*, item_id: int) -> int:
    """E-mail the guardians of the item's groups that it is on sale, once; returns how many e-mails."""
    claimed = ShopItem.objects.filter(pk=item_id, active=True, announced_at__isnull=True).update(
        announced_at=timezone.now()
    )
    if not claimed:
        return 0
    item = ShopItem.objects.select_related("institution").get(pk=item_id)
    url = settings.SITE_URL.rstrip("/") + reverse("webshop:item", kwargs={"item_id": item.pk})
    messages = []
    for guardian in item_guardians(item=item):
        with translation.override(user_language(guardian)):
            context = {"item": item, "url": url, "deadline": timezone.localtime(item.deadline, item.institution.zone)}
            subject = " ".join(render_to_string("webshop/email/announcement_subject.txt", context).split())
            body = render_to_string("webshop/email/announcement_body.txt", context)
        messages.append(mail.EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [guardian.email]))
    if messages:
        with mail.get_connection() as connection:
            connection.send_messages(messages)
    return len(messages)
