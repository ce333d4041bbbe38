"""The canteen's self-service screen: a pupil's card read at the terminal, then option 1, 2 or no
meal for the next open school days [SL]; only the terminal's newest, fresh card read may order."""

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client

from accounts.models import Institution, Role, User
from canteen.models import MealOrder, SchoolDay
from cards.models import Card, Cardholder
from terminals.models import Scan, Terminal
from tests.factories import CardFactory, TerminalFactory, UserFactory, holder_with_balances, staff_user
from tests.meal_factories import meal_school, weekday_school_days

pytestmark = pytest.mark.django_db

CPH = ZoneInfo("Europe/Copenhagen")
FRIDAY, MONDAY, TUESDAY, WEDNESDAY, THURSDAY = (dt.date(2026, 12, d) for d in (4, 7, 8, 9, 10))
UID = "04A1B2C3D4E5F6"


def at(date: dt.date, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime.combine(date, dt.time(hour, minute, second), tzinfo=CPH)


@pytest.fixture
def school() -> Institution:
    institution = meal_school(name="North School")
    weekday_school_days(institution, dt.date(2026, 11, 30), dt.date(2026, 12, 18), holidays=(WEDNESDAY,))
    return institution


@pytest.fixture
def terminal(school: Institution) -> Terminal:
    return TerminalFactory(institution=school, name="Meal kiosk")


@pytest.fixture
def pupil(school: Institution) -> Cardholder:
    return holder_with_balances(institution=school, name="Anna Berg", main=10000)


@pytest.fixture
def card(pupil: Cardholder) -> Card:
    return CardFactory(holder=pupil, uid=UID, number="100001")


@pytest.fixture
def cook(school: Institution) -> User:
    return staff_user(institution=school, role=Role.CANTEEN)


@pytest.fixture
def kiosk(cook: User) -> Client:
    client = Client(headers={"Accept-Language": "en"})
    client.force_login(cook)
    return client


def base(terminal: Terminal) -> str:
    return f"/self-service/{terminal.pk}/"


def read(terminal: Terminal, card: Card, *, when: dt.datetime) -> Scan:
    """The card held to the terminal's reader at that moment."""
    with time_machine.travel(when, tick=False):
        return Scan.objects.create(terminal=terminal, card=card)


def pupil_url(terminal: Terminal, scan: Scan) -> str:
    return f"{base(terminal)}scans/{scan.pk}/"


def open_page(kiosk: Client, terminal: Terminal, scan: Scan, *, when: dt.datetime) -> Any:
    with time_machine.travel(when, tick=False):
        return kiosk.get(pupil_url(terminal, scan))


def pick(kiosk: Client, terminal: Terminal, scan: Scan, date: dt.date, choice: str, *, when: dt.datetime) -> Any:
    with time_machine.travel(when, tick=False):
        return kiosk.post(pupil_url(terminal, scan), {"date": date.isoformat(), "choice": choice})


def listed_dates(response: Any) -> list[str]:
    html = response.content.decode()
    return [part[:10] for part in html.split('<li class="kiosk-day" id="day-')[1:]]


# --- choosing a terminal and waiting for a card ------------------------------------------------


def test_staff_choose_among_their_institutions_terminals(kiosk: Client, terminal: Terminal) -> None:
    elsewhere = TerminalFactory(name="Other school's till")

    html = kiosk.get("/self-service/").content.decode()

    assert base(terminal) in html
    assert base(elsewhere) not in html


def test_someone_not_on_the_canteen_staff_is_refused(terminal: Terminal) -> None:
    client = Client()
    client.force_login(UserFactory())

    assert client.get(base(terminal)).status_code == 403


def test_the_screen_needs_sign_in(terminal: Terminal) -> None:
    response = Client().get(base(terminal))

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_another_institutions_terminal_is_404(kiosk: Client) -> None:
    assert kiosk.get(base(TerminalFactory(name="Elsewhere"))).status_code == 404


def test_the_waiting_screen_asks_for_a_card_and_waits_for_reads_after_the_newest(
    kiosk: Client, terminal: Terminal, card: Card
) -> None:
    earlier = read(terminal, card, when=at(FRIDAY, 8))

    response = kiosk.get(base(terminal))

    html = response.content.decode()
    assert "Hold your card to the reader to order your meals" in html
    assert f'"after": {earlier.pk}' in html
    assert f'"latestUrl": "{base(terminal)}scans/latest"' in html


# --- how card reads arrive ---------------------------------------------------------------------


def test_no_new_read_is_204(kiosk: Client, terminal: Terminal) -> None:
    assert kiosk.get(f"{base(terminal)}scans/latest", {"after": 0}).status_code == 204


def test_a_card_read_by_the_terminals_reader_sends_the_screen_to_the_pupils_page(
    kiosk: Client, school: Institution, card: Card
) -> None:
    from tests.factories import terminal_with_token

    terminal, token = terminal_with_token(institution=school, name="Meal kiosk 2")
    with time_machine.travel(at(FRIDAY, 9), tick=False):
        scanned = Client().post(
            "/api/v1/terminal/scans",
            data={"uid": UID.lower()},
            content_type="application/json",
            headers={"Authorization": f"Bearer {token}"},
        )
        latest = kiosk.get(f"{base(terminal)}scans/latest", {"after": 0})
        page = kiosk.get(latest.json()["url"])

    scan = Scan.objects.get(terminal=terminal)
    assert scanned.status_code == 200
    assert latest.json() == {"scan": scan.pk, "url": pupil_url(terminal, scan)}
    assert "Hello Anna!" in page.content.decode()


@pytest.mark.parametrize("after", ["x", "-1", str(10**30)])
def test_a_bad_after_is_400(kiosk: Client, terminal: Terminal, after: str) -> None:
    response = kiosk.get(f"{base(terminal)}scans/latest", {"after": after})

    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_request")


@pytest.mark.parametrize(("who", "status"), [("anonymous", 401), ("guardian", 403), ("other-terminal", 404)], ids=str)
def test_reads_are_only_for_the_terminals_staff(kiosk: Client, terminal: Terminal, who: str, status: int) -> None:
    client, target = kiosk, terminal
    if who == "anonymous":
        client = Client()
    elif who == "guardian":
        client = Client()
        client.force_login(UserFactory())
    else:
        target = TerminalFactory(name="Elsewhere")

    assert client.get(f"{base(target)}scans/latest", {"after": 0}).status_code == status


def test_a_typed_card_number_opens_the_pupils_page(kiosk: Client, terminal: Terminal, card: Card) -> None:
    with time_machine.travel(at(FRIDAY, 9), tick=False):
        response = kiosk.post(f"{base(terminal)}card", {"text": "100001"})

    scan = Scan.objects.get(terminal=terminal, card=card)
    assert response.status_code == 302
    assert response["Location"] == pupil_url(terminal, scan)


def test_an_unknown_typed_card_is_shown_and_nothing_is_read(kiosk: Client, terminal: Terminal) -> None:
    response = kiosk.post(f"{base(terminal)}card", {"text": "999999"})

    assert response.status_code == 404
    assert "No card has this number or UID." in response.content.decode()
    assert not Scan.objects.exists()


def test_an_empty_typed_card_is_400(kiosk: Client, terminal: Terminal) -> None:
    response = kiosk.post(f"{base(terminal)}card", {"text": "  "})

    assert response.status_code == 400
    assert "Type a card number or UID." in response.content.decode()


# --- the pupil's page --------------------------------------------------------------------------


def test_the_page_lists_the_next_five_open_school_days(kiosk: Client, terminal: Terminal, card: Card) -> None:
    # Friday 15:00: Monday closed at 14:00 today; Wednesday the 9th is a holiday.
    scan = read(terminal, card, when=at(FRIDAY, 15))

    response = open_page(kiosk, terminal, scan, when=at(FRIDAY, 15))

    assert listed_dates(response) == ["2026-12-08", "2026-12-10", "2026-12-11", "2026-12-14", "2026-12-15"]


def test_the_page_greets_the_pupil_by_first_name_only(kiosk: Client, terminal: Terminal, card: Card) -> None:
    scan = read(terminal, card, when=at(FRIDAY, 9))

    html = open_page(kiosk, terminal, scan, when=at(FRIDAY, 9)).content.decode()

    assert "Hello Anna!" in html
    assert "Berg" not in html


def test_the_page_returns_to_the_waiting_screen_when_left(kiosk: Client, terminal: Terminal, card: Card) -> None:
    scan = read(terminal, card, when=at(FRIDAY, 9))

    html = open_page(kiosk, terminal, scan, when=at(FRIDAY, 9)).content.decode()

    assert f'<meta http-equiv="refresh" content="60;url={base(terminal)}">' in html


def test_picking_option_2_orders_it_from_the_terminal(kiosk: Client, terminal: Terminal, card: Card) -> None:
    scan = read(terminal, card, when=at(FRIDAY, 9))

    response = pick(kiosk, terminal, scan, TUESDAY, "2", when=at(FRIDAY, 9, 1))

    assert response.status_code == 302
    assert response["Location"] == f"{pupil_url(terminal, scan)}#day-2026-12-08"
    order = MealOrder.objects.get(holder=card.holder)
    assert (order.option, order.source, order.status) == (2, MealOrder.Source.TERMINAL, MealOrder.Status.ORDERED)


def test_the_choice_is_shown_after_picking(kiosk: Client, terminal: Terminal, card: Card) -> None:
    scan = read(terminal, card, when=at(FRIDAY, 9))
    pick(kiosk, terminal, scan, TUESDAY, "2", when=at(FRIDAY, 9, 1))

    html = open_page(kiosk, terminal, scan, when=at(FRIDAY, 9, 1)).content.decode()

    assert "Option 2 on Tuesday 8 December." in html
    assert "Your choice: option 2" in html


def test_picking_no_meal_cancels_the_order(kiosk: Client, terminal: Terminal, card: Card, pupil: Cardholder) -> None:
    order = MealOrder.objects.create(
        holder=pupil,
        school_day=SchoolDay.objects.get(institution=pupil.institution, date=TUESDAY),
        source=MealOrder.Source.GUARDIAN,
    )
    scan = read(terminal, card, when=at(FRIDAY, 9))

    pick(kiosk, terminal, scan, TUESDAY, "cancel", when=at(FRIDAY, 9, 1))

    order.refresh_from_db()
    assert order.status == MealOrder.Status.CANCELLED


def test_picking_at_14_00_00_the_day_before_is_refused(kiosk: Client, terminal: Terminal, card: Card) -> None:
    scan = read(terminal, card, when=at(MONDAY, 13, 59))

    response = pick(kiosk, terminal, scan, TUESDAY, "1", when=at(MONDAY, 14))

    assert response.status_code == 409
    assert "The deadline for ordering or cancelling this meal has passed." in response.content.decode()
    assert not MealOrder.objects.exists()


def test_picking_at_13_59_59_the_day_before_is_accepted(kiosk: Client, terminal: Terminal, card: Card) -> None:
    scan = read(terminal, card, when=at(MONDAY, 13, 59))

    response = pick(kiosk, terminal, scan, TUESDAY, "1", when=at(MONDAY, 13, 59, 59))

    assert response.status_code == 302
    assert MealOrder.objects.filter(school_day__date=TUESDAY).exists()


def test_picking_a_holiday_is_refused(kiosk: Client, terminal: Terminal, card: Card) -> None:
    scan = read(terminal, card, when=at(FRIDAY, 9))

    response = pick(kiosk, terminal, scan, WEDNESDAY, "1", when=at(FRIDAY, 9))

    assert response.status_code == 409
    assert "No meals are served on this day." in response.content.decode()


def test_option_2_is_not_offered_on_a_day_without_it(
    kiosk: Client, terminal: Terminal, card: Card, school: Institution
) -> None:
    SchoolDay.objects.filter(institution=school, date=TUESDAY).update(option2="")
    scan = read(terminal, card, when=at(FRIDAY, 9))

    page = open_page(kiosk, terminal, scan, when=at(FRIDAY, 9))
    refused = pick(kiosk, terminal, scan, TUESDAY, "2", when=at(FRIDAY, 9))

    tuesday = page.content.decode().split('id="day-2026-12-08"')[1].split('<li class="kiosk-day"')[0]
    assert 'value="2"' not in tuesday
    assert refused.status_code == 409
    assert not MealOrder.objects.exists()


@pytest.mark.parametrize("data", [{"date": "2026-12-08", "choice": "3"}, {"choice": "1"}], ids=["choice", "date"])
def test_a_pick_of_bad_shape_is_400(kiosk: Client, terminal: Terminal, card: Card, data: dict[str, str]) -> None:
    scan = read(terminal, card, when=at(FRIDAY, 9))

    with time_machine.travel(at(FRIDAY, 9), tick=False):
        response = kiosk.post(pupil_url(terminal, scan), data)

    assert response.status_code == 400
    assert not MealOrder.objects.exists()


# --- only the newest, fresh card read orders ---------------------------------------------------


def test_a_read_older_than_three_minutes_must_be_made_again(kiosk: Client, terminal: Terminal, card: Card) -> None:
    scan = read(terminal, card, when=at(FRIDAY, 9))

    response = pick(kiosk, terminal, scan, TUESDAY, "1", when=at(FRIDAY, 9, 3))

    assert response.status_code == 302
    assert response["Location"] == base(terminal)
    assert not MealOrder.objects.exists()


def test_the_next_pupils_card_ends_the_previous_pupils_page(
    kiosk: Client, terminal: Terminal, card: Card, school: Institution
) -> None:
    first = read(terminal, card, when=at(FRIDAY, 9))
    read(terminal, CardFactory(holder=holder_with_balances(institution=school)), when=at(FRIDAY, 9, 1))

    response = pick(kiosk, terminal, first, TUESDAY, "1", when=at(FRIDAY, 9, 1))

    assert response["Location"] == base(terminal)
    assert not MealOrder.objects.exists()


def test_a_read_at_another_terminal_does_not_open_here(kiosk: Client, terminal: Terminal, card: Card) -> None:
    elsewhere = read(TerminalFactory(institution=terminal.institution, name="Till 2"), card, when=at(FRIDAY, 9))

    response = open_page(kiosk, terminal, elsewhere, when=at(FRIDAY, 9))

    assert response["Location"] == base(terminal)


# --- cards that cannot order -------------------------------------------------------------------


def test_a_blocked_card_cannot_order(kiosk: Client, terminal: Terminal, card: Card) -> None:
    Card.objects.filter(pk=card.pk).update(status=Card.Status.BLOCKED)
    scan = read(terminal, card, when=at(FRIDAY, 9))

    page = open_page(kiosk, terminal, scan, when=at(FRIDAY, 9))
    refused = pick(kiosk, terminal, scan, TUESDAY, "1", when=at(FRIDAY, 9))

    assert "This card is blocked. Ask at the office." in page.content.decode()
    assert listed_dates(page) == []
    assert refused.status_code == 409
    assert not MealOrder.objects.exists()


def test_a_pupil_of_another_school_orders_there(kiosk: Client, terminal: Terminal) -> None:
    visitor = CardFactory(holder=holder_with_balances(institution=meal_school(name="South School")))
    scan = read(terminal, visitor, when=at(FRIDAY, 9))

    refused = pick(kiosk, terminal, scan, TUESDAY, "1", when=at(FRIDAY, 9))

    assert refused.status_code == 409
    assert "Meals for South School are ordered there or on the web." in refused.content.decode()
    assert not MealOrder.objects.exists()


def test_a_staff_card_cannot_order(kiosk: Client, terminal: Terminal, cook: User) -> None:
    staff_card = CardFactory(holder=None, staff_user=cook, kind=Card.Kind.TEACHER)
    scan = read(terminal, staff_card, when=at(FRIDAY, 9))

    page = open_page(kiosk, terminal, scan, when=at(FRIDAY, 9))

    assert "This card cannot order meals." in page.content.decode()
