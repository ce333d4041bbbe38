"""Organised meals: prices per category, the school calendar with its menus, pre-orders and class meals.

[SL] ordering rules and [PZ] class meals (DOMAIN.md "Canteen"). An order is placed or cancelled
until the deadline (14:00 on the previous school day, in the institution's time zone); at the
deadline it becomes binding and is paid (`canteen.meal_deadline`); the lunch line or a teacher marks
it served.
"""

import datetime as dt

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Institution, User
from cards.models import Card, Cardholder, PriceCategory
from payments.models import LedgerTransaction

from .sales import new_receipt_token


class MealPolicy(models.Model):
    """An institution's meal rules; institutions without one use the defaults (`meal_policy_get`)."""

    institution = models.OneToOneField(Institution, on_delete=models.CASCADE, related_name="meal_policy")
    order_deadline = models.TimeField(
        _("order deadline"),
        default=dt.time(14, 0),
        help_text=_("Orders close at this time on the previous school day."),
    )
    serving_start = models.TimeField(_("serving starts"), default=dt.time(11, 15))
    serving_end = models.TimeField(_("serving ends"), default=dt.time(13, 45))
    option2_minimum = models.PositiveIntegerField(
        _("minimum orders for option 2"),
        default=20,
        help_text=_("With fewer orders at the deadline, option 2 is not cooked: its orders move to option 1."),
    )
    walk_ins_allowed = models.BooleanField(
        _("walk-ins allowed"),
        default=False,
        help_text=_("Serve pupils without an order at their category's price."),
    )
    kitchen_email = models.EmailField(_("kitchen e-mail"), blank=True)

    class Meta:
        verbose_name = _("meal rules")
        verbose_name_plural = _("meal rules")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(serving_start__lt=models.F("serving_end")), name="meal_policy_serving_window"
            ),
        ]

    def __str__(self) -> str:
        return str(self.institution)


class MealPrice(models.Model):
    """The price of one organised meal for a price category at an institution [SL]."""

    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="meal_prices")
    price_category = models.ForeignKey(PriceCategory, on_delete=models.PROTECT, related_name="meal_prices")
    price_cents = models.BigIntegerField(_("price (minor units)"))

    class Meta:
        verbose_name = _("meal price")
        verbose_name_plural = _("meal prices")
        ordering = ["institution", "price_category"]
        constraints = [
            models.UniqueConstraint(fields=["institution", "price_category"], name="meal_price_once_per_category"),
            models.CheckConstraint(condition=models.Q(price_cents__gte=0), name="meal_price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.institution} · {self.price_category}"


class SchoolDay(models.Model):
    """A day on which the institution serves meals, with its menu. Holidays and weekends have no row."""

    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="school_days")
    date = models.DateField(_("date"))
    option1 = models.CharField(_("option 1"), max_length=200)
    option1_allergens = models.CharField(_("option 1 allergens"), max_length=200, blank=True)
    option2 = models.CharField(_("option 2"), max_length=200, blank=True, help_text=_("Empty: no second option."))
    option2_allergens = models.CharField(_("option 2 allergens"), max_length=200, blank=True)
    # Set by the deadline job (canteen.meal_deadline), each step once.
    option2_dropped = models.BooleanField(_("option 2 not cooked"), default=False)
    orders_closed_at = models.DateTimeField(_("orders closed"), null=True, blank=True)
    kitchen_notified_at = models.DateTimeField(_("kitchen told"), null=True, blank=True)

    class Meta:
        verbose_name = _("school day")
        verbose_name_plural = _("school days")
        ordering = ["institution", "date"]
        constraints = [models.UniqueConstraint(fields=["institution", "date"], name="school_day_once")]

    def __str__(self) -> str:
        return f"{self.institution} · {self.date.isoformat()}"

    @property
    def offers_option2(self) -> bool:
        return bool(self.option2) and not self.option2_dropped


class MealSubscription(models.Model):
    """A cardholder who gets option 1 on every school day unless an order says otherwise [SL]."""

    holder = models.OneToOneField(Cardholder, on_delete=models.CASCADE, related_name="meal_subscription")
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("meal subscription")
        verbose_name_plural = _("meal subscriptions")

    def __str__(self) -> str:
        return str(self.holder)


class ClassMeal(models.Model):
    """A teacher's confirmation of the pupils of a class served an organised meal [PZ]; once per class and day."""

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="class_meals")
    school_day = models.ForeignKey(SchoolDay, on_delete=models.PROTECT, related_name="class_meals")
    group = models.CharField(_("class"), max_length=40)
    teacher_card = models.ForeignKey(Card, on_delete=models.PROTECT, related_name="class_meals")
    terminal_id = models.BigIntegerField(null=True, blank=True)
    place = models.CharField(_("place"), max_length=100, blank=True)
    confirmed_at = models.DateTimeField(_("confirmed"), default=timezone.now)
    receipt_token = models.CharField(max_length=32, unique=True, default=new_receipt_token)

    class Meta:
        verbose_name = _("class meal")
        verbose_name_plural = _("class meals")
        ordering = ["-confirmed_at"]
        constraints = [
            models.UniqueConstraint(fields=["school_day", "group"], name="class_meal_once_per_class_and_day"),
        ]

    def __str__(self) -> str:
        return f"{self.group} · {self.school_day.date.isoformat()}"


