"""The meal part of API.md's demo data: the rules, the prices and a calendar with menus.

Called by the demo seed (`terminals.demo.demo_seed`) for Demo School; safe to run again: the
rules and prices are set to the demo's values, and only the school days missing are added (a
day already there keeps its menu and its orders).
"""

import datetime as dt

from django.db import transaction

from accounts.models import Institution
from canteen.models import MealPolicy, MealPrice, SchoolDay
from cards.models import PriceCategory

# Every Monday to Friday from this many days ago to this many days ahead is a school day.
DAYS_BACK = 30
DAYS_AHEAD = 60
PRICES = {"grades-1-4": 2500, "grades-5-9": 2800}
POLICY = {
    "order_deadline": dt.time(14, 0),
    "serving_start": dt.time(11, 15),
    "serving_end": dt.time(13, 45),
    "option2_minimum": 20,
    "walk_ins_allowed": False,
}
# (option 1, its allergens, option 2, its allergens), one a weekday.
MENUS = [
    ("Meatballs with potatoes and gravy", "gluten, milk, egg", "Vegetable lasagne", "gluten, milk"),
    ("Chicken with rice and curry sauce", "milk", "Lentil curry with rice", ""),
    ("Fish cakes with rye bread and remoulade", "fish, gluten, egg, mustard", "Pasta with tomato sauce", "gluten"),
    ("Pork roast with red cabbage", "celery", "Baked potato with beans", ""),
    ("Pancakes with jam", "gluten, milk, egg", "Vegetable soup with bread", "gluten, celery"),
]


@transaction.atomic
def meals_demo_seed(
    *, institution: Institution, price_categories: dict[str, PriceCategory], today: dt.date
) -> list[SchoolDay]:
    """Set the demo's meal rules and prices at the institution and make every weekday from
    `today` − 30 days to `today` + 60 days a school day with two options; returns the days added.

    `price_categories` maps the demo's category codes ("grades-1-4", "grades-5-9") to the categories.
    The debt limit (150.00) is the institution's own (`Institution.debt_limit_cents`), not set here.
    """
    MealPolicy.objects.update_or_create(institution=institution, defaults=POLICY)
    for code, cents in PRICES.items():
        MealPrice.objects.update_or_create(
            institution=institution, price_category=price_categories[code], defaults={"price_cents": cents}
        )
    first, last = today - dt.timedelta(days=DAYS_BACK), today + dt.timedelta(days=DAYS_AHEAD)
    known = set(
        SchoolDay.objects.filter(institution=institution, date__range=(first, last)).values_list("date", flat=True)
    )
    days = []
    date = first
    while date <= last:
        if date.weekday() < 5 and date not in known:
            option1, option1_allergens, option2, option2_allergens = MENUS[date.weekday()]
            days.append(
                SchoolDay(
                    institution=institution,
                    date=date,
                    option1=option1,
                    option1_allergens=option1_allergens,
                    option2=option2,
                    option2_allergens=option2_allergens,
                )
            )
        date += dt.timedelta(days=1)
    return SchoolDay.objects.bulk_create(days)
