"""Handing out cards at the office [SE][PZ][SK]: the identity check, the first card free and a further
one charged through the ledger (unless a paid replacement order is fulfilled), the office reader,
loaner cards for the day [SL] and teacher and cashier cards."""

import datetime as dt
import json
import zoneinfo
from collections import Counter

import pytest
import time_machine
from django.core.cache import cache
from django.db.models import Sum
from django.test import Client
from django.urls import URLPattern, URLResolver, include, path, reverse

from accounts.models import AuditEntry, Institution, Role, User
from cards.issuance import (
    LoanerInUse,
    NotALoaner,
    card_office_issue,
    loaner_expiry,
    loaner_lend,
    loaner_return,
    loaners_lent_today,
)
from cards.models import Card, Cardholder, CardIssuance, ReplacementOrder
from cards.services import HolderLeft, guardianship_create, holder_leave, holder_limits_set, holder_move
from cardsystem import urls as project_urls
from cardsystem.errors import InvalidRequest
from payments.errors import InsufficientFunds
from payments.ledger import holder_accounts_get, system_account
from payments.models import LedgerAccount, LedgerEntry, LedgerTransaction
from payments.replacements import card_replacement_order
from payments.selectors import ledger_mismatches
from terminals.models import Scan, Terminal
from terminals.services import terminal_token_issue
from tests.cards.test_back_office import office_user, signed_in
from tests.factories import (
    CardFactory,
    InstitutionFactory,
    ProductFactory,
    TerminalFactory,
    UserFactory,
    holder_with_balances,
    staff_user,
    terminal_with_token,
)

pytestmark = pytest.mark.django_db

FEE = 2500
DOC = CardIssuance.Document.PASSPORT
# The project's URLs with the office reader's mounted (cardsystem.urls gets the include line).
urlpatterns: list[URLPattern | URLResolver] = [
    path("", include("terminals.office_reader_urls")),
    *project_urls.urlpatterns,
]


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    cache.clear()


@pytest.fixture
def school() -> Institution:
    return InstitutionFactory(name="Our School", time_zone="Europe/Copenhagen")


@pytest.fixture
def other() -> Institution:
    return InstitutionFactory(name="Their School")


@pytest.fixture
def clerk(school: Institution) -> User:
    return office_user(school)


def issue(
    clerk: User, holder: Cardholder, uid: str = "04A1B2C3", number: str = "700001", **kwargs: object
) -> CardIssuance:
    return card_office_issue(  # type: ignore[arg-type]
        institution=holder.institution,
        uid=uid,
        number=number,
        kind=Card.Kind.REGULAR,
        holder=holder,
        issued_by=clerk,
        checked_by=clerk,
        document_type=DOC,
        **kwargs,
    )


def card_fees(institution: Institution) -> int:
    account = system_account(kind=LedgerAccount.Kind.CARD_FEES, institution=institution)
    return int(LedgerEntry.objects.filter(account=account).aggregate(total=Sum("amount_cents"))["total"] or 0)


def extra_of(holder: Cardholder) -> int:
    return holder_accounts_get(holder_id=holder.pk).extra.balance_cents


# --- the fee ------------------------------------------------------------------------------------


def test_the_first_card_is_free_and_records_the_identity_check(clerk: User, school: Institution) -> None:
    holder = holder_with_balances(extra=5000, institution=school)
    checker = office_user(school)

    issuance = card_office_issue(
        institution=school,
        uid="04:a1:b2:c3",
        number=" 700001 ",
        kind=Card.Kind.REGULAR,
        holder=holder,
        issued_by=clerk,
        checked_by=checker,
        document_type=CardIssuance.Document.HEALTH_CARD,
        received_by="Mor Holm",
    )

    card = issuance.card
    assert (card.uid, card.number, card.holder, card.status) == ("04A1B2C3", "700001", holder, Card.Status.ACTIVE)
    assert (issuance.fee_cents, issuance.charged) == (0, False)
    assert (issuance.checked_by, issuance.issued_by, issuance.document_type) == (checker, clerk, "health_card")
    assert (issuance.received_by, issuance.institution, issuance.holder) == ("Mor Holm", school, holder)
    assert extra_of(holder) == 5000
    assert not LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.FEE).exists()


