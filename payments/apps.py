from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = _("Ledger and payments")

    def ready(self) -> None:
        # The card services reach the ledger through this port (cards may not import payments).
        from cards.ledger_port import holder_ledger_register
        from payments.holder_ledger import PaymentsHolderLedger

        holder_ledger_register(PaymentsHolderLedger())
