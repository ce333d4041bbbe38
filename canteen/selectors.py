import datetime as dt
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import QuerySet, Sum
from django.utils import timezone

from accounts.models import Institution
from canteen.models import Product, ProductCategory, Sale
from cards.models import Card
from cardsystem.rawsql import adapt_datetime, column_count, instance, select_columns
from payments.ledger import SqlFact


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


def card_spent_today_fact(*, card: Card, zone: ZoneInfo) -> SqlFact:
    """`card_spent_today` as SQL, to read it in the statement that locks the balances."""
    return SqlFact(
        "SELECT CAST(COALESCE(SUM(s.total_cents), 0) AS BIGINT) FROM canteen_sale s "
        "WHERE s.card_id = %s AND s.payment = %s AND s.created_at >= %s",
        (card.pk, Sale.Payment.CARD.value, adapt_datetime(day_start(zone=zone))),
    )


def category_blocked_fact(*, holder_id: int, codes: Iterable[str]) -> SqlFact:
    """Whether a guardian blocked any of these product categories for the cardholder, as SQL."""
    wanted = sorted(codes)
    if not wanted:
        return SqlFact("SELECT 0")
    placeholders = ", ".join(["%s"] * len(wanted))
    return SqlFact(
        "SELECT COUNT(*) FROM canteen_holdercategoryblock b "  # noqa: S608 - placeholders only
        f"WHERE b.holder_id = %s AND b.category_code IN ({placeholders})",
        (holder_id, *wanted),
    )


def product_list_for_institution(*, institution: Institution) -> QuerySet[Product]:
    return Product.objects.filter(institution=institution, is_active=True).select_related("category")


def products_on_sale(*, institution: Institution, product_ids: Iterable[int]) -> dict[int, Product]:
    """The institution's active products among these ids, with their categories (one statement)."""
    ids = sorted(set(product_ids))
    if not ids:
        return {}
    placeholders = ", ".join(["%s"] * len(ids))
    sql = (
        f"SELECT {select_columns(Product, 'p')}, {select_columns(ProductCategory, 'c')} "  # noqa: S608
        "FROM canteen_product p JOIN canteen_productcategory c ON c.id = p.category_id "
        f"WHERE p.institution_id = %s AND p.is_active AND p.id IN ({placeholders})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [institution.pk, *ids])
        rows = cursor.fetchall()
    width = column_count(Product)
    found = {}
    for row in rows:
        product = instance(Product, row[:width])
        product.category = instance(ProductCategory, row[width:])
        found[product.pk] = product
    return found
