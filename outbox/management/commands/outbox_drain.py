from typing import Any

from django.core.management.base import BaseCommand, CommandError

from outbox.services import queued_tasks_drain


class Command(BaseCommand):
    help = "Publish the tasks kept while the broker was down; exit non-zero if it still refuses them."

    def handle(self, *args: Any, **options: Any) -> None:
        result = queued_tasks_drain()
        self.stdout.write(f"outbox_drain: {result.sent} sent, {result.left} still queued")
        if result.error:
            raise CommandError(f"outbox_drain: the broker refused a task: {result.error}")
