"""The demo data of API.md, built through the services."""

from django.db import transaction

from accounts.models import Institution, Role, User
from accounts.services import membership_grant
from accounts.tokens import token_digest
from canteen.meal_calendar import local_today
from canteen.meal_demo import meals_demo_seed
from canteen.models import Product, ProductCategory
from cards.models import Card, PriceCategory
from cards.services import card_issue, guardianship_create
from payments.ledger import holder_accounts_get, opening_balance_post
from payments.services import holder_register
from terminals.models import Terminal, TerminalToken
from webshop.demo import webshop_demo_seed

DEMO_TERMINAL_TOKEN = "demo-terminal-token"
STAFF_PASSWORD = "demo-staff-1"

HOLDERS = [
    # guardian, name, group, category, uid, number, main, extra
    ("parent@example.com", "Anna", "2A", "grades-1-4", "04A1B2C3D4E5F6", "100001", 10000, 5000),
    ("parent@example.com", "Bo", "5B", "grades-5-9", "04B2C3D4E5F607", "100002", 0, 0),
    ("other@example.com", "Carl", "5B", "grades-5-9", "04C3D4E5F60718", "100003", 0, 2000),
]
GUARDIANS = {"parent@example.com": "demo-parent-1", "other@example.com": "demo-other-1"}
STAFF = [
    ("canteen@example.com", "Demo Canteen", Role.CANTEEN),
    ("teacher@example.com", "Demo Teacher", Role.TEACHER),
    ("office@example.com", "Demo Office", Role.OFFICE),
    ("finance@example.com", "Demo Finance", Role.FINANCE),
    ("finance2@example.com", "Demo Finance Two", Role.FINANCE),
]
PRODUCTS = [
    ("Sandwich", "food", 2500),
    ("Milk", "drinks", 500),
    ("Apple", "fruit", 400),
    ("Chocolate bar", "sweets", 1200),
]
CATEGORY_NAMES = {"food": "Food", "drinks": "Drinks", "fruit": "Fruit", "sweets": "Sweets"}


def _user(email: str, password: str, full_name: str = "") -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(email=email, password=password, full_name=full_name)
        from allauth.account.models import EmailAddress

        EmailAddress.objects.create(user=user, email=email, primary=True, verified=True)
    return user


@transaction.atomic
def demo_seed() -> None:
    school, _ = Institution.objects.get_or_create(
        name="Demo School",
        defaults={"school_number": "101", "kind": Institution.Kind.SCHOOL, "canteen_provider": "Demo Kantine ApS"},
    )
    Institution.objects.get_or_create(name="Demo SFO", defaults={"kind": Institution.Kind.SFO})

    categories = {
        "grades-1-4": PriceCategory.objects.get_or_create(code="grades-1-4", defaults={"name": "Grades 1–4"})[0],
        "grades-5-9": PriceCategory.objects.get_or_create(code="grades-5-9", defaults={"name": "Grades 5–9"})[0],
    }
    for email, password in GUARDIANS.items():
        _user(email, password)
    staff_users = {}
    for email, full_name, role in STAFF:
        user = _user(email, STAFF_PASSWORD, full_name)
        membership_grant(user=user, institution=school, role=role)
        staff_users[role] = user

    for guardian_email, name, group, category, uid, number, main, extra in HOLDERS:
        card = Card.objects.filter(number=number).select_related("holder").first()
        if card is None:
            holder = holder_register(name=name, institution=school, group=group, price_category=categories[category])
            accounts = holder_accounts_get(holder_id=holder.pk)
            if main:
                opening_balance_post(account=accounts.main, amount_cents=main, reason="Demo data")
            if extra:
                opening_balance_post(account=accounts.extra, amount_cents=extra, reason="Demo data")
            card = card_issue(uid=uid, number=number, holder=holder, activation_code=f"DEMO-{number}")
        assert card.holder is not None
        guardianship_create(guardian=User.objects.get(email=guardian_email), holder=card.holder)

    if not Card.objects.filter(number="900001").exists():
        card_issue(
            uid="04D4E5F6071829",
            number="900001",
            staff_user=staff_users[Role.TEACHER],
            kind=Card.Kind.TEACHER,
        )

    for position, (name, code, price) in enumerate(PRODUCTS):
        product_category, _ = ProductCategory.objects.get_or_create(
            institution=school, code=code, defaults={"name": CATEGORY_NAMES[code]}
        )
        Product.objects.get_or_create(
            institution=school,
            name=name,
            defaults={"category": product_category, "price_cents": price, "position": position},
        )

    meals_demo_seed(institution=school, price_categories=categories, today=local_today(institution=school))
    webshop_demo_seed(institution=school)

    Terminal.objects.get_or_create(institution=school, name="Info 1", defaults={"kind": Terminal.Kind.INFO})
    Terminal.objects.get_or_create(institution=school, name="Office 1", defaults={"kind": Terminal.Kind.OFFICE})
    Terminal.objects.get_or_create(institution=school, name="Self-service 1", defaults={"kind": Terminal.Kind.TILL})
    terminal, _ = Terminal.objects.get_or_create(institution=school, name="Canteen 1")
    TerminalToken.objects.get_or_create(
        digest=token_digest(DEMO_TERMINAL_TOKEN), defaults={"terminal": terminal, "prefix": DEMO_TERMINAL_TOKEN[:8]}
    )


__all__ = ["demo_seed"]
