"""A family and a stranger's family with something of everything the system holds about them."""

import datetime as dt
from dataclasses import dataclass

import pytest
from django.db import transaction
from django.utils import timezone

from accounts.models import Institution, Role, User
from accounts.services import membership_grant, personal_token_create
from canteen.models import MealOrder, Sale
from canteen.services import LineRequest, purchase_create
from cards.models import Card, Cardholder
from cards.services import guardianship_create
from payments.corrections import correction_request
from payments.models import AutoTopUp, Payment, PaymentAllocation, PaymentMandate
from payouts.crypto import cpr_encrypt
from payouts.models import PayeeKind, RefundRequest
from tests.factories import CardFactory, InstitutionFactory, ProductFactory, UserFactory, holder_with_balances
from tests.meal_factories import MealOrderFactory, SchoolDayFactory

CPR = "0707614285"


@dataclass
class Family:
    guardian: User
    holder: Cardholder
    card: Card
    sale: Sale
    meal_order: MealOrder
    payment: Payment
    refund: RefundRequest
    token_raw: str


def family(*, school: Institution, name: str, number: str, uid: str, code: str, clerk: User) -> Family:
    guardian = UserFactory(email=f"{name.lower()}-parent@example.com", full_name=f"{name}'s parent")
    holder = holder_with_balances(institution=school, name=name, main=10000, extra=5000, allergy_note="nuts")
    guardianship_create(guardian=guardian, holder=holder)
    card = CardFactory(holder=holder, number=number, uid=uid, activation_code=code)
    product = ProductFactory(institution=school, name=f"{name}'s sandwich", price_cents=2500)
    with transaction.atomic(durable=True):
        sale = purchase_create(institution=school, card=card, lines=[LineRequest(product_id=product.pk, quantity=1)])
    meal_order = MealOrderFactory(
        holder=holder, school_day=SchoolDayFactory(institution=school, date=dt.date(2026, 12, 7)), price_cents=2800
    )
    payment = Payment.objects.create(
        guardian=guardian,
        purpose=Payment.Purpose.TOPUP,
        amount_cents=10000,
        provider="test",
        reference=f"payref-{name}-secret",
        expires_at=timezone.now(),
    )
    PaymentAllocation.objects.create(payment=payment, holder=holder, balance="main", amount_cents=10000)
    mandate = PaymentMandate.objects.create(
        guardian=guardian, provider="test", reference=f"mandate-{name}-secret", label="Visa •••• 4242"
    )
    AutoTopUp.objects.create(
        holder=holder, balance="extra", threshold_cents=2000, amount_cents=5000, mandate=mandate, guardian=guardian
    )
    refund = RefundRequest.objects.create(
        holder=holder,
        institution=school,
        requested_by=guardian,
        payee_name=f"{name}'s parent",
        payee_kind=PayeeKind.CPR,
        payee_cpr_token=cpr_encrypt(CPR),
    )
    correction_request(holder=holder, balance="main", amount_cents=1500, requested_by=clerk, reason=f"{name} missed")
    _token, raw = personal_token_create(user=guardian, name=f"{name}'s home script")
    return Family(guardian, holder, card, sale, meal_order, payment, refund, raw)


@pytest.fixture
def school() -> Institution:
    return InstitutionFactory(name="Our School")


@pytest.fixture
def clerk(school: Institution) -> User:
    user = UserFactory()
    membership_grant(user=user, institution=school, role=Role.OFFICE)
    return user


@pytest.fixture
def anna(school: Institution, clerk: User) -> Family:
    return family(school=school, name="Anna", number="100001", uid="04A1B2C3D4E5F6", code="ACTIVATE-ANNA", clerk=clerk)


@pytest.fixture
def carl(school: Institution, clerk: User) -> Family:
    return family(school=school, name="Carl", number="100003", uid="04C3D4E5F60718", code="ACTIVATE-CARL", clerk=clerk)