class MealOrder(models.Model):
    """One cardholder's meal on one school day: ordered, cancelled, paid (or unpaid), and served.

    One row per cardholder and day (a cancelled order placed again is the same row), which is
    also what keeps the lunch line to one meal per card per day.
    """

    class Status(models.TextChoices):
        ORDERED = "ordered", _("Ordered")
        CANCELLED = "cancelled", _("Cancelled")
        PAID = "paid", _("Paid")
        UNPAID = "unpaid", _("Not paid: debt limit")

    class Source(models.TextChoices):
        GUARDIAN = "guardian", _("Guardian")
        TERMINAL = "terminal", _("Self-service terminal")
        SUBSCRIPTION = "subscription", _("Subscription")
        WALK_IN = "walk_in", _("Walk-in")
        CLASS_MEAL = "class_meal", _("Class meal")

    OPTIONS = ((1, _("Option 1")), (2, _("Option 2")))

    holder = models.ForeignKey(Cardholder, on_delete=models.PROTECT, related_name="meal_orders")
    school_day = models.ForeignKey(SchoolDay, on_delete=models.PROTECT, related_name="orders")
    option = models.PositiveSmallIntegerField(_("option"), choices=OPTIONS, default=1)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ORDERED)
    source = models.CharField(_("ordered by"), max_length=20, choices=Source.choices)
    moved_from_option2 = models.BooleanField(_("moved from option 2"), default=False)
    # Filled when paid: what the meal cost and which balance paid (the debt is the part of main below zero).
    price_cents = models.BigIntegerField(_("price (minor units)"), null=True, blank=True)
    ledger_transaction = models.OneToOneField(
        LedgerTransaction, on_delete=models.PROTECT, null=True, blank=True, related_name="meal_order"
    )
    served_at = models.DateTimeField(_("served"), null=True, blank=True)
    class_meal = models.ForeignKey(ClassMeal, on_delete=models.PROTECT, null=True, blank=True, related_name="orders")
    ordered_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("meal order")
        verbose_name_plural = _("meal orders")
        ordering = ["school_day__date", "holder__name"]
        constraints = [
            models.UniqueConstraint(fields=["holder", "school_day"], name="meal_order_once_per_day"),
            models.CheckConstraint(condition=models.Q(option__in=[1, 2]), name="meal_order_option_1_or_2"),
            # Served means paid: the lunch line and the class meal charge before they mark a meal served.
            models.CheckConstraint(
                condition=models.Q(served_at__isnull=True) | models.Q(status="paid"), name="meal_order_served_is_paid"
            ),
        ]
        indexes = [models.Index(fields=["school_day", "status"], name="meal_order_day_status")]

    def __str__(self) -> str:
        return f"{self.holder} · {self.school_day.date.isoformat()} · {self.option}"
