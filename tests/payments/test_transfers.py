"""Guardians move money between their own cardholders: the service and the page /portal/transfer/."""

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from accounts.models import Institution, User
from cards.models import Cardholder
from cards.services import guardianship_create
from cardsystem.errors import InvalidRequest, NotFound
from payments.errors import InsufficientFunds
from payments.ledger import holder_accounts_get
from payments.models import LedgerAccount, LedgerEntry, LedgerTransaction
from payments.selectors import ledger_mismatches
from payments.transfers import transfer_create
from tests.factories import InstitutionFactory, UserFactory, holder_with_balances

pytestmark = pytest.mark.django_db

URL = "/portal/transfer/"
MAIN, EXTRA = LedgerAccount.Kind.MAIN, LedgerAccount.Kind.EXTRA


@pytest.fixture
def school() -> Institution:
    return InstitutionFactory(debt_limit_cents=15000)


@pytest.fixture
def guardian() -> User:
    return UserFactory()


def ward(guardian: User, school: Institution, **kwargs: object) -> Cardholder:
    holder = holder_with_balances(institution=school, **kwargs)  # type: ignore[arg-type]
    guardianship_create(guardian=guardian, holder=holder)
    return holder


@pytest.fixture
def anna(guardian: User, school: Institution) -> Cardholder:
    return ward(guardian, school, name="Anna", main=10000, extra=5000)


@pytest.fixture
def bo(guardian: User, school: Institution) -> Cardholder:
    return ward(guardian, school, name="Bo")


@pytest.fixture
def client(guardian: User) -> Client:
    # English pages, so the texts asserted on do not change when translations arrive.
    client = Client(headers={"accept-language": "en"})
    client.force_login(guardian)
    return client


def balances(holder: Cardholder) -> tuple[int, int]:
    accounts = holder_accounts_get(holder_id=holder.pk)
    return accounts.main.balance_cents, accounts.extra.balance_cents


def move(guardian: User, source: Cardholder, target: Cardholder, amount: int, **kwargs: str) -> LedgerTransaction:
    return transfer_create(
        guardian=guardian,
        source_holder=source,
        source_balance=kwargs.get("source_balance", EXTRA),
        target_holder=target,
        target_balance=kwargs.get("target_balance", EXTRA),
        amount_cents=amount,
    )


# --- the service ---------------------------------------------------------------------------


def test_a_transfer_moves_the_amount_in_one_transfer_movement_by_the_guardian(guardian, anna, bo) -> None:  # type: ignore[no-untyped-def]
    txn = move(guardian, anna, bo, 2000, target_balance=MAIN)

    assert balances(anna) == (10000, 3000)
    assert balances(bo) == (2000, 0)
    assert (txn.kind, txn.created_by) == (LedgerTransaction.Kind.TRANSFER, guardian)
    legs = set(
        LedgerEntry.objects.filter(transaction=txn).values_list("account__holder", "account__kind", "amount_cents")
    )
    assert legs == {(anna.pk, EXTRA, -2000), (bo.pk, MAIN, 2000)}
    assert ledger_mismatches() == []


def test_the_whole_source_balance_can_be_moved(guardian, anna, bo) -> None:  # type: ignore[no-untyped-def]
    move(guardian, anna, bo, 10000, source_balance=MAIN)

    assert balances(anna) == (0, 5000)
    assert balances(bo) == (0, 10000)


def test_more_than_the_source_balance_is_refused_and_nothing_moves(guardian, anna, bo) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InsufficientFunds) as raised:
        move(guardian, anna, bo, 5001)

    assert "amount" in (raised.value.fields or {})
    assert (balances(anna), balances(bo)) == ((10000, 5000), (0, 0))
    assert not LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.TRANSFER).exists()


def test_a_transfer_cannot_take_main_below_zero_although_its_floor_is_the_debt_limit(guardian, anna, bo) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InsufficientFunds):
        move(guardian, anna, bo, 10001, source_balance=MAIN)

    assert balances(anna) == (10000, 5000)


def test_nothing_can_be_moved_out_of_a_main_balance_in_debt(guardian, school, bo) -> None:  # type: ignore[no-untyped-def]
    indebted = ward(guardian, school, extra=5000)
    LedgerAccount.objects.filter(holder=indebted, kind=MAIN).update(balance_cents=-3000)

    with pytest.raises(InsufficientFunds):
        move(guardian, indebted, bo, 100, source_balance=MAIN)

    assert balances(indebted) == (-3000, 5000)


@pytest.mark.parametrize("side", ["source", "target"])
def test_another_familys_holder_on_either_side_is_not_found(guardian, anna, school, side) -> None:  # type: ignore[no-untyped-def]
    stranger = holder_with_balances(institution=school, extra=5000)
    source, target = (stranger, anna) if side == "source" else (anna, stranger)

    with pytest.raises(NotFound):
        move(guardian, source, target, 100)

    assert (balances(anna), balances(stranger)) == ((10000, 5000), (0, 5000))


