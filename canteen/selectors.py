import datetime as dt
from zoneinfo import ZoneInfo

from django.db.models import QuerySet, Sum
from django.utils import timezone

from accounts.models import Institution
from canteen.models import Product, Sale
from cards.models import Card


def day_start(*, zone: ZoneInfo, at: dt.datetime | None = None) -> dt.datetime:
    """Midnight of the day `at` falls on, in the given time zone (the institution's)."""
    local = (at or timezone.now()).astimezone(zone)
    return dt.datetime.combine(local.date(), dt.time.min, tzinfo=zone)


def card_spent_today(*, card: Card, zone: ZoneInfo) -> int:
    """What the card paid today (card payments only: cash is the pupil's own money)."""
    total = Sale.objects.filter(card=card, payment=Sale.Payment.CARD, created_at__gte=day_start(zone=zone)).aggregate(
        total=Sum("total_cents")
    )["total"]
    return int(total or 0)


def product_list_for_institution(*, institution: Institution) -> QuerySet[Product]:
    return Product.objects.filter(institution=institution, is_active=True).select_related("category")
