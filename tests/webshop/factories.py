"""Factories for webshop items, and a guardian with a cardholder in a group."""

import datetime as dt
from typing import Any

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from accounts.models import User
from cards.models import Cardholder
from cards.services import guardianship_create
from tests.factories import InstitutionFactory, UserFactory, holder_with_balances
from webshop.models import ShopItem, ShopItemGroup, ShopItemOption


class ShopItemFactory(DjangoModelFactory[ShopItem]):
    class Meta:
        model = ShopItem

    institution = factory.SubFactory(InstitutionFactory)
    name = factory.Sequence(lambda n: f"Trip {n}")
    description = "A day at the zoo."
    price_cents = 15000
    deadline = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=7))


def item_for_groups(*groups: str, options: tuple[str, ...] = (), **kwargs: Any) -> ShopItem:
    item = ShopItemFactory(**kwargs)
    for group in groups:
        ShopItemGroup.objects.create(item=item, group=group)
    for position, label in enumerate(options):
        ShopItemOption.objects.create(item=item, label=label, position=position)
    return item


def family(
    *, item: ShopItem, group: str = "5B", extra: int = 0, guardian: User | None = None
) -> tuple[User, Cardholder]:
    """A guardian with one cardholder at the item's institution, in `group`."""
    guardian = guardian or UserFactory()
    holder = holder_with_balances(extra=extra, institution=item.institution, group=group)
    guardianship_create(guardian=guardian, holder=holder)
    return guardian, holder
