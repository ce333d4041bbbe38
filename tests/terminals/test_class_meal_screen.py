"""The teacher's class-meal screen on an info terminal: teacher card, class, pupils, confirmation, receipt."""

import datetime as dt
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from django.test import Client

from accounts.models import Institution, Role, User
from canteen.models import ClassMeal, MealOrder
from cards.models import Card, Cardholder
from payments.ledger import holder_accounts_get
from payments.selectors import ledger_mismatches
from terminals.models import Terminal
from tests.canteen.test_class_meals import NOON, SATURDAY, YOUNG, at, class_meal_school, order_for, pupil
from tests.factories import CardFactory, InstitutionFactory, TerminalFactory, staff_user, terminal_with_token
from tests.meal_factories import teacher_card_for

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def monday_noon() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOON, tick=False) as traveller:
        yield traveller


@pytest.fixture
def school() -> Institution:
    return class_meal_school()


@pytest.fixture
def terminal(school: Institution) -> Terminal:
    return TerminalFactory(institution=school, name="Info 1", kind=Terminal.Kind.INFO)


@pytest.fixture
def teacher_user(school: Institution) -> User:
    return staff_user(institution=school, role=Role.TEACHER)


@pytest.fixture
def teacher(teacher_user: User) -> Card:
    return CardFactory(holder=None, staff_user=teacher_user, kind=Card.Kind.TEACHER, number="900001")


@pytest.fixture
def client(teacher_user: User) -> Client:
    signed_in = Client(HTTP_ACCEPT_LANGUAGE="en")
    signed_in.force_login(teacher_user)
    signed_in.cookies.load({"django_language": "en"})
    return signed_in


@pytest.fixture
def pupils(school: Institution) -> dict[str, Cardholder]:
    anna = pupil(school, main=10000, name="Anna")
    order_for(anna, status=MealOrder.Status.ORDERED)
    bo = pupil(school, main=10000, name="Bo")
    order_for(bo, status=MealOrder.Status.CANCELLED)
    carl = pupil(school, main=-15000, name="Carl")
    order_for(carl, status=MealOrder.Status.UNPAID)
    dora = pupil(school, main=10000, name="Dora")
    return {"anna": anna, "bo": bo, "carl": carl, "dora": dora}


def url(terminal: Terminal, rest: str = "") -> str:
    return f"/class-meals/{terminal.pk}/{rest}"


def with_card(client: Client, terminal: Terminal, teacher: Card) -> Client:
    response = client.post(url(terminal), {"text": teacher.number})
    assert response.status_code == 302, response.content.decode()
    return client


def checkbox(html: str, holder: Cardholder) -> str:
    match = re.search(rf'<input type="checkbox" id="pupil-{holder.pk}"[^>]*>', html)
    assert match is not None, f"no checkbox for {holder.name}"
    return match.group(0)


def page_config(html: str) -> dict[str, Any]:
    match = re.search(r'<script id="class-meal-config" type="application/json">(.*?)</script>', html, re.S)
    assert match is not None
    return dict(json.loads(match.group(1)))


def form_key(html: str) -> str:
    match = re.search(r'name="idempotency_key" value="([^"]+)"', html)
    assert match is not None
    return match.group(1)


def confirm(client: Client, terminal: Terminal, served: list[Cardholder], key: str = "form-1") -> Any:
    return client.post(
        url(terminal, "pupils/"), {"group": "5B", "served": [p.pk for p in served], "idempotency_key": key}
    )


def main_of(holder: Cardholder) -> int:
    return holder_accounts_get(holder_id=holder.pk).main.balance_cents


# --- who may use it -------------------------------------------------------------------------------------


def test_a_visitor_is_sent_to_sign_in(terminal: Terminal) -> None:
    response = Client().get(url(terminal))

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_staff_who_do_not_teach_are_refused(school: Institution, terminal: Terminal) -> None:
    cook = Client()
    cook.force_login(staff_user(institution=school, role=Role.CANTEEN))

    assert cook.get("/class-meals/").status_code == 403
    assert cook.get(url(terminal)).status_code == 403


def test_the_terminal_list_shows_the_info_terminals_of_the_teachers_school_only(
    client: Client, school: Institution, terminal: Terminal
) -> None:
    TerminalFactory(institution=school, name="Canteen till", kind=Terminal.Kind.TILL)
    TerminalFactory(institution=InstitutionFactory(), name="Elsewhere", kind=Terminal.Kind.INFO)

    html = client.get("/class-meals/").content.decode()

    assert "Info 1" in html
    assert "Canteen till" not in html
    assert "Elsewhere" not in html


def test_another_schools_terminal_is_404(client: Client) -> None:
    elsewhere = TerminalFactory(institution=InstitutionFactory(), kind=Terminal.Kind.INFO)

    assert client.get(url(elsewhere)).status_code == 404
    assert client.get(url(elsewhere, "scans/latest")).status_code == 404


# --- step 1: the teacher card ------------------------------------------------------------------------------


