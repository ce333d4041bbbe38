"""The meal back office: scoped to the staff member's institutions, prices typed as "25.00", the
"add school days" tool leaving out weekends and holidays, orders and class meals read-only."""

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from accounts.models import Institution, Role, User
from accounts.services import membership_grant
from canteen.meal_admin_services import school_days_add
from canteen.models import ClassMeal, MealOrder, MealPolicy, MealPrice, MealSubscription, SchoolDay
from cards.models import Card, PriceCategory
from cardsystem.errors import InvalidRequest
from tests.factories import CardFactory, CardholderFactory, InstitutionFactory, PriceCategoryFactory, UserFactory
from tests.meal_factories import MealOrderFactory, MealPolicyFactory, MealPriceFactory, SchoolDayFactory

pytestmark = pytest.mark.django_db

MONDAY = dt.date(2026, 12, 7)
# What the office role needs in the meal back office (the role's group is to carry these: see
# accounts.services.ROLE_PERMISSIONS); given to the test user directly.
OFFICE_MEAL_PERMISSIONS = [
    "view_mealpolicy",
    "add_mealpolicy",
    "change_mealpolicy",
    "view_mealprice",
    "add_mealprice",
    "change_mealprice",
    "delete_mealprice",
    "view_schoolday",
    "add_schoolday",
    "change_schoolday",
    "delete_schoolday",
    "view_mealorder",
    "view_mealsubscription",
    "add_mealsubscription",
    "delete_mealsubscription",
    "view_classmeal",
]


@pytest.fixture
def ours() -> Institution:
    return InstitutionFactory(name="Our School")


@pytest.fixture
def theirs() -> Institution:
    return InstitutionFactory(name="Their School")


@pytest.fixture
def category() -> PriceCategory:
    return PriceCategoryFactory(code="grades-5-9", name="Grades 5–9")


def office_user(institution: Institution) -> User:
    user = UserFactory()
    membership_grant(user=user, institution=institution, role=Role.OFFICE)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="canteen", codename__in=OFFICE_MEAL_PERMISSIONS)
    )
    return user


@pytest.fixture
def office(ours: Institution) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(office_user(ours))
    return client


def url(name: str, *args: Any) -> str:
    return reverse(f"admin:canteen_{name}", args=args)


# --- scoping: school days ----------------------------------------------------------------------


def test_office_staff_list_only_their_institutions_school_days(
    office: Client, ours: Institution, theirs: Institution
) -> None:
    SchoolDayFactory(institution=ours, date=MONDAY, option1="Our soup")
    SchoolDayFactory(institution=theirs, date=MONDAY, option1="Their soup")
    content = office.get(url("schoolday_changelist")).content.decode()
    assert "Our soup" in content
    assert "Their soup" not in content


def test_office_staff_cannot_open_another_institutions_school_day(office: Client, theirs: Institution) -> None:
    day = SchoolDayFactory(institution=theirs, date=MONDAY, option1="Their soup")
    response = office.get(url("schoolday_change", day.pk))
    assert response.status_code == 302  # the admin's answer for a row that is not there
    assert response["Location"] == reverse("admin:index")


def test_office_staff_cannot_change_another_institutions_school_day(office: Client, theirs: Institution) -> None:
    day = SchoolDayFactory(institution=theirs, date=MONDAY, option1="Their soup")
    office.post(url("schoolday_change", day.pk), {"option1": "Changed", "option2": ""})
    day.refresh_from_db()
    assert day.option1 == "Their soup"


def test_office_staff_cannot_delete_another_institutions_school_day(office: Client, theirs: Institution) -> None:
    day = SchoolDayFactory(institution=theirs, date=MONDAY)
    office.post(url("schoolday_delete", day.pk), {"post": "yes"})
    assert SchoolDay.objects.filter(pk=day.pk).exists()


