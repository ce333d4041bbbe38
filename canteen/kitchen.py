"""What the kitchen cooks: a school day's meals counted per option and price category, with the
allergy list; as a page for canteen and office staff, a PDF, and one e-mail to the kitchen at the
deadline (DOMAIN.md "Canteen", [SL]).

Which orders count. At the deadline every open order is paid (`canteen.meal_deadline`), so the
kitchen cooks for the **paid** orders. An order the debt limit stopped (`unpaid`) is not cooked
for, but it is not dead either: the lunch line pays it if the debt is paid before lunch. So the
unpaid orders are counted apart, per option, for the kitchen to judge a margin, and their
pupils are on the allergy list (a pupil who eats must be on it). Before the deadline nothing is
binding yet: the open orders, and the subscribers who have no order of their own that day (the
deadline orders option 1 for them), are counted instead, and the figures are marked provisional.
Cancelled orders never count.
"""

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core import mail
from django.db.models import Count, Exists, OuterRef, QuerySet
from django.template.loader import render_to_string
from django.utils import timezone, translation

from accounts.models import Institution, Role, User
from canteen.meal_calendar import meal_policy_get
from canteen.models import MealOrder, MealSubscription, SchoolDay
from cardsystem.errors import NotFound

logger = logging.getLogger(__name__)

# Who may see what the kitchen cooks: the canteen, the office, and administrators of the institution.
KITCHEN_ROLES = (Role.CANTEEN, Role.OFFICE, Role.ADMIN)
# Statuses of the orders that count: cooked for (paid), or perhaps eaten (unpaid), or still open.
_COUNTED = (MealOrder.Status.PAID, MealOrder.Status.UNPAID, MealOrder.Status.ORDERED)


@dataclass
class CategoryCount:
    """The meals of one price category, per option."""

    category: str
    option1: int = 0
    option2: int = 0

    @property
    def total(self) -> int:
        return self.option1 + self.option2


@dataclass(frozen=True)
class AllergyLine:
    name: str
    group: str
    option: int
    note: str
    unpaid: bool


@dataclass
class KitchenDay:
    """A school day's figures for the kitchen. `rows` and `totals` are the meals to cook."""

    school_day: SchoolDay
    provisional: bool
    rows: list[CategoryCount]
    totals: CategoryCount
    unpaid: CategoryCount
    allergies: list[AllergyLine] = field(default_factory=list)


def kitchen_day_counts(*, school_day: SchoolDay) -> KitchenDay:
    """The day's meals per option and price category, the unpaid orders apart, and the allergy list.

    Two queries: one aggregate for the counts, one for the pupils with an allergy note (two more
    before the deadline, for the subscribers).
    """
    provisional = school_day.orders_closed_at is None
    # Before the deadline an order may also be paid already: served while the deadline job was down.
    cooked = (MealOrder.Status.ORDERED, MealOrder.Status.PAID) if provisional else (MealOrder.Status.PAID,)
    orders = MealOrder.objects.filter(school_day=school_day, status__in=_COUNTED)
    rows: dict[int | None, CategoryCount] = {}
    totals = CategoryCount(category=translation.gettext("Total"))
    unpaid = CategoryCount(category=translation.gettext("Not paid (debt limit)"))

    def add(count: CategoryCount, option: int, meals: int) -> None:
        if option == 2:
            count.option2 += meals
        else:
            count.option1 += meals

    def add_cooked(category_id: int | None, name: str | None, option: int, meals: int) -> None:
        if category_id not in rows:
            rows[category_id] = CategoryCount(category=name or translation.gettext("No price category"))
        add(rows[category_id], option, meals)
        add(totals, option, meals)

    grouped = orders.values_list(
        "holder__price_category_id", "holder__price_category__name", "option", "status"
    ).annotate(meals=Count("pk"))
    for category_id, name, option, status, meals in grouped.order_by():
        if status == MealOrder.Status.UNPAID:
            add(unpaid, option, meals)
        elif status in cooked:
            add_cooked(category_id, name, option, meals)
        # else: an order still open after the deadline, which the job is paying: counted once paid.
    allergies = [
        AllergyLine(name=name, group=group, option=option, note=note, unpaid=status == MealOrder.Status.UNPAID)
        for name, group, option, note, status in orders.exclude(holder__allergy_note="").values_list(
            "holder__name", "holder__group", "option", "holder__allergy_note", "status"
        )
    ]
    if provisional:
        subscribers = _subscribers_without_order(school_day)
        for category_id, name, meals in (
            subscribers.values_list("holder__price_category_id", "holder__price_category__name")
            .annotate(meals=Count("pk"))
            .order_by()
        ):
            add_cooked(category_id, name, 1, meals)
        allergies += [
            AllergyLine(name=name, group=group, option=1, note=note, unpaid=False)
            for name, group, note in subscribers.exclude(holder__allergy_note="").values_list(
                "holder__name", "holder__group", "holder__allergy_note"
            )
        ]
    return KitchenDay(
        school_day=school_day,
        provisional=provisional,
        rows=sorted(rows.values(), key=lambda row: row.category),
        totals=totals,
        unpaid=unpaid,
        allergies=sorted(allergies, key=lambda line: (line.group, line.name)),
    )


