"""The class-meal receipt [PZ], a page and a PDF: teacher card, school, class, time, meal, the cost
per price category and the pupils served."""

from dataclasses import dataclass
from typing import Any

from django.template.loader import render_to_string
from django.utils import translation

from canteen.models import ClassMeal, MealOrder
from cardsystem.money import cents_to_str, currency


@dataclass(frozen=True)
class CategoryCost:
    category: str
    price: str
    pupils: int
    total: str


def class_meal_receipt_context(*, class_meal: ClassMeal) -> dict[str, Any]:
    orders = list(
        MealOrder.objects.filter(class_meal=class_meal)
        .select_related("holder__price_category")
        .order_by("holder__name", "holder_id")
    )
    day = class_meal.school_day
    # Grouped by category and price: a price changed during the day would show as its own line.
    groups: dict[tuple[str, int], int] = {}
    pupils = []
    for order in orders:
        category = order.holder.price_category.name if order.holder.price_category else "—"
        price = order.price_cents or 0
        groups[(category, price)] = groups.get((category, price), 0) + 1
        pupils.append(
            {
                "name": order.holder.name,
                "category": category,
                "option": order.option,
                "price": cents_to_str(price),
            }
        )
    costs = [
        CategoryCost(category=category, price=cents_to_str(price), pupils=count, total=cents_to_str(price * count))
        for (category, price), count in sorted(groups.items())
    ]
    options = sorted({order.option for order in orders}) or [1]
    teacher = class_meal.teacher_card.staff_user
    return {
        "class_meal": class_meal,
        "institution": class_meal.institution,
        "school_number": class_meal.institution.school_number,
        "provider": class_meal.institution.canteen_provider,
        "teacher_card": class_meal.teacher_card.number,
        "teacher": (teacher.full_name or teacher.email) if teacher else "",
        "group": class_meal.group,
        "place": class_meal.place,
        "at": class_meal.confirmed_at.astimezone(class_meal.institution.zone),
        "date": day.date,
        "meals": [
            {
                "option": option,
                "description": day.option2 if option == 2 else day.option1,
                "allergens": day.option2_allergens if option == 2 else day.option1_allergens,
                "pupils": sum(1 for order in orders if order.option == option),
            }
            for option in options
        ],
        "costs": costs,
        "pupils": pupils,
        "count": len(pupils),
        "total": cents_to_str(sum(order.price_cents or 0 for order in orders)),
        "currency": currency(),
    }


def class_meal_receipt_pdf(*, class_meal: ClassMeal, language: str | None = None) -> bytes:
    from weasyprint import HTML  # imported here: loading pango costs ~0.3 s

    context = class_meal_receipt_context(class_meal=class_meal)
    with translation.override(language or translation.get_language()):
        html = render_to_string("canteen/class_meal_receipt_pdf.html", context)
    return bytes(HTML(string=html).write_pdf())