def test_office_staff_can_change_their_own_school_days_menu(office: Client, ours: Institution) -> None:
    day = SchoolDayFactory(institution=ours, date=MONDAY, option1="Soup")
    response = office.post(url("schoolday_change", day.pk), {"option1": "Fish", "option2": "Pasta"})
    assert response.status_code == 302
    day.refresh_from_db()
    assert (day.option1, day.option2) == ("Fish", "Pasta")


def test_a_school_day_is_added_only_for_the_users_institution(
    office: Client, ours: Institution, theirs: Institution
) -> None:
    form = office.get(url("schoolday_add")).context["adminform"].form
    assert list(form.fields["institution"].queryset) == [ours]
    response = office.post(url("schoolday_add"), {"institution": theirs.pk, "date": "2026-12-07", "option1": "Soup"})
    assert "institution" in response.context["adminform"].form.errors
    assert not SchoolDay.objects.exists()


def test_a_school_day_on_a_saturday_is_saved_with_a_warning(office: Client, ours: Institution) -> None:
    response = office.post(
        url("schoolday_add"), {"institution": ours.pk, "date": "2026-12-05", "option1": "Soup"}, follow=True
    )
    assert SchoolDay.objects.get().date == dt.date(2026, 12, 5)
    assert [m.level_tag for m in response.context["messages"]].count("warning") == 1


def test_the_institution_filter_offers_only_the_users_institutions(
    office: Client, ours: Institution, theirs: Institution
) -> None:
    content = office.get(url("schoolday_changelist")).content.decode()
    assert "Our School" in content
    assert "Their School" not in content


def test_the_month_filter_lists_the_months_with_school_days(office: Client, ours: Institution) -> None:
    SchoolDayFactory(institution=ours, date=MONDAY, option1="December soup")
    SchoolDayFactory(institution=ours, date=dt.date(2027, 1, 4), option1="January soup")
    content = office.get(url("schoolday_changelist"), {"month": "2027-01"}).content.decode()
    assert "January soup" in content
    assert "December soup" not in content
    assert "?month=2026-12" in content


def test_option_2_with_orders_cannot_be_taken_off_the_menu(office: Client, ours: Institution) -> None:
    day = SchoolDayFactory(institution=ours, date=MONDAY, option1="Soup", option2="Pasta")
    MealOrderFactory(school_day=day, option=2, status=MealOrder.Status.ORDERED)
    response = office.post(url("schoolday_change", day.pk), {"option1": "Soup", "option2": ""})
    assert "option2" in response.context["adminform"].form.errors
    day.refresh_from_db()
    assert day.option2 == "Pasta"


def test_the_deadline_jobs_fields_are_read_only(office: Client, ours: Institution) -> None:
    day = SchoolDayFactory(institution=ours, date=MONDAY, option1="Soup")
    office.post(
        url("schoolday_change", day.pk),
        {"option1": "Soup", "option2": "", "orders_closed_at_0": "2026-12-04", "orders_closed_at_1": "14:00"},
    )
    day.refresh_from_db()
    assert day.orders_closed_at is None


# --- scoping: prices and rules -----------------------------------------------------------------


def test_office_staff_list_only_their_institutions_prices(
    office: Client, ours: Institution, theirs: Institution, category: PriceCategory
) -> None:
    MealPriceFactory(institution=ours, price_category=category, price_cents=2800)
    MealPriceFactory(institution=theirs, price_category=category, price_cents=3100)
    content = office.get(url("mealprice_changelist")).content.decode()
    assert '<td class="field-price">28.00</td>' in content
    assert "31.00" not in content


def test_office_staff_cannot_change_another_institutions_price(
    office: Client, theirs: Institution, category: PriceCategory
) -> None:
    price = MealPriceFactory(institution=theirs, price_category=category, price_cents=3100)
    office.post(
        url("mealprice_change", price.pk),
        {"institution": theirs.pk, "price_category": category.pk, "price_cents": "0.01"},
    )
    price.refresh_from_db()
    assert price.price_cents == 3100


def test_office_staff_cannot_add_a_price_for_another_institution(
    office: Client, theirs: Institution, category: PriceCategory
) -> None:
    response = office.post(
        url("mealprice_add"), {"institution": theirs.pk, "price_category": category.pk, "price_cents": "28.00"}
    )
    assert "institution" in response.context["adminform"].form.errors
    assert not MealPrice.objects.exists()