def _subscribers_without_order(day: SchoolDay) -> QuerySet[MealSubscription]:
    """The institution's subscribers with no order row that day: the deadline orders option 1 for
    each (a cancelled row keeps it from doing so)."""
    has_row = MealOrder.objects.filter(holder_id=OuterRef("holder_id"), school_day=day)
    return MealSubscription.objects.filter(holder__institution_id=day.institution_id).exclude(Exists(has_row))


def kitchen_context(*, school_day: SchoolDay) -> dict[str, Any]:
    """What the page, the PDF and the e-mail show."""
    kitchen = kitchen_day_counts(school_day=school_day)
    institution = school_day.institution
    return {
        "kitchen": kitchen,
        "day": school_day,
        "institution": institution,
        "made_at": timezone.now().astimezone(institution.zone),
    }


def kitchen_pdf(*, school_day: SchoolDay, language: str | None = None, context: dict[str, Any] | None = None) -> bytes:
    from weasyprint import HTML  # imported here: loading pango costs ~0.3 s, not needed elsewhere

    with translation.override(language or translation.get_language()):
        html = render_to_string("canteen/kitchen_pdf.html", context or kitchen_context(school_day=school_day))
    return bytes(HTML(string=html).write_pdf())


def kitchen_pdf_filename(*, school_day: SchoolDay) -> str:
    return f"kitchen-{school_day.institution_id}-{school_day.date.isoformat()}.pdf"


def kitchen_day_mail(*, school_day_id: int) -> bool:
    """Send the day's counts, with the PDF, to the institution's kitchen address, once.

    Returns False (nothing sent) when the institution has no kitchen address, when the day's
    orders are not closed yet (the figures would not be final), or when it was sent already. The
    send is claimed first in one UPDATE, so two workers running the task send it once; if sending
    fails the claim is given back and the error raised, so a retry sends it. In the deployment's
    language: the kitchen is not a user with a language of its own.
    """
    day = SchoolDay.objects.select_related("institution").filter(pk=school_day_id).first()
    if day is None:
        return False
    address = meal_policy_get(institution=day.institution).kitchen_email
    if not address:
        return False
    claimed_at = timezone.now()
    claimed = SchoolDay.objects.filter(
        pk=day.pk, kitchen_notified_at__isnull=True, orders_closed_at__isnull=False
    ).update(kitchen_notified_at=claimed_at)
    if not claimed:
        return False
    day.refresh_from_db()
    try:
        with translation.override(settings.LANGUAGE_CODE):
            context = kitchen_context(school_day=day)
            subject = " ".join(render_to_string("canteen/email/kitchen_subject.txt", context).split())
            body = render_to_string("canteen/email/kitchen_body.txt", context)
            pdf = kitchen_pdf(school_day=day, context=context)
        message = mail.EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [address])
        message.attach(kitchen_pdf_filename(school_day=day), pdf, "application/pdf")
        message.send()
    except Exception:
        SchoolDay.objects.filter(pk=day.pk, kitchen_notified_at=claimed_at).update(kitchen_notified_at=None)
        logger.exception("kitchen e-mail for %s not sent; the claim is given back", day)
        raise
    return True


# --- who may see it ------------------------------------------------------------------------------


def kitchen_institutions_for_staff(*, user: User) -> QuerySet[Institution]:
    """The institutions whose kitchen figures the user may see: canteen, office or administrator there."""
    if user.is_superuser:
        return Institution.objects.all()
    return Institution.objects.filter(memberships__user=user, memberships__role__in=KITCHEN_ROLES).distinct()


def kitchen_user_is_staff(*, user: User) -> bool:
    return user.is_superuser or user.memberships.filter(role__in=KITCHEN_ROLES).exists()


def kitchen_day_get(*, user: User, institution_id: int, date: dt.date) -> SchoolDay:
    """The school day at one of the user's institutions, or NotFound (not a school day, or not theirs)."""
    day = (
        SchoolDay.objects.select_related("institution")
        .filter(institution__in=kitchen_institutions_for_staff(user=user), institution_id=institution_id, date=date)
        .first()
    )
    if day is None:
        raise NotFound()
    return day


def kitchen_neighbours(*, school_day: SchoolDay) -> tuple[dt.date | None, dt.date | None]:
    """The institution's school days before and after this one, for the page's links."""
    days = SchoolDay.objects.filter(institution_id=school_day.institution_id)
    before = days.filter(date__lt=school_day.date).order_by("-date").values_list("date", flat=True).first()
    after = days.filter(date__gt=school_day.date).order_by("date").values_list("date", flat=True).first()
    return before, after