def test_a_new_card_gets_a_one_time_activation_code_that_links_a_guardian(clerk: User, school: Institution) -> None:
    from cards.services import guardianship_link

    card = issue(clerk, holder_with_balances(institution=school)).card
    assert len(card.activation_code) == 10

    guardianship_link(guardian=UserFactory(), card_number=card.number, activation_code=card.activation_code.lower())

    card.refresh_from_db()
    assert card.activation_code == ""


def test_a_further_card_costs_the_fee_from_the_extra_balance_and_replaces_the_old_one(
    clerk: User, school: Institution
) -> None:
    holder = holder_with_balances(main=10000, extra=5000, institution=school)
    first = issue(clerk, holder).card

    second = issue(clerk, holder, uid="04A1B2C4", number="700002")

    assert second.fee_cents == FEE
    assert extra_of(holder) == 5000 - FEE
    assert holder_accounts_get(holder_id=holder.pk).main.balance_cents == 10000
    assert card_fees(school) == FEE
    first.refresh_from_db()
    assert (first.status, second.card.status) == (Card.Status.REPLACED, Card.Status.ACTIVE)
    fee = LedgerTransaction.objects.get(kind=LedgerTransaction.Kind.FEE)
    assert (fee.created_by, fee.institution) == (clerk, school)
    assert ledger_mismatches() == []


def test_a_further_card_is_refused_when_the_extra_balance_is_short_and_nothing_changes(
    clerk: User, school: Institution
) -> None:
    holder = holder_with_balances(main=10000, extra=FEE - 1, institution=school)
    first = issue(clerk, holder).card

    with pytest.raises(InsufficientFunds):
        issue(clerk, holder, uid="04A1B2C4", number="700002")

    first.refresh_from_db()
    assert first.status == Card.Status.ACTIVE
    assert not Card.objects.filter(number="700002").exists()
    assert CardIssuance.objects.count() == 1
    assert extra_of(holder) == FEE - 1


def test_a_card_fulfilling_a_paid_replacement_order_costs_nothing_more(clerk: User, school: Institution) -> None:
    guardian = UserFactory()
    holder = holder_with_balances(extra=5000, institution=school)
    guardianship_create(guardian=guardian, holder=holder)
    old = issue(clerk, holder).card
    order = card_replacement_order(guardian=guardian, card=old)
    assert extra_of(holder) == 5000 - FEE

    issuance = issue(clerk, holder, uid="04A1B2C4", number="700002")

    assert issuance.fee_cents == 0
    assert extra_of(holder) == 5000 - FEE
    order.refresh_from_db()
    assert (order.status, order.new_card, issuance.replacement_order) == ("issued", issuance.card, order)
    assert order.issued_at is not None
    assert card_fees(school) == FEE
    assert ledger_mismatches() == []


def test_an_order_still_awaiting_its_payment_is_paid_at_the_desk(clerk: User, school: Institution) -> None:
    guardian = UserFactory()
    holder = holder_with_balances(extra=5000, institution=school)
    old = issue(clerk, holder).card
    order = card_replacement_order(guardian=guardian, card=old, paid_with=ReplacementOrder.PaidWith.PROVIDER)

    issuance = issue(clerk, holder, uid="04A1B2C4", number="700002")

    assert issuance.fee_cents == FEE
    assert extra_of(holder) == 5000 - FEE
    order.refresh_from_db()
    assert (order.status, order.paid_with, order.new_card) == ("issued", "balance", issuance.card)
    assert ledger_mismatches() == []


def test_the_card_after_a_move_is_free(clerk: User, school: Institution, other: Institution) -> None:
    holder = holder_with_balances(extra=5000, institution=other)
    CardFactory(holder=holder)
    holder_move(holder=holder, institution=school, moved_by=clerk, reason="Moved")
    holder.refresh_from_db()

    issuance = issue(clerk, holder)

    assert issuance.fee_cents == 0
    assert extra_of(holder) == 5000