@pytest.mark.parametrize(("typed", "cents"), [("28.00", 2800), ("28,5", 2850), ("0", 0)])
def test_a_meal_price_typed_as_a_decimal_string_is_stored_in_minor_units(
    office: Client, ours: Institution, category: PriceCategory, typed: str, cents: int
) -> None:
    response = office.post(
        url("mealprice_add"), {"institution": ours.pk, "price_category": category.pk, "price_cents": typed}
    )
    assert response.status_code == 302
    assert MealPrice.objects.get().price_cents == cents


@pytest.mark.parametrize("typed", ["28.005", "-1.00", "1e3"])
def test_a_meal_price_that_is_not_an_amount_is_refused(
    office: Client, ours: Institution, category: PriceCategory, typed: str
) -> None:
    response = office.post(
        url("mealprice_add"), {"institution": ours.pk, "price_category": category.pk, "price_cents": typed}
    )
    assert "price_cents" in response.context["adminform"].form.errors
    assert not MealPrice.objects.exists()


def test_a_meal_price_is_shown_as_a_decimal_string(office: Client, ours: Institution, category: PriceCategory) -> None:
    price = MealPriceFactory(institution=ours, price_category=category, price_cents=2500)
    assert 'value="25.00"' in office.get(url("mealprice_change", price.pk)).content.decode()


def test_a_second_price_for_the_same_category_is_refused(
    office: Client, ours: Institution, category: PriceCategory
) -> None:
    MealPriceFactory(institution=ours, price_category=category, price_cents=2500)
    response = office.post(
        url("mealprice_add"), {"institution": ours.pk, "price_category": category.pk, "price_cents": "30.00"}
    )
    assert response.status_code == 200
    assert MealPrice.objects.get().price_cents == 2500


def test_office_staff_see_only_their_institutions_meal_rules(
    office: Client, ours: Institution, theirs: Institution
) -> None:
    MealPolicyFactory(institution=ours, kitchen_email="ours@example.com")
    theirs_policy = MealPolicyFactory(institution=theirs, kitchen_email="theirs@example.com")
    content = office.get(url("mealpolicy_changelist")).content.decode()
    assert "ours@example.com" in content and "theirs@example.com" not in content
    assert office.get(url("mealpolicy_change", theirs_policy.pk)).status_code == 302


def test_a_serving_window_that_ends_before_it_starts_is_refused(office: Client, ours: Institution) -> None:
    response = office.post(
        url("mealpolicy_add"),
        {
            "institution": ours.pk,
            "order_deadline": "14:00",
            "serving_start": "13:45",
            "serving_end": "11:15",
            "option2_minimum": 20,
        },
    )
    assert response.status_code == 200
    assert not MealPolicy.objects.exists()


def test_a_superuser_sees_every_institution(admin_client: Client, ours: Institution, theirs: Institution) -> None:
    SchoolDayFactory(institution=ours, date=MONDAY, option1="Our soup")
    SchoolDayFactory(institution=theirs, date=MONDAY, option1="Their soup")
    content = admin_client.get(url("schoolday_changelist")).content.decode()
    assert "Our soup" in content and "Their soup" in content


# --- the "add school days" tool ----------------------------------------------------------------


def add_days(client: Client, institution: Institution, **fields: str) -> Any:
    data = {
        "institution": institution.pk,
        "first": "2026-12-07",  # a Monday
        "last": "2026-12-20",  # a Sunday, two weeks later
        "holidays": "",
        "option1": "Dish of the day",
        "option2": "Vegetarian dish",
    } | fields
    return client.post(url("schoolday_add_days"), data)


def dates(institution: Institution) -> list[str]:
    return [d.isoformat() for d in SchoolDay.objects.filter(institution=institution).values_list("date", flat=True)]


