from django.db import transaction

from accounts.models import Institution
from cards.models import Cardholder, PriceCategory
from cards.services import holder_create
from payments.ledger import holder_accounts_open


def holder_register(
    *,
    name: str,
    institution: Institution,
    group: str = "",
    allergy_note: str = "",
    price_category: PriceCategory | None = None,
) -> Cardholder:
    """A new cardholder with its main and extra balances opened, in one transaction."""
    with transaction.atomic():
        holder = holder_create(
            name=name, institution=institution, group=group, allergy_note=allergy_note, price_category=price_category
        )
        holder_accounts_open(holder=holder)
    return holder