def test_the_fee_setting_zero_makes_every_card_free(clerk: User, school: Institution, settings: object) -> None:
    settings.CARD_REPLACEMENT_FEE_CENTS = 0  # type: ignore[attr-defined]
    holder = holder_with_balances(institution=school)
    issue(clerk, holder)

    assert issue(clerk, holder, uid="04A1B2C4", number="700002").fee_cents == 0


def test_a_debt_block_carries_over_to_the_new_card(clerk: User, school: Institution) -> None:
    holder = holder_with_balances(extra=5000, institution=school)
    CardFactory(holder=holder, status=Card.Status.DEBT_BLOCKED)

    card = issue(clerk, holder).card

    assert card.status == Card.Status.DEBT_BLOCKED


def test_the_new_card_keeps_the_daily_limit_the_guardian_set(clerk: User, school: Institution) -> None:
    holder = holder_with_balances(extra=5000, institution=school)
    CardFactory(holder=holder)
    holder_limits_set(holder=holder, daily_limit_cents=4000)

    assert issue(clerk, holder).card.daily_limit_cents == 4000


def test_a_chip_or_number_in_use_is_refused(clerk: User, school: Institution) -> None:
    CardFactory(uid="04A1B2C3", number="123")
    holder = holder_with_balances(institution=school)

    with pytest.raises(InvalidRequest) as refused:
        issue(clerk, holder, uid="04A1B2C3", number="123")

    assert set(refused.value.fields or {}) == {"uid", "number"}


def test_a_pupil_who_left_gets_no_card(clerk: User, school: Institution) -> None:
    holder = holder_with_balances(institution=school)
    holder_leave(holder=holder, left_by=clerk, reason="Finished")

    with pytest.raises(HolderLeft):
        issue(clerk, holder)


def test_a_card_for_another_institutions_pupil_is_refused(clerk: User, school: Institution, other: Institution) -> None:
    holder = holder_with_balances(institution=other)

    with pytest.raises(InvalidRequest):
        card_office_issue(
            institution=school,
            uid="04A1B2C3",
            number="1",
            kind="regular",
            holder=holder,
            issued_by=clerk,
            checked_by=clerk,
            document_type=DOC,
        )


def test_an_issuance_is_audited(clerk: User, school: Institution) -> None:
    holder = holder_with_balances(extra=5000, institution=school)
    issue(clerk, holder)
    issuance = issue(clerk, holder, uid="04A1B2C4", number="700002")

    entry = AuditEntry.objects.filter(action="card.issued").order_by("pk").last()
    assert entry is not None
    assert (entry.actor, entry.target_id, entry.institution) == (clerk, str(issuance.card.pk), school)
    assert (entry.details["fee_cents"], entry.details["replaced"], entry.details["document_type"]) == (
        FEE,
        ["700001"],
        "passport",
    )


# --- teacher and cashier cards ------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "role"), [("teacher", Role.TEACHER), ("cashier", Role.CANTEEN)])
def test_a_staff_card_belongs_to_a_member_of_staff_and_is_free(
    clerk: User, school: Institution, kind: str, role: str
) -> None:
    teacher = staff_user(institution=school, role=role)

    issuance = card_office_issue(
        institution=school,
        uid="04D4E5F6",
        number="900001",
        kind=kind,
        staff_user=teacher,
        issued_by=clerk,
        checked_by=clerk,
        document_type=CardIssuance.Document.DRIVING_LICENCE,
    )

    card = issuance.card
    assert (card.kind, card.staff_user, card.holder, card.activation_code) == (kind, teacher, None, "")
    assert (issuance.fee_cents, issuance.received_by) == (0, str(teacher))


def test_a_staff_card_for_someone_not_working_there_is_refused(
    clerk: User, school: Institution, other: Institution
) -> None:
    stranger = staff_user(institution=other, role=Role.TEACHER)

    with pytest.raises(InvalidRequest) as refused:
        card_office_issue(
            institution=school,
            uid="04D4E5F6",
            number="900001",
            kind="teacher",
            staff_user=stranger,
            issued_by=clerk,
            checked_by=clerk,
            document_type=DOC,
        )

    assert "staff_user" in (refused.value.fields or {})


