import datetime as dt
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from django.db.models import BigIntegerField, Exists, Expression, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Institution
from canteen.models import HolderCategoryBlock, Product, Sale
from cards.models import Card


def day_start(*, zone: ZoneInfo, at: dt.datetime | None = None) -> dt.datetime:
    """Midnight of the day `at` falls on, in the given time zone (the institution's)."""
    local = (at or timezone.now()).astimezone(zone)
    return dt.datetime.combine(local.date(), dt.time.min, tzinfo=zone)


def _card_sales_today(*, card: Card, zone: ZoneInfo) -> QuerySet[Sale]:
    # Card payments only: cash is the pupil's own money.
    return Sale.objects.filter(card=card, payment=Sale.Payment.CARD, created_at__gte=day_start(zone=zone))


def card_spent_today(*, card: Card, zone: ZoneInfo) -> int:
    """What the card paid today, in the given time zone's day."""
    total = _card_sales_today(card=card, zone=zone).aggregate(total=Sum("total_cents"))["total"]
    return int(total or 0)


def card_spent_today_expression(*, card: Card, zone: ZoneInfo) -> Expression:
    """`card_spent_today` as an expression, to read it inside another query (one round trip)."""
    total = _card_sales_today(card=card, zone=zone).order_by().values("card").annotate(total=Sum("total_cents"))
    return Coalesce(Subquery(total.values("total")[:1]), Value(0), output_field=BigIntegerField())


def category_blocked_expression(*, holder_id: int, codes: Iterable[str]) -> Exists:
    """Whether a guardian blocked any of these product categories for the cardholder."""
    return Exists(HolderCategoryBlock.objects.filter(holder_id=holder_id, category_code__in=list(codes)))


def product_list_for_institution(*, institution: Institution) -> QuerySet[Product]:
    return Product.objects.filter(institution=institution, is_active=True).select_related("category")
