"""The cards back office: registering pupils, moving them, marking them as left; every page and
action scoped to the office user's institutions, with an audit entry for each action."""

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEntry, Institution, Role, User
from accounts.services import membership_grant
from cards.models import Card, Cardholder, Guardianship, ReplacementOrder
from cards.services import AlreadyThere, HolderLeft, holder_enrol, holder_leave, holder_move
from cardsystem.errors import InvalidRequest
from payments.ledger import holder_accounts_get, opening_balance_post
from payments.models import LedgerAccount, LedgerTransaction
from payments.selectors import ledger_mismatches
from tests.factories import (
    CardFactory,
    CardholderFactory,
    InstitutionFactory,
    PriceCategoryFactory,
    UserFactory,
    holder_with_balances,
    staff_user,
)

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
# What the office role needs in the cards back office beyond what it has (the role's group is to
# carry these: accounts.services.ROLE_PERMISSIONS); given to the test users directly.
OFFICE_CARD_PERMISSIONS = [
    "view_cardholder",
    "add_cardholder",
    "change_cardholder",
    "view_card",
    "add_card",
    "change_card",
    "view_replacementorder",
    "change_replacementorder",
    "view_pricecategory",
    "view_cardissuance",
    "add_cardissuance",
]


def office_user(institution: Institution, **kwargs: object) -> User:
    user = UserFactory(**kwargs)
    membership_grant(user=user, institution=institution, role=Role.OFFICE)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="cards", codename__in=OFFICE_CARD_PERMISSIONS)
    )
    return user


def signed_in(user: User) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


@pytest.fixture
def ours() -> Institution:
    return InstitutionFactory(name="Our School", debt_limit_cents=15000)


@pytest.fixture
def theirs() -> Institution:
    return InstitutionFactory(name="Their School", debt_limit_cents=5000)


@pytest.fixture
def clerk(ours: Institution) -> User:
    return office_user(ours)


@pytest.fixture
def office(clerk: User) -> Client:
    return signed_in(clerk)


def audit(action: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action))


