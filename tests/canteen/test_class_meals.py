"""Class meals [PZ]: a teacher card confirms the pupils of a class served; each pays by the meal rule once."""

import datetime as dt
import io
import subprocess
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from pypdf import PdfReader

from accounts.models import Institution, Role
from canteen.class_meals import (
    ClassMealConfirmed,
    Outcome,
    class_meal_confirm,
    class_meal_groups,
    class_meal_pupils,
    class_meal_receipt_get,
)
from canteen.errors import AlreadyConfirmed, AlreadyServedToday, NotASchoolDay, NotATeacherCard
from canteen.meal_calendar import MealPriceMissing
from canteen.meal_deadline import meal_day_close
from canteen.meal_serving import meal_serve
from canteen.models import ClassMeal, MealOrder, SchoolDay
from cards.models import Card, Cardholder, PriceCategory
from cardsystem.errors import InvalidRequest, NotFound
from payments.ledger import holder_accounts_get
from payments.models import LedgerAccount, LedgerTransaction
from payments.selectors import ledger_mismatches
from tests.factories import (
    CardFactory,
    InstitutionFactory,
    PriceCategoryFactory,
    UserFactory,
    holder_with_balances,
)
from tests.meal_factories import MealPolicyFactory, MealPriceFactory, SchoolDayFactory, teacher_card_for

pytestmark = pytest.mark.django_db

CPH = ZoneInfo("Europe/Copenhagen")
FRIDAY, SATURDAY, MONDAY, TUESDAY = (
    dt.date(2026, 12, 4),
    dt.date(2026, 12, 5),
    dt.date(2026, 12, 7),
    dt.date(2026, 12, 8),
)
YOUNG, OLD = 2500, 2800  # the price of a meal for grades 1–4 and for grades 5–9


