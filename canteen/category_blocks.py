"""Product categories a guardian does not allow a cardholder to buy [SK: limits set by guardians].

Blocks are kept by category code, not by category row: the code is shared across institutions,
so a block on "sweets" holds at every canteen of the municipality the card is used at. The till
reads them in the statement that locks the balances (`canteen.selectors.category_blocked_fact`).
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import User
from canteen.models import HolderCategoryBlock, ProductCategory
from cards.models import Cardholder
from cardsystem.errors import InvalidRequest

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CategoryChoice:
    code: str
    name: str


def holder_blocked_category_codes(*, holder: Cardholder) -> list[str]:
    """The category codes blocked for the cardholder, sorted."""
    return sorted(HolderCategoryBlock.objects.filter(holder=holder).values_list("category_code", flat=True))


def holder_category_choices(*, holder: Cardholder) -> list[CategoryChoice]:
    """What a guardian can block for the cardholder: the categories on sale at the holder's
    institution, plus any code already blocked (set elsewhere, or at a former school), so that
    every block can be seen and lifted."""
    on_sale = (
        ProductCategory.objects.filter(institution_id=holder.institution_id, products__is_active=True)
        .values_list("code", "name")
        .distinct()
    )
    names = dict(on_sale)
    for code in holder_blocked_category_codes(holder=holder):
        names.setdefault(code, _category_name(code))
    return sorted((CategoryChoice(code, name) for code, name in names.items()), key=lambda c: (c.name.lower(), c.code))


def _category_name(code: str) -> str:
    # A blocked code not sold at the holder's school: name it after any institution's category.
    name = ProductCategory.objects.filter(code=code).values_list("name", flat=True).first()
    return name or code


def holder_category_blocks_set(*, holder: Cardholder, categories: Iterable[str], set_by: User) -> list[str]:
    """Make `categories` (codes) exactly the cardholder's blocked product categories.

    A code must name a product category of some institution, or be blocked already (lifting an
    old block always works); an unknown code raises InvalidRequest and changes nothing. The caller
    checked that `set_by` may do this (the guardian portal starts from the guardian's holders).
    Returns the codes now blocked, sorted.
    """
    wanted = {code.strip() for code in categories if code.strip()}
    with transaction.atomic():
        # The holder row serialises two saves of the same holder, so neither sees half the other (NO KEY:
        # sales and meal orders for the holder, which only key-share the row, are not held up).
        Cardholder.objects.select_for_update(no_key=True).filter(pk=holder.pk).values_list("pk", flat=True).get()
        current = set(holder_blocked_category_codes(holder=holder))
        known = set(ProductCategory.objects.filter(code__in=wanted - current).values_list("code", flat=True))
        unknown = sorted(wanted - current - known)
        if unknown:
            raise InvalidRequest(
                fields={
                    "categories": [_("There is no product category %(code)s.") % {"code": code} for code in unknown]
                }
            )
        removed, added = current - wanted, wanted - current
        if removed:
            HolderCategoryBlock.objects.filter(holder=holder, category_code__in=removed).delete()
        if added:
            HolderCategoryBlock.objects.bulk_create(
                [HolderCategoryBlock(holder=holder, category_code=code) for code in sorted(added)]
            )
    if added or removed:
        # No column records who set a block; the log does, for the office's questions.
        logger.info(
            "category blocks of cardholder %s set by user %s: added %s, removed %s",
            holder.pk,
            set_by.pk,
            sorted(added),
            sorted(removed),
        )
    return sorted(wanted)
