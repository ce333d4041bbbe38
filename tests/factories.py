"""factory_boy factories. Cardholders come with their ledger accounts opened, like the services do."""

from typing import Any

import factory
from factory.django import DjangoModelFactory

from accounts.models import Institution, Role, StaffMembership, User
from canteen.models import Product, ProductCategory
from cards.models import Card, Cardholder, PriceCategory
from payments.ledger import holder_accounts_open, opening_balance_post
from terminals.models import Terminal
from terminals.services import terminal_token_issue

PASSWORD = "test-password-1"


class InstitutionFactory(DjangoModelFactory[Institution]):
    class Meta:
        model = Institution
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"School {n}")
    school_number = factory.Sequence(lambda n: str(200 + n))
    canteen_provider = "Test Kantine ApS"


class UserFactory(DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj: User, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create:
            obj.save()


def staff_user(*, institution: Institution, role: str = Role.CANTEEN, **kwargs: Any) -> User:
    user = UserFactory(**kwargs)
    StaffMembership.objects.create(user=user, institution=institution, role=role)
    return user


class PriceCategoryFactory(DjangoModelFactory[PriceCategory]):
    class Meta:
        model = PriceCategory
        django_get_or_create = ("code",)

    code = "grades-1-4"
    name = "Grades 1–4"


class CardholderFactory(DjangoModelFactory[Cardholder]):
    class Meta:
        model = Cardholder

    name = factory.Sequence(lambda n: f"Pupil {n}")
    institution = factory.SubFactory(InstitutionFactory)
    group = "5B"
    price_category = factory.SubFactory(PriceCategoryFactory)


def holder_with_balances(*, main: int = 0, extra: int = 0, **kwargs: Any) -> Cardholder:
    """A cardholder whose balances start at `main` and `extra` minor units (through the ledger)."""
    holder = CardholderFactory(**kwargs)
    accounts = holder_accounts_open(holder=holder)
    if main:
        opening_balance_post(account=accounts.main, amount_cents=main, reason="test")
    if extra:
        opening_balance_post(account=accounts.extra, amount_cents=extra, reason="test")
    return holder


class CardFactory(DjangoModelFactory[Card]):
    class Meta:
        model = Card

    uid = factory.Sequence(lambda n: f"04{n:012X}")
    number = factory.Sequence(lambda n: f"{500000 + n}")
    holder = factory.SubFactory(CardholderFactory)
    kind = Card.Kind.REGULAR


def card_with_balances(*, main: int = 0, extra: int = 0, institution: Institution | None = None, **kwargs: Any) -> Card:
    holder_kwargs = {"institution": institution} if institution else {}
    holder = holder_with_balances(main=main, extra=extra, **holder_kwargs)
    return CardFactory(holder=holder, **kwargs)


class ProductCategoryFactory(DjangoModelFactory[ProductCategory]):
    class Meta:
        model = ProductCategory
        django_get_or_create = ("institution", "code")

    institution = factory.SubFactory(InstitutionFactory)
    code = "food"
    name = "Food"


class ProductFactory(DjangoModelFactory[Product]):
    class Meta:
        model = Product

    institution = factory.SubFactory(InstitutionFactory)
    category = factory.LazyAttribute(lambda o: ProductCategoryFactory(institution=o.institution))
    name = factory.Sequence(lambda n: f"Product {n}")
    price_cents = 2500


class TerminalFactory(DjangoModelFactory[Terminal]):
    class Meta:
        model = Terminal

    institution = factory.SubFactory(InstitutionFactory)
    name = factory.Sequence(lambda n: f"Till {n}")


def terminal_with_token(**kwargs: Any) -> tuple[Terminal, str]:
    terminal = TerminalFactory(**kwargs)
    return terminal, terminal_token_issue(terminal=terminal)
