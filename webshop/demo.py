"""The webshop part of the demo data: a zoo trip for class 5B at Demo School.

Called by the demo seed (`terminals.demo.demo_seed`); safe to run again: an item of that name at
that institution is left as it is (with its orders).
"""

import datetime as dt

from django.utils import timezone

from accounts.models import Institution
from webshop.models import ShopItem, ShopItemGroup, ShopItemOption

DEMO_ITEM = "Trip to the zoo"


def webshop_demo_seed(*, institution: Institution) -> ShopItem:
    item, created = ShopItem.objects.get_or_create(
        institution=institution,
        name=DEMO_ITEM,
        defaults={
            "description": "Class 5B goes to the zoo by bus. Bring a packed lunch.",
            "price_cents": 15000,
            "deadline": timezone.now() + dt.timedelta(days=30),
            "capacity": 25,
            "choice_label": "T-shirt size",
            "balance_allowed": True,
            # The demo's guardians are not e-mailed about it.
            "announced_at": timezone.now(),
        },
    )
    if created:
        ShopItemGroup.objects.create(item=item, group="5B")
        for position, label in enumerate(("S", "M", "L")):
            ShopItemOption.objects.create(item=item, label=label, position=position)
    return item
