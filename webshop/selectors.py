"""Reads of the webshop: what a guardian may buy for whom, and who has paid for an item."""

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet

from accounts.models import User
from cards.models import Cardholder
from cards.selectors import holder_list_for_guardian
from webshop.models import ShopItem, ShopItemGroup, ShopOrder


def items_for_holder(*, holder: Cardholder) -> QuerySet[ShopItem]:
    """Items on sale at the holder's institution for the holder's group (or for every group); none
    once the holder has left."""
    if holder.left_at is not None:
        return ShopItem.objects.none()
    has_groups = ShopItemGroup.objects.filter(item=OuterRef("pk"))
    for_group = ShopItemGroup.objects.filter(item=OuterRef("pk"), group=holder.group)
    return ShopItem.objects.filter(institution_id=holder.institution_id, active=True).filter(
        ~Exists(has_groups) | Exists(for_group)
    )


@dataclass(frozen=True)
class HolderItem:
    item: ShopItem
    order: ShopOrder | None  # the holder's paid (or last) order of the item, if any


@dataclass(frozen=True)
class HolderShop:
    holder: Cardholder
    items: list[HolderItem]


def shop_for_guardian(*, guardian: User) -> list[HolderShop]:
    """For each of the guardian's cardholders, the items offered and what was bought of them."""
    holders = list(holder_list_for_guardian(user=guardian).select_related("institution").order_by("name", "pk"))
    orders: dict[tuple[int, int], ShopOrder] = {}
    for order in ShopOrder.objects.filter(holder__in=holders).order_by("created_at", "pk"):
        key = (order.item_id, order.holder_id)
        # A paid order wins over any later unpaid attempt.
        if key not in orders or orders[key].status != ShopOrder.Status.PAID:
            orders[key] = order
    return [
        HolderShop(
            holder=holder,
            items=[
                HolderItem(item=item, order=orders.get((item.pk, holder.pk)))
                for item in items_for_holder(holder=holder).prefetch_related("options")
            ],
        )
        for holder in holders
    ]


def item_for_guardian(*, guardian: User, item_id: int) -> tuple[ShopItem, list[Cardholder]] | None:
    """The item and those of the guardian's cardholders it is offered to; None if it is for none."""
    holders = [
        holder
        for holder in holder_list_for_guardian(user=guardian).select_related("institution").order_by("name", "pk")
        if items_for_holder(holder=holder).filter(pk=item_id).exists()
    ]
    if not holders:
        return None
    item = ShopItem.objects.select_related("institution").prefetch_related("options").get(pk=item_id)
    return item, holders


@dataclass(frozen=True)
class PaidListRow:
    holder: Cardholder
    order: ShopOrder | None

    @property
    def paid(self) -> bool:
        return self.order is not None and self.order.status == ShopOrder.Status.PAID


def item_paid_list(*, item: ShopItem, group: str | None = None) -> list[PaidListRow]:
    """Every cardholder the item is offered to (or who bought it), with their paid or last order."""
    groups = list(item.groups.values_list("group", flat=True))
    offered = Q(institution_id=item.institution_id, left_at__isnull=True, anonymised_at__isnull=True)
    if groups:
        offered &= Q(group__in=groups)
    holders = Cardholder.objects.filter(offered | Q(shop_orders__item=item)).distinct()
    if group:
        holders = holders.filter(group=group)
    orders: dict[int, ShopOrder] = {}
    for order in item.orders.select_related("option", "guardian").order_by("created_at", "pk"):
        if order.holder_id not in orders or orders[order.holder_id].status != ShopOrder.Status.PAID:
            orders[order.holder_id] = order
    return [PaidListRow(holder=h, order=orders.get(h.pk)) for h in holders.order_by("group", "name", "pk")]
