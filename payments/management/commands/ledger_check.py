from typing import Any

from django.core.management.base import BaseCommand, CommandError

from payments.selectors import ledger_mismatches


class Command(BaseCommand):
    help = "Prove the ledger's invariants; exit non-zero and name every mismatch."

    def handle(self, *args: Any, **options: Any) -> None:
        mismatches = ledger_mismatches()
        for mismatch in mismatches:
            self.stderr.write(str(mismatch))
        if mismatches:
            raise CommandError(f"ledger_check: {len(mismatches)} mismatch(es)")
        self.stdout.write("ledger_check: ledger is consistent")