def test_the_ledger_is_reachable_from_the_card_services_once_the_apps_are_ready() -> None:
    # A fresh process, so nothing a test fixture registered can stand in for the app's own wiring.
    code = (
        "import django; django.setup(); "
        "from cards.ledger_port import holder_ledger; print(type(holder_ledger()).__name__)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"DJANGO_SETTINGS_MODULE": "cardsystem.settings", "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert result.stdout.strip() == "PaymentsHolderLedger", result.stderr[-2000:]


# --- registering one pupil ----------------------------------------------------------------------


def test_an_office_user_registers_a_pupil_with_both_balances_open(office: Client, ours: Institution) -> None:
    category = PriceCategoryFactory()
    response = office.post(
        reverse("admin:cards_cardholder_add"),
        {"name": "Ida Holm", "institution": ours.pk, "group": "3C", "price_category": category.pk, "allergy_note": ""},
    )

    assert response.status_code == 302
    holder = Cardholder.objects.get(name="Ida Holm")
    assert (holder.institution, holder.group, holder.price_category) == (ours, "3C", category)
    accounts = holder_accounts_get(holder_id=holder.pk)
    assert (accounts.main.balance_cents, accounts.main.floor_cents) == (0, -15000)
    assert (accounts.extra.balance_cents, accounts.extra.floor_cents) == (0, 0)
    [entry] = audit("holder.registered")
    assert (entry.target_id, entry.institution, entry.details["via"]) == (str(holder.pk), ours, "admin")


def test_registering_with_a_signed_up_guardians_address_links_the_guardian(office: Client, ours: Institution) -> None:
    guardian = UserFactory(email="mor@example.com")
    office.post(
        reverse("admin:cards_cardholder_add"),
        {"name": "Ida Holm", "institution": ours.pk, "group": "3C", "guardian_email": "MOR@example.com"},
    )

    holder = Cardholder.objects.get(name="Ida Holm")
    assert Guardianship.objects.filter(guardian=guardian, holder=holder).exists()
    assert len(audit("holder.guardian_added")) == 1


def test_a_pupil_cannot_be_registered_at_another_institution(office: Client, theirs: Institution) -> None:
    response = office.post(
        reverse("admin:cards_cardholder_add"), {"name": "Ida Holm", "institution": theirs.pk, "group": "3C"}
    )

    assert response.status_code == 200
    assert "institution" in response.context["adminform"].form.errors
    assert not Cardholder.objects.exists()


# --- scoping ------------------------------------------------------------------------------------


def test_the_cardholder_list_shows_only_the_users_institutions(
    office: Client, ours: Institution, theirs: Institution
) -> None:
    mine = holder_with_balances(institution=ours, name="Mine Pupil")
    holder_with_balances(institution=theirs, name="Other Pupil")

    content = office.get(reverse("admin:cards_cardholder_changelist")).content.decode()

    assert mine.name in content
    assert "Other Pupil" not in content


def test_another_institutions_pupil_cannot_be_opened(office: Client, theirs: Institution) -> None:
    other = holder_with_balances(institution=theirs)

    response = office.get(reverse("admin:cards_cardholder_change", args=[other.pk]))

    assert response.status_code == 302
    assert response.url == reverse("admin:index")


def test_another_institutions_card_cannot_be_opened(office: Client, theirs: Institution) -> None:
    card = CardFactory(holder=holder_with_balances(institution=theirs))

    response = office.get(reverse("admin:cards_card_change", args=[card.pk]))

    assert response.status_code == 302


def test_a_staff_card_is_seen_by_the_office_of_the_staff_members_institution(
    office: Client, ours: Institution, theirs: Institution
) -> None:
    mine = CardFactory(holder=None, staff_user=staff_user(institution=ours, role=Role.TEACHER), kind="teacher")
    other = CardFactory(holder=None, staff_user=staff_user(institution=theirs, role=Role.TEACHER), kind="teacher")

    content = office.get(reverse("admin:cards_card_changelist")).content.decode()

    assert mine.number in content
    assert other.number not in content


def test_the_replacement_queue_shows_only_the_users_institutions(
    office: Client, ours: Institution, theirs: Institution
) -> None:
    for school, name in ((ours, "Mine Pupil"), (theirs, "Other Pupil")):
        holder = holder_with_balances(institution=school, name=name)
        ReplacementOrder.objects.create(
            old_card=CardFactory(holder=holder, status=Card.Status.REPLACED),
            holder=holder,
            ordered_by=UserFactory(),
            status=ReplacementOrder.Status.ORDERED,
            fee_cents=2500,
            paid_with=ReplacementOrder.PaidWith.BALANCE,
        )

    content = office.get(reverse("admin:cards_replacementorder_changelist")).content.decode()

    assert "Mine Pupil" in content and "Other Pupil" not in content
    assert reverse("admin:cards_card_add") in content  # the "hand out" link of the open order


BACK_OFFICE_PAGES = [
    "admin:cards_cardholder_changelist",
    "admin:cards_cardholder_add",
    "admin:cards_cardholder_import",
    "admin:cards_card_changelist",
    "admin:cards_card_add",
    "admin:cards_card_loaners",
    "admin:cards_cardissuance_changelist",
    "admin:cards_cardissuance_register",
    "admin:cards_replacementorder_changelist",
]


@pytest.mark.parametrize("page", BACK_OFFICE_PAGES)
@pytest.mark.parametrize("role", [Role.CANTEEN, Role.TEACHER, None], ids=["canteen", "teacher", "guardian"])
def test_canteen_staff_teachers_and_guardians_are_sent_to_the_admin_sign_in(
    ours: Institution, page: str, role: str | None
) -> None:
    user = staff_user(institution=ours, role=role) if role else UserFactory()

    response = signed_in(user).get(reverse(page))

    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


@pytest.mark.parametrize(
    "page",
    [
        "admin:cards_cardholder_add",
        "admin:cards_cardholder_import",
        "admin:cards_card_add",
        "admin:cards_card_loaners",
        "admin:cards_cardissuance_register",
    ],
)
def test_finance_staff_may_read_cardholders_but_not_register_or_hand_out(ours: Institution, page: str) -> None:
    finance = UserFactory()
    membership_grant(user=finance, institution=ours, role=Role.FINANCE)

    assert signed_in(finance).get(reverse(page)).status_code == 403


# --- moving a pupil -----------------------------------------------------------------------------


def test_moving_keeps_the_balances_and_the_floor_follows_the_new_debt_limit(
    clerk: User, ours: Institution, theirs: Institution
) -> None:
    holder = holder_with_balances(main=4000, extra=1500, institution=ours)

    holder_move(holder=holder, institution=theirs, moved_by=clerk, reason="Family moved", group="4A")

    holder.refresh_from_db()
    assert (holder.institution, holder.group) == (theirs, "4A")
    accounts = holder_accounts_get(holder_id=holder.pk)
    assert (accounts.main.balance_cents, accounts.extra.balance_cents) == (4000, 1500)
    assert accounts.main.floor_cents == -5000
    assert LedgerAccount.objects.filter(holder=holder).count() == 2
    assert ledger_mismatches() == []


def test_moving_never_lifts_the_floor_above_a_debt_already_owed(
    clerk: User, ours: Institution, theirs: Institution
) -> None:
    holder = holder_with_balances(institution=ours)
    main = holder_accounts_get(holder_id=holder.pk).main
    opening_balance_post(account=main, amount_cents=-10000, reason="debt from meals")

    holder_move(holder=holder, institution=theirs, moved_by=clerk, reason="Family moved")

    main = holder_accounts_get(holder_id=holder.pk).main
    assert (main.balance_cents, main.floor_cents) == (-10000, -10000)
    assert ledger_mismatches() == []


def test_moving_to_a_school_with_a_higher_debt_limit_lowers_the_floor(
    clerk: User, ours: Institution, theirs: Institution
) -> None:
    holder = holder_with_balances(institution=theirs)

    holder_move(holder=holder, institution=ours, moved_by=clerk, reason="Family moved")

    assert holder_accounts_get(holder_id=holder.pk).main.floor_cents == -15000


def test_moving_blocks_the_cards_for_good_and_queues_a_free_replacement(
    clerk: User, ours: Institution, theirs: Institution
) -> None:
    holder = holder_with_balances(institution=ours)
    card = CardFactory(holder=holder)

    holder_move(holder=holder, institution=theirs, moved_by=clerk, reason="Family moved")

    card.refresh_from_db()
    assert card.status == Card.Status.REPLACED
    order = ReplacementOrder.objects.get()
    assert (order.old_card, order.status, order.fee_cents, order.paid_with) == (card, "ordered", 0, "free")


def test_moving_may_keep_the_cards(clerk: User, ours: Institution, theirs: Institution) -> None:
    holder = holder_with_balances(institution=ours)
    card = CardFactory(holder=holder)

    holder_move(holder=holder, institution=theirs, moved_by=clerk, reason="Same card", replace_cards=False)

    card.refresh_from_db()
    assert card.status == Card.Status.ACTIVE
    assert not ReplacementOrder.objects.exists()


def test_a_move_is_audited_with_its_reason(clerk: User, ours: Institution, theirs: Institution) -> None:
    holder = holder_with_balances(institution=ours)

    holder_move(holder=holder, institution=theirs, moved_by=clerk, reason="Family moved")

    [entry] = audit("holder.moved")
    assert (entry.actor, entry.reason, entry.institution) == (clerk, "Family moved", ours)
    assert (entry.details["from"], entry.details["to"]) == (ours.pk, theirs.pk)


def test_a_move_without_a_reason_is_refused(clerk: User, ours: Institution, theirs: Institution) -> None:
    holder = holder_with_balances(institution=ours)

    with pytest.raises(InvalidRequest):
        holder_move(holder=holder, institution=theirs, moved_by=clerk, reason="  ")

    holder.refresh_from_db()
    assert holder.institution == ours


def test_a_move_to_the_same_institution_is_refused(clerk: User, ours: Institution) -> None:
    with pytest.raises(AlreadyThere):
        holder_move(holder=holder_with_balances(institution=ours), institution=ours, moved_by=clerk, reason="x")


def test_a_pupil_who_left_is_not_moved(clerk: User, ours: Institution, theirs: Institution) -> None:
    holder = holder_with_balances(institution=ours)
    holder_leave(holder=holder, left_by=clerk, reason="Finished school")

    with pytest.raises(HolderLeft):
        holder_move(holder=holder, institution=theirs, moved_by=clerk, reason="x")


def move_post(holder_ids: list[int], institution: Institution, reason: str) -> dict[str, object]:
    return {
        "action": "move_holders",
        "_selected_action": holder_ids,
        "apply": "1",
        "institution": institution.pk,
        "group": "1A",
        "replace_cards": "on",
        "reason": reason,
    }


def test_the_move_action_asks_for_the_institution_and_the_reason_first(office: Client, ours: Institution) -> None:
    holder = holder_with_balances(institution=ours)

    response = office.post(
        reverse("admin:cards_cardholder_changelist"), {"action": "move_holders", "_selected_action": [holder.pk]}
    )

    assert response.status_code == 200
    assert b'name="reason"' in response.content
    holder.refresh_from_db()
    assert holder.institution == ours


def test_the_move_action_moves_the_selected_pupils(office: Client, ours: Institution, theirs: Institution) -> None:
    holder = holder_with_balances(institution=ours)

    response = office.post(reverse("admin:cards_cardholder_changelist"), move_post([holder.pk], theirs, "Moved away"))

    assert response.status_code == 302
    holder.refresh_from_db()
    assert (holder.institution, holder.group) == (theirs, "1A")


def test_the_move_action_without_a_reason_moves_nobody(office: Client, ours: Institution, theirs: Institution) -> None:
    holder = holder_with_balances(institution=ours)

    response = office.post(reverse("admin:cards_cardholder_changelist"), move_post([holder.pk], theirs, ""))

    assert response.status_code == 200
    holder.refresh_from_db()
    assert holder.institution == ours
    assert not audit("holder.moved")


def test_the_move_action_cannot_reach_another_institutions_pupil(
    office: Client, ours: Institution, theirs: Institution
) -> None:
    other = holder_with_balances(institution=theirs)

    office.post(reverse("admin:cards_cardholder_changelist"), move_post([other.pk], ours, "Taken over"))

    other.refresh_from_db()
    assert other.institution == theirs


def test_finance_staff_cannot_move_pupils(ours: Institution, theirs: Institution) -> None:
    finance = UserFactory()
    membership_grant(user=finance, institution=ours, role=Role.FINANCE)
    holder = holder_with_balances(institution=ours)

    signed_in(finance).post(reverse("admin:cards_cardholder_changelist"), move_post([holder.pk], theirs, "x"))

    holder.refresh_from_db()
    assert holder.institution == ours


# --- leaving ------------------------------------------------------------------------------------


def test_leaving_blocks_the_cards_in_use_and_keeps_the_balances(clerk: User, ours: Institution) -> None:
    holder = holder_with_balances(main=1000, extra=700, institution=ours)
    active, replaced = CardFactory(holder=holder), CardFactory(holder=holder, status=Card.Status.REPLACED)

    holder_leave(holder=holder, left_by=clerk, reason="Finished school", left_on=dt.date(2026, 6, 30))

    holder.refresh_from_db()
    assert holder.left_at == dt.date(2026, 6, 30)
    active.refresh_from_db()
    replaced.refresh_from_db()
    assert (active.status, replaced.status) == (Card.Status.BLOCKED, Card.Status.REPLACED)
    accounts = holder_accounts_get(holder_id=holder.pk)
    assert (accounts.main.balance_cents, accounts.extra.balance_cents) == (1000, 700)
    assert not LedgerTransaction.objects.exclude(kind=LedgerTransaction.Kind.OPENING).exists()


def test_leaving_twice_keeps_the_first_date_and_one_audit_entry(clerk: User, ours: Institution) -> None:
    holder = holder_with_balances(institution=ours)
    holder_leave(holder=holder, left_by=clerk, reason="Finished", left_on=dt.date(2026, 6, 30))

    holder_leave(holder=holder, left_by=clerk, reason="Again", left_on=dt.date(2026, 8, 1))

    holder.refresh_from_db()
    assert holder.left_at == dt.date(2026, 6, 30)
    [entry] = audit("holder.left")
    assert entry.reason == "Finished"


def test_the_leave_action_marks_the_pupil_with_a_reason(office: Client, ours: Institution) -> None:
    holder = holder_with_balances(institution=ours)

    response = office.post(
        reverse("admin:cards_cardholder_changelist"),
        {
            "action": "mark_left",
            "_selected_action": [holder.pk],
            "apply": "1",
            "left_on": "2026-06-30",
            "reason": "Finished school",
        },
    )

    assert response.status_code == 302
    holder.refresh_from_db()
    assert holder.left_at == dt.date(2026, 6, 30)
    assert audit("holder.left")[0].reason == "Finished school"


def test_a_pupil_registered_by_the_service_has_both_accounts_and_an_audit_entry(clerk: User, ours: Institution) -> None:
    holder = holder_enrol(name=" Ida ", institution=ours, group="2A", registered_by=clerk)

    assert holder.name == "Ida"
    assert LedgerAccount.objects.filter(holder=holder).count() == 2
    assert audit("holder.registered")[0].actor == clerk


def test_the_other_institutions_pupil_is_not_offered_for_moves_either(
    office: Client, ours: Institution, theirs: Institution
) -> None:
    CardholderFactory(institution=theirs, name="Other Pupil")

    content = office.get(reverse("admin:cards_cardholder_changelist"), {"q": "Other"}).content.decode()

    assert "Other Pupil" not in content


def test_editing_a_pupil_is_audited_with_the_fields_changed(office: Client, clerk: User, ours: Institution) -> None:
    holder = holder_with_balances(institution=ours, name="Ida Holm", group="3C")

    response = office.post(
        reverse("admin:cards_cardholder_change", args=[holder.pk]),
        {
            "name": "Ida Holm",
            "group": "4C",
            "price_category": holder.price_category_id,
            "allergy_note": "",
            "cards-TOTAL_FORMS": "0",
            "cards-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302
    [entry] = audit("holder.changed")
    assert (entry.actor, entry.details["fields"]) == (clerk, ["group"])
