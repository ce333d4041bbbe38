from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from terminals.demo import demo_seed


class Command(BaseCommand):
    help = "Load the demo data of API.md (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help="Run even with DEBUG off.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError("seed_demo loads known passwords and tokens; with DEBUG off, give --force.")
        demo_seed()
        self.stdout.write("Demo data loaded.")
