"""Celery task of the outbox: publish again the tasks the broker did not take."""

from celery import shared_task

from outbox.services import queued_tasks_drain


@shared_task(name="outbox.drain")
def outbox_drain_task() -> int:
    """Every minute (beat) and when a worker starts; returns how many tasks were published."""
    return queued_tasks_drain().sent