def test_the_tool_adds_every_weekday_of_the_range(office: Client, ours: Institution) -> None:
    response = add_days(office, ours)
    assert response.status_code == 302
    assert dates(ours) == [
        "2026-12-07",
        "2026-12-08",
        "2026-12-09",
        "2026-12-10",
        "2026-12-11",
        "2026-12-14",
        "2026-12-15",
        "2026-12-16",
        "2026-12-17",
        "2026-12-18",
    ]
    assert set(SchoolDay.objects.values_list("option1", "option2")) == {("Dish of the day", "Vegetarian dish")}


def test_the_tool_leaves_out_holidays_and_holiday_periods(office: Client, ours: Institution) -> None:
    add_days(office, ours, holidays="2026-12-09\n2026-12-14..2026-12-16, 2026-12-19")
    assert dates(ours) == ["2026-12-07", "2026-12-08", "2026-12-10", "2026-12-11", "2026-12-17", "2026-12-18"]


def test_the_tool_keeps_the_menus_of_days_already_in_the_calendar(office: Client, ours: Institution) -> None:
    SchoolDayFactory(institution=ours, date=dt.date(2026, 12, 8), option1="Christmas lunch")
    add_days(office, ours, last="2026-12-09")
    assert list(SchoolDay.objects.order_by("date").values_list("option1", flat=True)) == [
        "Dish of the day",
        "Christmas lunch",
        "Dish of the day",
    ]


def test_the_tool_refuses_another_institution(office: Client, theirs: Institution) -> None:
    response = add_days(office, theirs)
    assert response.status_code == 200
    assert "institution" in response.context["form"].errors
    assert not SchoolDay.objects.exists()


def test_the_tool_refuses_a_holiday_that_is_not_a_date(office: Client, ours: Institution) -> None:
    response = add_days(office, ours, holidays="24 December")
    assert "holidays" in response.context["form"].errors
    assert not SchoolDay.objects.exists()


def test_the_tool_refuses_a_range_that_ends_before_it_starts(office: Client, ours: Institution) -> None:
    response = add_days(office, ours, first="2026-12-20", last="2026-12-07")
    assert "last" in response.context["form"].errors
    assert not SchoolDay.objects.exists()


def test_the_tool_is_linked_from_the_school_days_list(office: Client) -> None:
    assert url("schoolday_add_days") in office.get(url("schoolday_changelist")).content.decode()


def test_the_tool_needs_the_add_permission(ours: Institution) -> None:
    client = Client()
    user = UserFactory(is_staff=True)
    membership_grant(user=user, institution=ours, role=Role.CANTEEN)  # canteen staff may look, not add
    client.force_login(user)
    assert client.get(url("schoolday_add_days")).status_code == 403
    assert url("schoolday_add_days") not in client.get(url("schoolday_changelist")).content.decode()


def test_adding_the_same_range_twice_adds_nothing_more(ours: Institution) -> None:
    first = school_days_add(
        institution=ours, first=MONDAY, last=MONDAY + dt.timedelta(days=6), holidays=[], option1="Soup"
    )
    again = school_days_add(
        institution=ours, first=MONDAY, last=MONDAY + dt.timedelta(days=6), holidays=[], option1="Soup"
    )
    assert (len(first.created), first.weekends) == (5, 2)
    assert (again.created, len(again.existing)) == ([], 5)
    assert SchoolDay.objects.count() == 5


def test_a_range_longer_than_a_school_year_is_refused(ours: Institution) -> None:
    with pytest.raises(InvalidRequest):
        school_days_add(institution=ours, first=MONDAY, last=MONDAY + dt.timedelta(days=400), holidays=[], option1="x")
    assert not SchoolDay.objects.exists()


# --- orders, subscriptions, class meals --------------------------------------------------------


def test_office_staff_list_only_their_institutions_orders(
    office: Client, ours: Institution, theirs: Institution
) -> None:
    MealOrderFactory(
        school_day=SchoolDayFactory(institution=ours, date=MONDAY),
        holder=CardholderFactory(institution=ours, name="Our pupil"),
    )
    MealOrderFactory(
        school_day=SchoolDayFactory(institution=theirs, date=MONDAY),
        holder=CardholderFactory(institution=theirs, name="Their pupil"),
    )
    content = office.get(url("mealorder_changelist")).content.decode()
    assert "Our pupil" in content and "Their pupil" not in content