def test_the_teacher_card_typed_by_number_leads_to_the_classes(
    client: Client, terminal: Terminal, teacher: Card
) -> None:
    response = client.post(url(terminal), {"text": "900001"})

    assert response.status_code == 302
    assert response["Location"] == url(terminal, "classes/")


def test_the_teacher_card_typed_by_uid_in_lower_case_is_found(
    client: Client, terminal: Terminal, teacher: Card
) -> None:
    response = client.post(url(terminal), {"text": teacher.uid.lower()})

    assert response["Location"] == url(terminal, "classes/")


def test_a_pupils_card_is_refused_on_the_page(client: Client, terminal: Terminal, school: Institution) -> None:
    card = CardFactory(holder=pupil(school), number="100001")

    response = client.post(url(terminal), {"text": card.number})

    assert response.status_code == 403
    assert "Only a teacher card can confirm a class meal." in response.content.decode()


def test_an_unknown_card_is_refused_on_the_page(client: Client, terminal: Terminal) -> None:
    response = client.post(url(terminal), {"text": "123"})

    assert response.status_code == 404
    assert 'role="alert"' in response.content.decode()


def test_the_classes_need_a_teacher_card_first(client: Client, terminal: Terminal) -> None:
    response = client.get(url(terminal, "classes/"))

    assert response.status_code == 302
    assert response["Location"] == url(terminal)


