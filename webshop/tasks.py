"""Celery tasks of the webshop: each takes ids, calls one service, and is safe to run twice."""

from celery import shared_task

from webshop.mails import item_announce, order_receipt_mail
from webshop.orders import order_provider_refund_send


@shared_task(name="webshop.order_receipt_mail")
def order_receipt_mail_task(order_id: int) -> bool:
    return order_receipt_mail(order_id=order_id)


@shared_task(name="webshop.item_announce")
def item_announce_task(item_id: int) -> int:
    return item_announce(item_id=item_id)


@shared_task(name="webshop.order_provider_refund", autoretry_for=(Exception,), retry_backoff=True, max_retries=10)
def order_provider_refund_task(order_id: int) -> None:
    order_provider_refund_send(order_id=order_id)