def test_orders_are_filtered_by_day_status_and_option(office: Client, ours: Institution) -> None:
    monday = SchoolDayFactory(institution=ours, date=MONDAY)
    tuesday = SchoolDayFactory(institution=ours, date=MONDAY + dt.timedelta(days=1))
    MealOrderFactory(school_day=monday, holder=CardholderFactory(institution=ours, name="Wanted"), option=2)
    MealOrderFactory(school_day=monday, holder=CardholderFactory(institution=ours, name="Option one"), option=1)
    MealOrderFactory(school_day=monday, holder=CardholderFactory(institution=ours, name="Unpaid"), option=2,
                     status=MealOrder.Status.UNPAID)  # fmt: skip
    MealOrderFactory(school_day=tuesday, holder=CardholderFactory(institution=ours, name="Tuesday"), option=2)
    content = office.get(
        url("mealorder_changelist"),
        {"school_day__date__day": "7", "school_day__date__month": "12", "school_day__date__year": "2026",
         "status__exact": "paid", "option__exact": "2"},
    ).content.decode()  # fmt: skip
    assert "Wanted" in content
    for other in ("Option one", "Unpaid", "Tuesday"):
        assert other not in content, other


def test_orders_cannot_be_added_changed_or_deleted(office: Client, ours: Institution) -> None:
    order = MealOrderFactory(school_day=SchoolDayFactory(institution=ours, date=MONDAY), option=1)
    assert office.get(url("mealorder_add")).status_code == 403
    office.post(url("mealorder_change", order.pk), {"option": 2})
    office.post(url("mealorder_delete", order.pk), {"post": "yes"})
    order.refresh_from_db()
    assert order.option == 1


def test_a_subscription_is_added_for_a_pupil_of_the_users_institution(office: Client, ours: Institution) -> None:
    pupil = CardholderFactory(institution=ours)
    response = office.post(url("mealsubscription_add"), {"holder": pupil.pk})
    assert response.status_code == 302
    subscription = MealSubscription.objects.get()
    assert subscription.holder == pupil
    assert subscription.created_by is not None


def test_a_subscription_for_another_institutions_pupil_is_refused(office: Client, theirs: Institution) -> None:
    response = office.post(url("mealsubscription_add"), {"holder": CardholderFactory(institution=theirs).pk})
    assert "holder" in response.context["adminform"].form.errors
    assert not MealSubscription.objects.exists()


def test_a_subscription_is_ended_from_the_admin(office: Client, ours: Institution) -> None:
    subscription = MealSubscription.objects.create(holder=CardholderFactory(institution=ours))
    office.post(url("mealsubscription_delete", subscription.pk), {"post": "yes"})
    assert not MealSubscription.objects.exists()


def test_class_meals_are_listed_read_only_for_the_users_institution(
    office: Client, ours: Institution, theirs: Institution
) -> None:
    teacher = CardFactory(kind=Card.Kind.TEACHER, holder=None, staff_user=UserFactory())
    ours_meal = ClassMeal.objects.create(
        institution=ours, school_day=SchoolDayFactory(institution=ours, date=MONDAY), group="5B", teacher_card=teacher
    )
    MealOrderFactory(school_day=ours_meal.school_day, class_meal=ours_meal, served_at=ours_meal.confirmed_at)
    ClassMeal.objects.create(
        institution=theirs,
        school_day=SchoolDayFactory(institution=theirs, date=MONDAY),
        group="9Z",
        teacher_card=teacher,
    )
    content = office.get(url("classmeal_changelist")).content.decode()
    assert "5B" in content and "9Z" not in content
    assert '<td class="field-pupils">1</td>' in content
    assert office.get(url("classmeal_change", ours_meal.pk)).status_code == 200
    assert office.get(url("classmeal_add")).status_code == 403