@pytest.mark.parametrize("amount", [0, -100])
def test_an_amount_not_above_zero_is_refused_on_the_amount(guardian, anna, bo, amount) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidRequest) as raised:
        move(guardian, anna, bo, amount)

    assert list(raised.value.fields or {}) == ["amount"]
    assert balances(anna) == (10000, 5000)


def test_moving_between_the_balances_of_one_holder_is_refused_as_the_offices_job(guardian, anna) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidRequest) as raised:
        move(guardian, anna, anna, 1000, source_balance=MAIN, target_balance=EXTRA)

    assert list(raised.value.fields or {}) == ["target_holder"]
    assert balances(anna) == (10000, 5000)


def test_a_balance_that_is_not_main_or_extra_is_refused(guardian, anna, bo) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidRequest) as raised:
        move(guardian, anna, bo, 1000, source_balance="revenue")

    assert list(raised.value.fields or {}) == ["source_balance"]


# --- the page ------------------------------------------------------------------------------


def form_data(source: Cardholder, target: Cardholder, amount: str, **kwargs: str) -> dict[str, object]:
    return {
        "source_holder": source.pk,
        "source_balance": kwargs.get("source_balance", EXTRA),
        "target_holder": target.pk,
        "target_balance": kwargs.get("target_balance", EXTRA),
        "amount": amount,
    }


def test_the_page_offers_only_the_guardians_own_holders_with_their_balances(client, anna, bo, school) -> None:  # type: ignore[no-untyped-def]
    holder_with_balances(institution=school, name="Stranger")

    response = client.get(URL)

    assert response.status_code == 200
    form = response.context["form"]
    assert list(form.fields["source_holder"].queryset) == [anna, bo]
    assert list(form.fields["target_holder"].queryset) == [anna, bo]
    assert "Stranger" not in response.text
    assert '<label for="id_amount">' in response.text


def test_a_transfer_on_the_page_moves_the_money_and_goes_back_to_the_portal(client, anna, bo) -> None:  # type: ignore[no-untyped-def]
    response = client.post(URL, form_data(anna, bo, "12,50", target_balance=MAIN))

    assert response.status_code == 302 and response["Location"] == "/portal/"
    assert balances(anna) == (10000, 3750)
    assert balances(bo) == (1250, 0)
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Moved 12.50\xa0DKK from Anna (extra balance) to Bo (main balance)."
    ]


def test_more_than_the_balance_is_shown_beside_the_amount_and_nothing_moves(client, anna, bo) -> None:  # type: ignore[no-untyped-def]
    response = client.post(URL, form_data(anna, bo, "50.01"))

    assert response.status_code == 400
    assert list(response.context["form"].errors) == ["amount"]
    assert 'id="id_amount_errors"' in response.text
    assert (balances(anna), balances(bo)) == ((10000, 5000), (0, 0))


def test_the_same_holder_on_both_sides_is_shown_beside_the_target(client, anna, bo) -> None:  # type: ignore[no-untyped-def]
    response = client.post(URL, form_data(anna, anna, "10.00", source_balance=MAIN))

    assert response.status_code == 400
    assert list(response.context["form"].errors) == ["target_holder"]
    assert balances(anna) == (10000, 5000)


@pytest.mark.parametrize("amount", ["0", "0.00", "-5", "abc", "1.001", ""])
def test_a_bad_amount_is_shown_beside_the_amount_and_nothing_moves(client, anna, bo, amount) -> None:  # type: ignore[no-untyped-def]
    response = client.post(URL, form_data(anna, bo, amount))

    assert response.status_code == 400
    assert list(response.context["form"].errors) == ["amount"]
    assert balances(anna) == (10000, 5000)


def test_another_familys_holder_is_not_a_choice_and_nothing_moves(client, anna, school) -> None:  # type: ignore[no-untyped-def]
    stranger = holder_with_balances(institution=school, extra=5000)

    response = client.post(URL, form_data(stranger, anna, "10.00"))

    assert response.status_code == 400
    assert "source_holder" in response.context["form"].errors
    assert (balances(anna), balances(stranger)) == ((10000, 5000), (0, 5000))


def test_with_one_holder_the_page_explains_that_two_are_needed(client, anna) -> None:  # type: ignore[no-untyped-def]
    response = client.get(URL)

    assert response.status_code == 200
    assert "at least two cardholders" in response.text
    assert 'name="amount"' not in response.text


def test_the_page_asks_a_visitor_to_sign_in() -> None:
    response = Client().get(URL)

    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
