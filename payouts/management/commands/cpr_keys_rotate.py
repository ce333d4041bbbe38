from typing import Any

from django.core.management.base import BaseCommand

from payouts.refunds import refund_tokens_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored CPR number under the newest key of CPR_ENCRYPTION_KEYS. Put the new key "
        "first, keep the old ones, run this, then drop the old keys."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = refund_tokens_rotate()
        self.stdout.write(f"cpr_keys_rotate: {count} CPR number(s) re-encrypted under the newest key")