def test_a_card_laid_on_the_terminals_reader_is_offered_to_the_screen(
    client: Client, school: Institution, teacher: Card
) -> None:
    info, token = terminal_with_token(institution=school, name="Info 2", kind=Terminal.Kind.INFO)
    after = page_config(client.get(url(info)).content.decode())["after"]
    read = Client().post(
        "/api/v1/terminal/scans",
        data=json.dumps({"uid": teacher.uid}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert read.status_code == 200, read.content

    newest = client.get(url(info, f"scans/latest?after={after}"))

    assert newest.status_code == 200
    assert newest.json()["number"] == "900001"
    assert client.get(url(info, f"scans/latest?after={newest.json()['scan_id']}")).status_code == 204


def test_the_reader_endpoint_answers_json_when_signed_out(terminal: Terminal) -> None:
    response = Client().get(url(terminal, "scans/latest"))

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


# --- steps 2 and 3: the class and its pupils ----------------------------------------------------------------


def test_the_classes_page_lists_the_classes_and_the_menu(
    client: Client, terminal: Terminal, teacher: Card, pupils: dict[str, Cardholder], school: Institution
) -> None:
    pupil(school, name="Eve", group="2A")

    html = with_card(client, terminal, teacher).get(url(terminal, "classes/")).content.decode()

    assert "Fish soup" in html
    assert html.index(">2A<") < html.index(">5B<")
    assert "4 pupils" in html
    assert f'href="/class-meals/{terminal.pk}/pupils/?group=5B"' in html


def test_the_classes_page_says_when_no_meal_is_served_today(
    client: Client, terminal: Terminal, teacher: Card, monday_noon: time_machine.Traveller
) -> None:
    with_card(client, terminal, teacher)
    monday_noon.move_to(at(SATURDAY, 10))
    with_card(client, terminal, teacher)

    html = client.get(url(terminal, "classes/")).content.decode()

    assert "No meals are served today." in html


def test_pupils_with_an_order_are_ticked(
    client: Client, terminal: Terminal, teacher: Card, pupils: dict[str, Cardholder]
) -> None:
    html = with_card(client, terminal, teacher).get(url(terminal, "pupils/?group=5B")).content.decode()

    assert " checked" in checkbox(html, pupils["anna"])
    assert " checked" in checkbox(html, pupils["carl"])  # ordered, the deadline could not pay it
    assert " checked" not in checkbox(html, pupils["bo"])  # cancelled
    assert " checked" not in checkbox(html, pupils["dora"])  # no order
    assert "At the debt limit: cannot be served" in html


def test_a_pupil_served_at_the_lunch_line_cannot_be_ticked(
    client: Client, terminal: Terminal, teacher: Card, pupils: dict[str, Cardholder]
) -> None:
    MealOrder.objects.filter(holder=pupils["anna"]).update(status=MealOrder.Status.PAID, served_at=at(NOON.date(), 11))

    html = with_card(client, terminal, teacher).get(url(terminal, "pupils/?group=5B")).content.decode()

    assert " disabled" in checkbox(html, pupils["anna"])
    assert " checked" not in checkbox(html, pupils["anna"])


def test_an_unknown_class_is_404(client: Client, terminal: Terminal, teacher: Card) -> None:
    assert with_card(client, terminal, teacher).get(url(terminal, "pupils/?group=9Z")).status_code == 404


# --- confirming -------------------------------------------------------------------------------------------


def test_confirming_charges_the_ticked_pupils_and_shows_what_happened(
    client: Client, terminal: Terminal, teacher: Card, pupils: dict[str, Cardholder]
) -> None:
    with_card(client, terminal, teacher)
    key = form_key(client.get(url(terminal, "pupils/?group=5B")).content.decode())

    response = confirm(client, terminal, [pupils["anna"], pupils["carl"], pupils["dora"]], key=key)

    class_meal = ClassMeal.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url(terminal, f"done/{class_meal.pk}/")
    assert (main_of(pupils["anna"]), main_of(pupils["dora"]), main_of(pupils["carl"])) == (
        10000 - YOUNG,
        10000 - YOUNG,
        -15000,
    )
    assert (class_meal.terminal_id, class_meal.place, class_meal.teacher_card) == (terminal.pk, "Info 1", teacher)
    html = client.get(response["Location"]).content.decode()
    assert "2 pupils served." in html
    assert "Not served: debt limit reached" in html
    assert re.search(r"Not served: debt limit reached</h2>\s*<ul><li>Carl</li>", html)
    assert f"/class-meals/receipt/{class_meal.receipt_token}/pdf/" in html
    assert ledger_mismatches() == []


def test_sending_the_same_form_twice_confirms_once(
    client: Client, terminal: Terminal, teacher: Card, pupils: dict[str, Cardholder]
) -> None:
    with_card(client, terminal, teacher)

    first = confirm(client, terminal, [pupils["anna"]], key="same")
    again = confirm(client, terminal, [pupils["anna"]], key="same")

    assert first["Location"] == again["Location"]
    assert ClassMeal.objects.count() == 1
    assert main_of(pupils["anna"]) == 10000 - YOUNG


def test_confirming_a_class_already_confirmed_shows_the_refusal(
    client: Client, terminal: Terminal, teacher: Card, pupils: dict[str, Cardholder]
) -> None:
    with_card(client, terminal, teacher)
    confirm(client, terminal, [pupils["anna"]], key="first")

    response = confirm(client, terminal, [pupils["dora"]], key="second")

    assert response.status_code == 409
    assert "already confirmed" in response.content.decode()
    assert main_of(pupils["dora"]) == 10000


def test_a_confirmed_class_opens_on_its_result(
    client: Client, terminal: Terminal, teacher: Card, pupils: dict[str, Cardholder]
) -> None:
    with_card(client, terminal, teacher)
    confirm(client, terminal, [pupils["anna"]])

    response = client.get(url(terminal, "pupils/?group=5B"))

    assert response["Location"] == url(terminal, f"done/{ClassMeal.objects.get().pk}/")


def test_confirming_with_nobody_ticked_asks_for_a_pupil(
    client: Client, terminal: Terminal, teacher: Card, pupils: dict[str, Cardholder]
) -> None:
    with_card(client, terminal, teacher)

    response = confirm(client, terminal, [])

    assert response.status_code == 400
    assert "Tick at least one pupil." in response.content.decode()
    assert not ClassMeal.objects.exists()


def test_another_schools_class_meal_result_is_404(client: Client, terminal: Terminal, teacher: Card) -> None:
    other = class_meal_school_elsewhere()
    elsewhere = ClassMeal.objects.create(
        institution=other,
        school_day=other.school_days.get(date=NOON.date()),
        group="5B",
        teacher_card=teacher_card_for(institution=other),
    )

    assert client.get(url(terminal, f"done/{elsewhere.pk}/")).status_code == 404


def class_meal_school_elsewhere() -> Institution:
    other = InstitutionFactory(time_zone="Europe/Copenhagen")
    other.school_days.create(date=NOON.date(), option1="Soup")
    return other


# --- the teacher card on the terminal ------------------------------------------------------------------


def test_the_teacher_card_is_forgotten_after_five_idle_minutes(
    client: Client, terminal: Terminal, teacher: Card, monday_noon: time_machine.Traveller
) -> None:
    with_card(client, terminal, teacher)
    monday_noon.shift(dt.timedelta(minutes=4))
    assert client.get(url(terminal, "classes/")).status_code == 200

    monday_noon.shift(dt.timedelta(minutes=5, seconds=1))

    assert client.get(url(terminal, "classes/"))["Location"] == url(terminal)


def test_finish_forgets_the_teacher_card(client: Client, terminal: Terminal, teacher: Card) -> None:
    with_card(client, terminal, teacher)

    client.post(url(terminal, "finish"))

    assert client.get(url(terminal, "classes/"))["Location"] == url(terminal)


def test_a_teacher_card_blocked_meanwhile_stops_working(client: Client, terminal: Terminal, teacher: Card) -> None:
    with_card(client, terminal, teacher)
    Card.objects.filter(pk=teacher.pk).update(status=Card.Status.BLOCKED)

    assert client.get(url(terminal, "classes/"))["Location"] == url(terminal)


def test_the_card_of_one_terminal_does_not_open_another(
    client: Client, terminal: Terminal, teacher: Card, school: Institution
) -> None:
    other = TerminalFactory(institution=school, name="Info 2", kind=Terminal.Kind.INFO)
    with_card(client, terminal, teacher)

    assert client.get(url(other, "classes/"))["Location"] == url(other)