def test_a_loaner_is_not_handed_out_as_a_new_card(clerk: User, school: Institution) -> None:
    holder = holder_with_balances(institution=school)

    with pytest.raises(InvalidRequest) as refused:
        card_office_issue(
            institution=school,
            uid="04A1B2C3",
            number="1",
            kind=Card.Kind.LOANER,
            holder=holder,
            issued_by=clerk,
            checked_by=clerk,
            document_type=DOC,
        )

    assert "kind" in (refused.value.fields or {})


# --- the issuing form ---------------------------------------------------------------------------


def issue_form(holder: Cardholder, **overrides: object) -> dict[str, object]:
    return {
        "kind": "regular",
        "holder": holder.pk,
        "uid": "04 a1 b2 c3",
        "number": "700001",
        "document_type": "passport",
        "received_by": "",
        "daily_limit_cents": "",
        **overrides,
    }


def test_the_office_hands_out_a_card_through_the_form(clerk: User, school: Institution) -> None:
    holder = holder_with_balances(institution=school)

    response = signed_in(clerk).post(reverse("admin:cards_card_add"), issue_form(holder))

    card = Card.objects.get(number="700001")
    assert response.status_code == 302
    assert response.url == reverse("admin:cards_card_change", args=[card.pk])
    assert (card.uid, card.holder) == ("04A1B2C3", holder)
    assert CardIssuance.objects.get().checked_by == clerk


def test_the_form_needs_the_identity_document(clerk: User, school: Institution) -> None:
    holder = holder_with_balances(institution=school)

    response = signed_in(clerk).post(reverse("admin:cards_card_add"), issue_form(holder, document_type=""))

    assert response.status_code == 200
    assert "document_type" in response.context["form"].errors
    assert not Card.objects.exists()


def test_the_form_shows_a_short_extra_balance_as_an_error(clerk: User, school: Institution) -> None:
    holder = holder_with_balances(institution=school)
    CardFactory(holder=holder)

    response = signed_in(clerk).post(reverse("admin:cards_card_add"), issue_form(holder))

    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert not Card.objects.filter(number="700001").exists()


def test_the_form_does_not_accept_another_institutions_pupil(
    clerk: User, school: Institution, other: Institution
) -> None:
    holder = holder_with_balances(institution=other)

    response = signed_in(clerk).post(reverse("admin:cards_card_add"), issue_form(holder))

    assert response.status_code == 200
    assert "holder" in response.context["form"].errors
    assert not Card.objects.exists()


def test_the_form_is_prefilled_from_a_replacement_order_link(clerk: User, school: Institution) -> None:
    holder = holder_with_balances(institution=school)

    response = signed_in(clerk).get(reverse("admin:cards_card_add"), {"holder": holder.pk})

    assert response.context["form"].initial["holder"] == holder


# --- the office reader --------------------------------------------------------------------------


def office_terminal(institution: Institution) -> tuple[Terminal, str]:
    terminal = TerminalFactory(institution=institution, kind=Terminal.Kind.OFFICE, name="Office desk")
    return terminal, terminal_token_issue(terminal=terminal)


