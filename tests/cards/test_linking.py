import pytest
from django.core.cache import cache
from django.test import Client

from cards import views
from cards.errors import ActivationInvalid
from cards.models import Card, Guardianship
from cards.services import guardianship_link
from tests.factories import CardFactory, CardholderFactory, UserFactory

pytestmark = pytest.mark.django_db

CODE = "K7Q2-9XWD"


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    cache.clear()


def signed_in(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def card_with_code(**kwargs) -> Card:  # type: ignore[no-untyped-def]
    return CardFactory(activation_code=CODE, **kwargs)


def test_the_right_number_and_code_link_the_holder_and_consume_the_code() -> None:
    card, guardian = card_with_code(), UserFactory()

    guardianship_link(guardian=guardian, card_number=card.number, activation_code=CODE)

    assert Guardianship.objects.filter(guardian=guardian, holder=card.holder).exists()
    card.refresh_from_db()
    assert card.activation_code == ""


def test_the_code_is_accepted_whatever_its_letter_case_and_spaces() -> None:
    card, guardian = card_with_code(), UserFactory()

    guardianship_link(guardian=guardian, card_number=f" {card.number} ", activation_code=f" {CODE.lower()} ")

    assert Guardianship.objects.filter(guardian=guardian, holder=card.holder).exists()


def test_the_same_code_a_second_time_is_refused() -> None:
    card = card_with_code()
    guardianship_link(guardian=UserFactory(), card_number=card.number, activation_code=CODE)
    second = UserFactory()

    with pytest.raises(ActivationInvalid):
        guardianship_link(guardian=second, card_number=card.number, activation_code=CODE)

    assert not Guardianship.objects.filter(guardian=second).exists()


def test_a_wrong_code_links_nothing_and_keeps_the_code() -> None:
    card, guardian = card_with_code(), UserFactory()

    with pytest.raises(ActivationInvalid) as error:
        guardianship_link(guardian=guardian, card_number=card.number, activation_code="WRONG-CODE")

    assert error.value.code == "activation_invalid"
    assert not Guardianship.objects.exists()
    card.refresh_from_db()
    assert card.activation_code == CODE


def test_a_card_without_a_code_cannot_be_linked_with_an_empty_code() -> None:
    card = CardFactory(activation_code="")

    with pytest.raises(ActivationInvalid):
        guardianship_link(guardian=UserFactory(), card_number=card.number, activation_code="")

    assert not Guardianship.objects.exists()


def test_an_unknown_number_and_a_wrong_code_give_the_same_message() -> None:
    card, guardian = card_with_code(), UserFactory()

    with pytest.raises(ActivationInvalid) as unknown:
        guardianship_link(guardian=guardian, card_number="999999999", activation_code=CODE)
    with pytest.raises(ActivationInvalid) as wrong:
        guardianship_link(guardian=guardian, card_number=card.number, activation_code="WRONG-CODE")

    assert unknown.value.message == wrong.value.message
    assert not Guardianship.objects.exists()


def test_a_second_guardian_links_another_familys_card_only_with_an_unused_code() -> None:
    holder = CardholderFactory()
    first = card_with_code(holder=holder)
    guardianship_link(guardian=UserFactory(), card_number=first.number, activation_code=CODE)
    second_guardian = UserFactory()

    with pytest.raises(ActivationInvalid):
        guardianship_link(guardian=second_guardian, card_number=first.number, activation_code=CODE)
    new_card = CardFactory(holder=holder, activation_code="NEW-CODE-1")
    guardianship_link(guardian=second_guardian, card_number=new_card.number, activation_code="NEW-CODE-1")

    assert Guardianship.objects.filter(guardian=second_guardian, holder=holder).exists()
    assert holder.guardianships.count() == 2


def test_the_link_page_shows_a_labelled_form() -> None:
    response = signed_in(UserFactory()).get("/portal/link/")

    assert response.status_code == 200
    assert b'<label for="id_card_number"' in response.content
    assert b'<label for="id_activation_code"' in response.content
    assert b'class="site-header"' in response.content


def test_the_link_page_asks_anonymous_visitors_to_sign_in() -> None:
    assert Client().get("/portal/link/")["Location"].startswith("/accounts/login/")


def test_linking_on_the_page_redirects_to_the_portal_showing_the_holder() -> None:
    card, guardian = card_with_code(), UserFactory()
    client = signed_in(guardian)

    response = client.post("/portal/link/", {"card_number": card.number, "activation_code": CODE})

    assert response.status_code == 302
    assert response["Location"] == "/portal/"
    assert card.holder.name in client.get("/portal/").content.decode()  # type: ignore[union-attr]


def test_a_wrong_code_on_the_page_shows_the_message_beside_the_field() -> None:
    card = card_with_code()

    response = signed_in(UserFactory()).post("/portal/link/", {"card_number": card.number, "activation_code": "NOPE"})

    assert response.status_code == 400
    errors = response.context["form"].errors
    assert errors["activation_code"] == [str(ActivationInvalid.default_message)]
    assert 'id="id_activation_code_errors"' in response.content.decode()
    assert not Guardianship.objects.exists()


def test_linking_is_refused_after_too_many_failures_even_with_the_right_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(views, "LINK_FAILURES_ALLOWED", 3)
    card = card_with_code()
    client = signed_in(UserFactory())
    for _attempt in range(3):
        client.post("/portal/link/", {"card_number": card.number, "activation_code": "NOPE"})

    response = client.post("/portal/link/", {"card_number": card.number, "activation_code": CODE})

    assert response.status_code == 429
    assert not Guardianship.objects.exists()
    card.refresh_from_db()
    assert card.activation_code == CODE


def test_the_failure_limit_is_per_guardian() -> None:
    card = card_with_code()
    client = signed_in(UserFactory())
    for _attempt in range(views.LINK_FAILURES_ALLOWED):
        client.post("/portal/link/", {"card_number": card.number, "activation_code": "NOPE"})

    response = signed_in(UserFactory()).post("/portal/link/", {"card_number": card.number, "activation_code": CODE})

    assert response.status_code == 302
    assert client.post("/portal/link/", {"card_number": "1", "activation_code": "X"}).status_code == 429


def test_the_portal_lists_only_the_guardians_own_holders() -> None:
    mine = CardFactory(holder=CardholderFactory(name="Anna Own", group="3A"))
    theirs = CardFactory(holder=CardholderFactory(name="Bent Other"))
    guardian = UserFactory()
    Guardianship.objects.create(guardian=guardian, holder=mine.holder)
    Guardianship.objects.create(guardian=UserFactory(), holder=theirs.holder)

    page = signed_in(guardian).get("/portal/").content.decode()

    assert "Anna Own" in page
    assert mine.number in page
    assert mine.holder.institution.name in page  # type: ignore[union-attr]
    assert "3A" in page
    assert "Bent Other" not in page
    assert theirs.number not in page