def at(date: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(date, dt.time(hour, minute), tzinfo=CPH)


NOON = at(MONDAY, 12)


def class_meal_school() -> Institution:
    """Nørre Skole in Copenhagen: two price categories, and Friday, Monday and Tuesday are school days."""
    institution = InstitutionFactory(
        name="Nørre Skole",
        school_number="101",
        canteen_provider="Kantine ApS",
        time_zone="Europe/Copenhagen",
        debt_limit_cents=15000,
    )
    MealPolicyFactory(institution=institution, option2_minimum=1)
    MealPriceFactory(institution=institution, price_category=young_category(), price_cents=YOUNG)
    MealPriceFactory(institution=institution, price_category=old_category(), price_cents=OLD)
    for date in (FRIDAY, MONDAY, TUESDAY):
        SchoolDayFactory(institution=institution, date=date, option1="Fish soup", option2="Pasta")
    return institution


@pytest.fixture
def school() -> Institution:
    return class_meal_school()


def young_category() -> PriceCategory:
    return PriceCategoryFactory(code="grades-1-4", name="Grades 1–4")


def old_category() -> PriceCategory:
    return PriceCategoryFactory(code="grades-5-9", name="Grades 5–9")


@pytest.fixture
def teacher(school: Institution) -> Card:
    return teacher_card_for(institution=school, number="900001")


def pupil(
    school: Institution,
    *,
    main: int = 0,
    extra: int = 0,
    group: str = "5B",
    name: str | None = None,
    category: PriceCategory | None = None,
) -> Cardholder:
    kwargs = {"name": name} if name else {}
    return holder_with_balances(
        institution=school, main=main, extra=extra, group=group, price_category=category or young_category(), **kwargs
    )


def confirm(
    school: Institution, card: Card, pupils: list[Cardholder], *, group: str = "5B", now: dt.datetime = NOON
) -> ClassMealConfirmed:
    return class_meal_confirm(
        institution=school,
        teacher_card=card,
        group=group,
        served_holder_ids=[p.pk for p in pupils],
        terminal_id=None,
        place="Info terminal 1",
        now=now,
    )


def balances(holder: Cardholder) -> tuple[int, int]:
    accounts = holder_accounts_get(holder_id=holder.pk)
    return accounts.main.balance_cents, accounts.extra.balance_cents


def monday(school: Institution) -> SchoolDay:
    return SchoolDay.objects.get(institution=school, date=MONDAY)


def order_for(holder: Cardholder, *, status: str, option: int = 1) -> MealOrder:
    return MealOrder.objects.create(
        holder=holder, school_day=monday_of(holder), option=option, status=status, source=MealOrder.Source.GUARDIAN
    )


def monday_of(holder: Cardholder) -> SchoolDay:
    return SchoolDay.objects.get(institution_id=holder.institution_id, date=MONDAY)


def paid_at_the_deadline(holder: Cardholder, *, option: int = 1) -> MealOrder:
    """An order placed in time and paid by the deadline job on Friday at 14:00."""
    order = order_for(holder, status=MealOrder.Status.ORDERED, option=option)
    meal_day_close(school_day=monday_of(holder), now=at(FRIDAY, 14))
    order.refresh_from_db()
    assert order.status == MealOrder.Status.PAID
    return order


# --- paying: category price, main → extra → debt, once -----------------------------------------


def test_a_pupil_without_an_order_is_charged_the_category_price_from_main(school: Institution, teacher: Card) -> None:
    anna = pupil(school, main=10000)

    result = confirm(school, teacher, [anna])

    assert balances(anna) == (10000 - YOUNG, 0)
    [line] = result.pupils
    assert (line.outcome, line.charged_main, line.charged_extra, line.debt, line.blocked) == (
        Outcome.CHARGED,
        YOUNG,
        0,
        0,
        False,
    )
    assert ledger_mismatches() == []


def test_each_pupil_pays_the_price_of_their_own_category(school: Institution, teacher: Card) -> None:
    young = pupil(school, main=10000)
    old = pupil(school, main=10000, category=old_category())

    confirm(school, teacher, [young, old])

    assert balances(young) == (10000 - YOUNG, 0)
    assert balances(old) == (10000 - OLD, 0)
    assert ledger_mismatches() == []


def test_main_pays_first_then_extra_then_debt_on_main(school: Institution, teacher: Card) -> None:
    bo = pupil(school, main=1000, extra=500)

    [line] = confirm(school, teacher, [bo]).pupils

    assert balances(bo) == (-1000, 0)
    assert (line.charged_main, line.charged_extra, line.debt) == (2000, 500, 1000)
    assert ledger_mismatches() == []


def test_the_charge_is_a_meal_transaction_made_by_the_teacher_to_the_schools_revenue(
    school: Institution, teacher: Card
) -> None:
    anna = pupil(school, main=10000)

    confirm(school, teacher, [anna])

    order = MealOrder.objects.get(holder=anna)
    txn = order.ledger_transaction
    assert txn is not None
    assert (txn.kind, txn.created_by_id, txn.institution_id) == (
        LedgerTransaction.Kind.MEAL,
        teacher.staff_user_id,
        school.pk,
    )
    revenue = txn.entries.get(account__kind=LedgerAccount.Kind.REVENUE)
    assert revenue.amount_cents == YOUNG


def test_the_served_pupils_order_is_paid_served_and_names_the_class_meal(school: Institution, teacher: Card) -> None:
    anna = pupil(school, main=10000)

    result = confirm(school, teacher, [anna])

    order = MealOrder.objects.get(holder=anna)
    assert (order.status, order.source, order.option, order.price_cents) == (
        MealOrder.Status.PAID,
        MealOrder.Source.CLASS_MEAL,
        1,
        YOUNG,
    )
    assert order.served_at == NOON
    assert order.class_meal == result.class_meal
    assert (result.class_meal.group, result.class_meal.teacher_card, result.class_meal.place) == (
        "5B",
        teacher,
        "Info terminal 1",
    )


def test_a_pupil_whose_order_was_paid_at_the_deadline_is_served_and_not_charged_again(
    school: Institution, teacher: Card
) -> None:
    anna = pupil(school, main=10000)
    order = paid_at_the_deadline(anna, option=2)
    assert balances(anna) == (10000 - YOUNG, 0)

    result = confirm(school, teacher, [anna])

    assert balances(anna) == (10000 - YOUNG, 0)
    [line] = result.pupils
    assert (line.outcome, line.served, line.charged_main, line.charged_extra) == (Outcome.PAID_BEFORE, True, 0, 0)
    order.refresh_from_db()
    assert (order.served_at, order.class_meal, order.option, order.source) == (
        NOON,
        result.class_meal,
        2,
        MealOrder.Source.GUARDIAN,
    )
    assert ledger_mismatches() == []


def test_an_order_the_deadline_has_not_paid_yet_is_paid_now_and_the_deadline_job_does_not_charge_it_again(
    school: Institution, teacher: Card
) -> None:
    anna = pupil(school, main=10000)
    order = order_for(anna, status=MealOrder.Status.ORDERED)

    confirm(school, teacher, [anna])
    meal_day_close(school_day=monday(school), now=at(MONDAY, 14))

    assert balances(anna) == (10000 - YOUNG, 0)
    order.refresh_from_db()
    assert (order.status, order.source) == (MealOrder.Status.PAID, MealOrder.Source.GUARDIAN)
    assert ledger_mismatches() == []


def test_an_order_the_debt_limit_left_unpaid_is_paid_now(school: Institution, teacher: Card) -> None:
    anna = pupil(school, main=5000)
    order = order_for(anna, status=MealOrder.Status.UNPAID)

    [line] = confirm(school, teacher, [anna]).pupils

    assert line.outcome == Outcome.CHARGED
    order.refresh_from_db()
    assert order.status == MealOrder.Status.PAID
    assert balances(anna) == (5000 - YOUNG, 0)


def test_a_pupil_who_cancelled_but_ate_with_the_class_is_charged_as_a_class_meal(
    school: Institution, teacher: Card
) -> None:
    anna = pupil(school, main=10000)
    order = order_for(anna, status=MealOrder.Status.CANCELLED, option=2)

    confirm(school, teacher, [anna])

    order.refresh_from_db()
    assert (order.status, order.source, order.option) == (MealOrder.Status.PAID, MealOrder.Source.CLASS_MEAL, 1)
    assert balances(anna) == (10000 - YOUNG, 0)


def test_a_pupil_served_at_the_lunch_line_is_reported_and_not_charged_again(school: Institution, teacher: Card) -> None:
    anna = pupil(school, main=10000)
    order_for(anna, status=MealOrder.Status.ORDERED)
    meal_serve(institution=school, card=CardFactory(holder=anna), now=at(MONDAY, 11, 30))
    after_lunch = balances(anna)

    result = confirm(school, teacher, [anna])

    [line] = result.pupils
    assert (line.outcome, line.served, line.charged_main) == (Outcome.ALREADY_SERVED, False, 0)
    assert balances(anna) == after_lunch == (10000 - YOUNG, 0)
    assert MealOrder.objects.get(holder=anna).class_meal is None
    assert ledger_mismatches() == []


def test_the_lunch_line_refuses_a_pupil_the_class_meal_served(school: Institution, teacher: Card) -> None:
    anna = pupil(school, main=10000)
    card = CardFactory(holder=anna)
    confirm(school, teacher, [anna], now=at(MONDAY, 11, 20))

    with pytest.raises(AlreadyServedToday):
        meal_serve(institution=school, card=card, now=at(MONDAY, 12))

    assert balances(anna) == (10000 - YOUNG, 0)


# --- the debt limit --------------------------------------------------------------------------------


def test_a_pupil_at_the_debt_limit_is_not_served_and_the_others_are(school: Institution, teacher: Card) -> None:
    broke = pupil(school, main=-15000, name="Carl")
    anna = pupil(school, main=10000, name="Anna")

    result = confirm(school, teacher, [broke, anna])

    outcomes = {line.holder_id: (line.outcome, line.served, line.blocked) for line in result.pupils}
    assert outcomes == {
        broke.pk: (Outcome.DEBT_LIMIT_REACHED, False, True),
        anna.pk: (Outcome.CHARGED, True, False),
    }
    assert balances(broke) == (-15000, 0)
    assert not MealOrder.objects.filter(holder=broke).exists()
    assert ledger_mismatches() == []


def test_a_meal_that_would_pass_the_debt_limit_is_refused_whole(school: Institution, teacher: Card) -> None:
    almost = pupil(school, main=-14000)

    [line] = confirm(school, teacher, [almost]).pupils

    assert (line.outcome, line.charged_main) == (Outcome.DEBT_LIMIT_REACHED, 0)
    assert balances(almost) == (-14000, 0)


def test_a_meal_that_reaches_the_debt_limit_is_served_and_blocks_the_pupils_cards(
    school: Institution, teacher: Card
) -> None:
    bo = pupil(school, main=-12500)
    card = CardFactory(holder=bo)

    [line] = confirm(school, teacher, [bo]).pupils

    assert (line.outcome, line.debt, line.blocked) == (Outcome.CHARGED, YOUNG, True)
    assert balances(bo) == (-15000, 0)
    card.refresh_from_db()
    assert card.status == Card.Status.DEBT_BLOCKED
    assert ledger_mismatches() == []


# --- refusals: who, when, once ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["pupil", "cashier", "blocked_teacher", "other_school", "canteen_staff"])
def test_only_an_active_teacher_card_of_a_teacher_of_the_school_confirms(school: Institution, kind: str) -> None:
    anna = pupil(school, main=10000)
    if kind == "pupil":
        card = CardFactory(holder=pupil(school))
    elif kind == "cashier":
        card = CardFactory(holder=None, staff_user=UserFactory(), kind=Card.Kind.CASHIER)
    elif kind == "blocked_teacher":
        card = teacher_card_for(institution=school, status=Card.Status.BLOCKED)
    elif kind == "other_school":
        card = teacher_card_for(institution=InstitutionFactory())
    else:
        card = teacher_card_for(institution=school, role=Role.CANTEEN)

    with pytest.raises(NotATeacherCard):
        confirm(school, card, [anna])

    assert not ClassMeal.objects.exists()
    assert balances(anna) == (10000, 0)


def test_an_administrators_teacher_card_confirms(school: Institution) -> None:
    card = teacher_card_for(institution=school, role=Role.ADMIN)

    result = confirm(school, card, [pupil(school, main=10000)])

    assert result.class_meal.teacher_card == card


def test_no_class_meal_on_a_day_without_school(school: Institution, teacher: Card) -> None:
    anna = pupil(school, main=10000)

    with pytest.raises(NotASchoolDay):
        confirm(school, teacher, [anna], now=at(SATURDAY, 12))

    assert balances(anna) == (10000, 0)


def test_a_class_is_confirmed_once_a_day(school: Institution, teacher: Card) -> None:
    anna, bo = pupil(school, main=10000), pupil(school, main=10000)
    confirm(school, teacher, [anna])

    with pytest.raises(AlreadyConfirmed):
        confirm(school, teacher_card_for(institution=school), [anna, bo], now=at(MONDAY, 12, 30))

    assert ClassMeal.objects.count() == 1
    assert balances(anna) == (10000 - YOUNG, 0)
    assert balances(bo) == (10000, 0)
    assert ledger_mismatches() == []


def test_the_unique_class_and_day_is_the_backstop_when_the_check_is_passed(
    school: Institution, teacher: Card, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a second teacher racing the first meets: the row appears between the check and the insert."""
    anna = pupil(school, main=10000)
    ClassMeal.objects.create(institution=school, school_day=monday(school), group="5B", teacher_card=teacher)
    real_filter = ClassMeal.objects.filter

    class NothingYet:
        def exists(self) -> bool:
            return False

    monkeypatch.setattr(
        ClassMeal.objects,
        "filter",
        lambda **kw: NothingYet() if set(kw) == {"school_day", "group"} else real_filter(**kw),
    )

    with pytest.raises(AlreadyConfirmed):
        confirm(school, teacher, [anna])

    assert balances(anna) == (10000, 0)
    assert not MealOrder.objects.exists()


def test_the_same_class_is_confirmed_again_the_next_school_day(school: Institution, teacher: Card) -> None:
    anna = pupil(school, main=10000)
    confirm(school, teacher, [anna])

    confirm(school, teacher, [anna], now=at(TUESDAY, 12))

    assert balances(anna) == (10000 - 2 * YOUNG, 0)


def test_another_class_is_confirmed_the_same_day(school: Institution, teacher: Card) -> None:
    confirm(school, teacher, [pupil(school, main=10000)])

    confirm(school, teacher, [pupil(school, main=10000, group="2A")], group="2A")

    assert ClassMeal.objects.count() == 2


@pytest.mark.parametrize("where", ["other_class", "other_school"])
def test_a_pupil_not_of_the_class_is_named_and_nothing_is_charged(
    school: Institution, teacher: Card, where: str
) -> None:
    anna = pupil(school, main=10000)
    stranger = pupil(school, main=10000, group="2A") if where == "other_class" else holder_with_balances(main=10000)

    with pytest.raises(InvalidRequest) as refused:
        confirm(school, teacher, [anna, stranger])

    assert refused.value.fields is not None
    assert [str(stranger.pk) in message for message in refused.value.fields["served"]] == [True]
    assert stranger.name not in str(refused.value.fields)
    assert not ClassMeal.objects.exists()
    assert balances(anna) == (10000, 0)


def test_a_confirmation_needs_at_least_one_pupil(school: Institution, teacher: Card) -> None:
    with pytest.raises(InvalidRequest):
        confirm(school, teacher, [])


def test_a_pupil_to_charge_without_a_price_refuses_the_confirmation_and_names_them(
    school: Institution, teacher: Card
) -> None:
    anna = pupil(school, main=10000)
    odd = pupil(school, main=10000, name="Dora", category=PriceCategoryFactory(code="external", name="External"))

    with pytest.raises(MealPriceMissing, match="Dora"):
        confirm(school, teacher, [anna, odd])

    assert not ClassMeal.objects.exists()
    assert balances(anna) == (10000, 0)


def test_a_prepaid_pupil_without_a_price_today_is_still_served(school: Institution, teacher: Card) -> None:
    anna = pupil(school, main=10000)
    paid_at_the_deadline(anna)
    anna.price_category = PriceCategoryFactory(code="external", name="External")
    anna.save()

    [line] = confirm(school, teacher, [anna]).pupils

    assert line.outcome == Outcome.PAID_BEFORE


def test_a_pupil_ticked_twice_is_served_once(school: Institution, teacher: Card) -> None:
    anna = pupil(school, main=10000)

    result = confirm(school, teacher, [anna, anna])

    assert len(result.pupils) == 1
    assert balances(anna) == (10000 - YOUNG, 0)


# --- what the screen shows ---------------------------------------------------------------------------


def test_the_screen_ticks_pupils_with_an_order_that_is_not_cancelled(school: Institution) -> None:
    ordered = pupil(school, name="Anna")
    order_for(ordered, status=MealOrder.Status.ORDERED, option=2)
    cancelled = pupil(school, name="Bo")
    order_for(cancelled, status=MealOrder.Status.CANCELLED)
    nothing = pupil(school, name="Carl")
    paid = pupil(school, name="Dora")
    order_for(paid, status=MealOrder.Status.PAID)
    pupil(school, name="Eve", group="2A")

    rows = class_meal_pupils(institution=school, group="5B", date=MONDAY)

    assert [(r.name, r.ordered, r.option) for r in rows] == [
        ("Anna", True, 2),
        ("Bo", False, 1),
        ("Carl", False, None),
        ("Dora", True, 1),
    ]
    assert {r.holder_id for r in rows} == {ordered.pk, cancelled.pk, nothing.pk, paid.pk}


def test_the_screen_marks_pupils_served_and_pupils_at_the_debt_limit(school: Institution) -> None:
    served = pupil(school, name="Anna", main=10000)
    order_for(served, status=MealOrder.Status.ORDERED)
    meal_serve(institution=school, card=CardFactory(holder=served), now=at(MONDAY, 11, 30))
    broke = pupil(school, name="Bo", main=-15000)

    rows = {r.name: r for r in class_meal_pupils(institution=school, group="5B", date=MONDAY)}

    assert (rows["Anna"].served, rows["Anna"].at_debt_limit) == (True, False)
    assert (rows["Bo"].served, rows["Bo"].at_debt_limit) == (False, True)
    assert broke.pk == rows["Bo"].holder_id


def test_the_classes_are_listed_in_natural_order_with_todays_confirmation(school: Institution, teacher: Card) -> None:
    for group in ("10A", "2A", "5B", "5B"):
        pupil(school, group=group, main=10000)
    pupil(school, group="")  # a guardian's own card: no class
    confirmed = confirm(school, teacher, list(Cardholder.objects.filter(group="2A")), group="2A").class_meal

    rows = class_meal_groups(institution=school, date=MONDAY)

    assert [(r.group, r.pupils, r.class_meal) for r in rows] == [
        ("2A", 1, confirmed),
        ("5B", 2, None),
        ("10A", 1, None),
    ]
    assert [r.class_meal for r in class_meal_groups(institution=school, date=TUESDAY)] == [None, None, None]


# --- the receipt: teacher card, school, class, time, meal, cost per category, pupils [PZ] -------------------


@pytest.fixture
def receipt(school: Institution, teacher: Card) -> ClassMeal:
    teacher.staff_user.full_name = "Mette Lærer"
    teacher.staff_user.save()
    anna = pupil(school, main=10000, name="Anna Berg")
    bo = pupil(school, main=10000, name="Bo Dahl")
    carl = pupil(school, main=10000, name="Carl Ek", category=old_category())
    paid_at_the_deadline(bo, option=2)
    broke = pupil(school, main=-15000, name="Dan Fri")
    return confirm(school, teacher, [anna, bo, carl, broke], now=at(MONDAY, 12, 5)).class_meal


EXPECTED = [
    "900001",  # teacher card
    "Mette Lærer",
    "Nørre Skole",
    "101",  # school number
    "5B",
    "2026-12-07 12:05",  # local time of the confirmation
    "Fish soup",
    "Pasta",
    "Grades 1–4",
    "25.00",
    "50.00",  # 2 × grades 1–4
    "Grades 5–9",
    "28.00",
    "78.00",  # total
    "Anna Berg",
    "Bo Dahl",
    "Carl Ek",
]


def test_the_receipt_page_shows_every_field(receipt: ClassMeal) -> None:
    response = Client().get(f"/class-meals/receipt/{receipt.receipt_token}/")

    assert response.status_code == 200
    text = response.content.decode()
    for field in EXPECTED:
        assert field in text, field
    assert "Dan Fri" not in text  # not served: the debt limit


def test_the_receipt_pdf_shows_every_field(receipt: ClassMeal) -> None:
    response = Client().get(f"/class-meals/receipt/{receipt.receipt_token}/pdf/")

    assert response["Content-Type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    for field in EXPECTED:
        assert field in text, field
    assert "Dan Fri" not in text


def test_the_receipt_pdf_reads_back_with_pdftotext(receipt: ClassMeal) -> None:
    pdf = Client().get(f"/class-meals/receipt/{receipt.receipt_token}/pdf/").content
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "receipt.pdf"
        path.write_bytes(pdf)
        text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True)

    assert "Nørre Skole" in text.stdout
    assert "78.00" in text.stdout


def test_an_unknown_receipt_token_is_404(receipt: ClassMeal) -> None:
    assert Client().get("/class-meals/receipt/not-a-token/").status_code == 404
    assert Client().get("/class-meals/receipt/not-a-token/pdf/").status_code == 404
    with pytest.raises(NotFound):
        class_meal_receipt_get(token="not-a-token")