def read(token: str, uid: str) -> object:
    return Client().post(
        "/api/v1/terminal/office-reads",
        data=json.dumps({"uid": uid}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


@pytest.mark.urls(__name__)
def test_a_blank_card_at_the_office_reader_reaches_the_issuing_form(clerk: User, school: Institution) -> None:
    _terminal, token = office_terminal(school)

    answer = read(token, "04a1b2c3d4e5f6")
    latest = signed_in(clerk).get(reverse("office_reader:latest")).json()

    assert (answer.status_code, answer.json()) == (200, {"uid": "04A1B2C3D4E5F6", "card": None})  # type: ignore[attr-defined]
    assert latest["read"]["uid"] == "04A1B2C3D4E5F6"
    assert latest["read"]["terminal"] == "Office desk"


@pytest.mark.urls(__name__)
def test_a_known_card_at_the_office_reader_is_named_and_recorded_as_a_scan(clerk: User, school: Institution) -> None:
    terminal, token = office_terminal(school)
    card = CardFactory(uid="04A1B2C3", number="555")

    answer = read(token, "04A1B2C3")

    assert answer.json()["card"] == {"number": "555", "status": "active"}  # type: ignore[attr-defined]
    assert Scan.objects.filter(terminal=terminal, card=card).exists()


@pytest.mark.urls(__name__)
def test_another_institutions_office_reader_is_not_seen(clerk: User, other: Institution) -> None:
    _terminal, token = office_terminal(other)
    read(token, "04A1B2C3")

    assert signed_in(clerk).get(reverse("office_reader:latest")).json() == {"read": None}


@pytest.mark.urls(__name__)
def test_a_read_from_before_the_page_was_opened_is_not_filled_in(clerk: User, school: Institution) -> None:
    _terminal, token = office_terminal(school)
    with time_machine.travel(dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC), tick=False):
        read(token, "04A1B2C3")

    response = signed_in(clerk).get(reverse("office_reader:latest"), {"since": "2026-12-07T09:00:01+00:00"})

    assert response.json() == {"read": None}


@pytest.mark.urls(__name__)
def test_a_till_cannot_report_office_reads(school: Institution) -> None:
    _terminal, token = terminal_with_token(institution=school)

    response = read(token, "04A1B2C3")

    assert response.status_code == 403  # type: ignore[attr-defined]
    assert response.json()["error"]["code"] == "not_an_office_terminal"  # type: ignore[attr-defined]


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("role", [Role.CANTEEN, Role.FINANCE])
def test_only_office_staff_poll_the_office_reader(school: Institution, role: str) -> None:
    user = UserFactory(is_staff=True)
    from accounts.services import membership_grant

    membership_grant(user=user, institution=school, role=role)

    assert signed_in(user).get(reverse("office_reader:latest")).status_code == 403


@pytest.mark.urls(__name__)
def test_the_issuing_form_polls_the_office_reader(clerk: User) -> None:
    content = signed_in(clerk).get(reverse("admin:cards_card_add")).content.decode()

    assert reverse("office_reader:latest") in content


# --- loaner cards -------------------------------------------------------------------------------

MONDAY_NOON = dt.datetime(2026, 12, 7, 11, 0, tzinfo=dt.UTC)  # 12:00 in Copenhagen


def lend(clerk: User, holder: Cardholder, uid: str = "04EEEE01", number: str = "L1") -> CardIssuance:
    return loaner_lend(institution=holder.institution, uid=uid, number=number, holder=holder, lent_by=clerk)


def buy(token: str, uid: str, product_id: int) -> object:
    return Client().post(
        "/api/v1/terminal/purchases",
        data=json.dumps({"uid": uid, "lines": [{"product": product_id, "quantity": 1}]}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def test_a_loaner_card_is_tied_to_the_pupil_until_local_midnight(clerk: User, school: Institution) -> None:
    holder = holder_with_balances(institution=school)
    with time_machine.travel(MONDAY_NOON, tick=False):
        issuance = lend(clerk, holder)

    card = issuance.card
    copenhagen = zoneinfo.ZoneInfo("Europe/Copenhagen")
    assert (card.kind, card.holder, card.status) == (Card.Kind.LOANER, holder, Card.Status.ACTIVE)
    assert card.expires_at == dt.datetime(2026, 12, 8, 0, 0, tzinfo=copenhagen)
    assert (issuance.holder, issuance.fee_cents) == (holder, 0)


def test_the_end_of_the_day_is_the_institutions_not_utc(school: Institution) -> None:
    late = dt.datetime(2026, 12, 7, 23, 30, tzinfo=dt.UTC)  # already 8 December in Copenhagen

    assert loaner_expiry(institution=school, now=late) == dt.datetime(
        2026, 12, 9, 0, 0, tzinfo=zoneinfo.ZoneInfo("Europe/Copenhagen")
    )


def test_a_loaner_pays_from_the_pupils_balance_today_and_is_refused_at_the_till_once_expired(
    clerk: User, school: Institution
) -> None:
    holder = holder_with_balances(extra=5000, institution=school)
    apple = ProductFactory(institution=school, price_cents=400)
    _terminal, token = terminal_with_token(institution=school)
    with time_machine.travel(MONDAY_NOON, tick=False):
        card = lend(clerk, holder).card
        assert buy(token, card.uid, apple.pk).status_code == 201  # type: ignore[attr-defined]

    with time_machine.travel(MONDAY_NOON + dt.timedelta(hours=12), tick=False):
        refused = buy(token, card.uid, apple.pk)

    assert refused.status_code == 409  # type: ignore[attr-defined]
    assert refused.json()["error"]["code"] == "card_blocked"  # type: ignore[attr-defined]
    assert extra_of(holder) == 5000 - 400


def test_a_loaner_handed_back_is_refused_at_once(clerk: User, school: Institution) -> None:
    holder = holder_with_balances(extra=5000, institution=school)
    apple = ProductFactory(institution=school, price_cents=400)
    _terminal, token = terminal_with_token(institution=school)
    card = lend(clerk, holder).card

    loaner_return(card=card, returned_by=clerk)

    assert buy(token, card.uid, apple.pk).json()["error"]["code"] == "card_blocked"  # type: ignore[attr-defined]
    assert AuditEntry.objects.filter(action="card.loaner_returned").count() == 1


def test_a_loaner_lent_today_is_not_lent_to_another_pupil(clerk: User, school: Institution) -> None:
    first, second = holder_with_balances(institution=school), holder_with_balances(institution=school)
    lend(clerk, first)

    with pytest.raises(LoanerInUse):
        lend(clerk, second, number="")


def test_a_loaner_handed_back_is_lent_again_and_the_first_lending_is_kept(clerk: User, school: Institution) -> None:
    first, second = holder_with_balances(institution=school), holder_with_balances(institution=school)
    card = lend(clerk, first).card
    loaner_return(card=card, returned_by=clerk)

    lend(clerk, second, number="")

    card.refresh_from_db()
    assert card.holder == second
    assert list(CardIssuance.objects.order_by("pk").values_list("holder", flat=True)) == [first.pk, second.pk]


def test_a_loaner_gets_the_pupils_daily_limit(clerk: User, school: Institution) -> None:
    holder = holder_with_balances(institution=school)
    CardFactory(holder=holder, daily_limit_cents=3000)

    assert lend(clerk, holder).card.daily_limit_cents == 3000


def test_a_regular_card_cannot_be_lent(clerk: User, school: Institution) -> None:
    CardFactory(uid="04EEEE01")

    with pytest.raises(NotALoaner):
        lend(clerk, holder_with_balances(institution=school))


def test_the_pupils_own_card_is_left_as_it_is(clerk: User, school: Institution) -> None:
    holder = holder_with_balances(institution=school)
    own = CardFactory(holder=holder)

    lend(clerk, holder)

    own.refresh_from_db()
    assert own.status == Card.Status.ACTIVE


def test_leaving_ends_a_loaner_lent_today(clerk: User, school: Institution) -> None:
    holder = holder_with_balances(institution=school)
    card = lend(clerk, holder).card

    holder_leave(holder=holder, left_by=clerk, reason="Left at noon")

    card.refresh_from_db()
    assert card.expires_at is not None and card.expires_at <= dt.datetime.now(dt.UTC)


def test_todays_loaners_are_listed_per_institution_day(clerk: User, school: Institution, other: Institution) -> None:
    holder = holder_with_balances(institution=school)
    with time_machine.travel(MONDAY_NOON - dt.timedelta(days=1), tick=False):
        lend(clerk, holder, uid="04EEEE09", number="L9")
    with time_machine.travel(MONDAY_NOON, tick=False):
        today = lend(clerk, holder)
        listed = list(loaners_lent_today(institutions=Institution.objects.filter(pk=school.pk)))

    assert listed == [today]


def test_the_loaner_page_lends_and_lists_only_the_users_institutions(
    clerk: User, school: Institution, other: Institution
) -> None:
    holder = holder_with_balances(institution=school, name="Ida Holm")
    lend(office_user(other), holder_with_balances(institution=other, name="Other Pupil"), uid="04EEEE09", number="L9")
    office = signed_in(clerk)

    response = office.post(
        reverse("admin:cards_card_loaners"),
        {
            "institution": school.pk,
            "holder": holder.pk,
            "uid": "04EEEE01",
            "number": "L1",
            "document_type": "known_personally",
        },
    )
    content = office.get(reverse("admin:cards_card_loaners")).content.decode()

    assert response.status_code == 302
    assert "Ida Holm" in content and "L1" in content
    assert "Other Pupil" not in content


def test_the_loaner_page_takes_a_card_back(clerk: User, school: Institution) -> None:
    card = lend(clerk, holder_with_balances(institution=school)).card

    response = signed_in(clerk).post(reverse("admin:cards_card_loaner_return", args=[card.pk]))

    assert response.status_code == 302
    card.refresh_from_db()
    assert card.expires_at is not None and card.expires_at <= dt.datetime.now(dt.UTC)


def test_another_institutions_loaner_cannot_be_taken_back(clerk: User, other: Institution) -> None:
    card = lend(office_user(other), holder_with_balances(institution=other)).card

    response = signed_in(clerk).post(reverse("admin:cards_card_loaner_return", args=[card.pk]))

    assert response.status_code == 404
    card.refresh_from_db()
    assert card.expires_at is not None and card.expires_at > dt.datetime.now(dt.UTC)


# --- racing a purchase (PostgreSQL) -------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_charged_card_racing_purchases_on_the_same_holder_loses_no_money() -> None:
    from tests.payments.test_ledger_postgres import purchase, race

    school = InstitutionFactory()
    clerk = office_user(school)
    holder = holder_with_balances(extra=FEE + 3 * 1000, institution=school)  # the fee and three sandwiches
    CardFactory(holder=holder, uid="04AAAA00", number="600000")
    sandwich = ProductFactory(institution=school, price_cents=1000)
    _terminal, token = terminal_with_token(institution=school)
    # A second card the purchases use, so the new card's replacement of the first does not stop them.
    loaner = lend(clerk, holder, uid="04BBBB00", number="L600")

    def work(i: int) -> object:
        if i == 0:
            try:
                return issue(clerk, Cardholder.objects.get(pk=holder.pk), uid="04AAAA01", number="600001").fee_cents
            except InsufficientFunds:
                return "refused"
        return purchase(token, loaner.card.uid, sandwich.pk, key=f"p{i}")[0]

    results = race(6, work)

    outcome = Counter(results)
    charged = FEE if outcome[FEE] else 0
    sold = outcome[201]
    assert charged + sold * 1000 <= FEE + 3000
    assert extra_of(holder) == FEE + 3000 - charged - sold * 1000 >= 0
    assert card_fees(school) == charged
    assert ledger_mismatches() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_card_handed_out_while_the_guardian_orders_a_replacement_costs_one_fee() -> None:
    from cards.errors import CardReplaced
    from tests.payments.test_ledger_postgres import race

    school = InstitutionFactory()
    clerk = office_user(school)
    guardian = UserFactory()
    holder = holder_with_balances(extra=5 * FEE, institution=school)
    guardianship_create(guardian=guardian, holder=holder)
    old = CardFactory(holder=holder, uid="04AAAA00", number="600000")

    def work(i: int) -> object:
        if i == 0:
            return issue(clerk, Cardholder.objects.get(pk=holder.pk), uid="04AAAA01", number="600001").fee_cents
        try:
            card_replacement_order(guardian=guardian, card=Card.objects.get(pk=old.pk))
        except CardReplaced:
            return "replaced already"
        return "ordered"

    results = race(2, work)

    assert results in ([FEE, "replaced already"], [0, "ordered"]), results
    assert card_fees(school) == FEE
    assert extra_of(holder) == 4 * FEE
    new = Card.objects.get(number="600001")
    assert ReplacementOrder.objects.filter(status=ReplacementOrder.Status.ORDERED).count() == 0
    assert new.status == Card.Status.ACTIVE
    assert ledger_mismatches() == []
