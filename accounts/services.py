"""Staff roles: a membership at an institution, and the Django group that carries the role's
admin permissions (DESIGN.md: roles by Django groups plus per-institution memberships)."""

from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Institution, PersonalToken, Role, StaffMembership, User
from accounts.tokens import PREFIX_LENGTH, token_digest, token_generate

# What each role may do in the back office (the admin), as "app_label.codename".
ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    Role.CANTEEN: (
        "canteen.view_product",
        "canteen.view_sale",
        "canteen.view_schoolday",
        "canteen.view_mealorder",
        "canteen.view_classmeal",
    ),
    Role.TEACHER: (),
    Role.OFFICE: (
        "cards.view_pricecategory",
        "cards.view_cardholder",
        "cards.add_cardholder",
        "cards.change_cardholder",
        "cards.view_cardissuance",
        "cards.add_cardissuance",
        "cards.view_card",
        "cards.add_card",
        "cards.change_card",
        "cards.view_replacementorder",
        "cards.change_replacementorder",
        "canteen.view_productcategory",
        "canteen.add_productcategory",
        "canteen.change_productcategory",
        "canteen.view_product",
        "canteen.add_product",
        "canteen.change_product",
        "canteen.view_sale",
        "canteen.view_holdercategoryblock",
        "canteen.view_mealpolicy",
        "canteen.add_mealpolicy",
        "canteen.change_mealpolicy",
        "canteen.view_mealprice",
        "canteen.add_mealprice",
        "canteen.change_mealprice",
        "canteen.delete_mealprice",
        "canteen.view_schoolday",
        "canteen.add_schoolday",
        "canteen.change_schoolday",
        "canteen.delete_schoolday",
        "canteen.view_mealorder",
        "canteen.view_mealsubscription",
        "canteen.add_mealsubscription",
        "canteen.delete_mealsubscription",
        "canteen.view_classmeal",
        "terminals.view_terminal",
        "terminals.add_terminal",
        "terminals.change_terminal",
        "terminals.view_terminaltoken",
        "terminals.add_terminaltoken",
        "terminals.change_terminaltoken",
        "terminals.view_scan",
        "payments.view_ledgeraccount",
        "payments.view_ledgertransaction",
        "payments.view_ledgerentry",
        "payouts.view_refundrequest",
        "payouts.add_refundrequest",
        "payouts.change_refundrequest",
        "accounts.view_auditentry",
        "payments.view_correction",
        "payments.add_correction",
        "payments.approve_correction",
        "payments.move_main_to_extra",
        "webshop.view_shopitem",
        "webshop.add_shopitem",
        "webshop.change_shopitem",
        "webshop.view_shopitemgroup",
        "webshop.add_shopitemgroup",
        "webshop.change_shopitemgroup",
        "webshop.delete_shopitemgroup",
        "webshop.view_shopitemoption",
        "webshop.add_shopitemoption",
        "webshop.change_shopitemoption",
        "webshop.delete_shopitemoption",
        "webshop.view_shoporder",
        "webshop.refund_shoporder",
    ),
    Role.FINANCE: (
        "payouts.view_payoutbatch",
        "payouts.add_payoutbatch",
        "payouts.change_payoutbatch",
        "payouts.view_payout",
        "payouts.change_payout",
        "payouts.view_returnfileimport",
        "payouts.add_returnfileimport",
        "payments.view_correction",
        "payouts.view_refundrequest",
        "accounts.view_auditentry",
        "cards.view_cardholder",
        "cards.view_card",
        "canteen.view_sale",
        "payments.view_ledgeraccount",
        "payments.view_ledgertransaction",
        "payments.view_ledgerentry",
        "webshop.view_shopitem",
        "webshop.view_shoporder",
    ),
    Role.ADMIN: (),
}
# Roles that work in the back office sign in to the admin.
BACK_OFFICE_ROLES = (Role.OFFICE, Role.FINANCE, Role.ADMIN)


def role_group(*, role: str) -> Group:
    """The Django group of a role, with exactly the role's permissions (created on first use)."""
    group, _created = Group.objects.get_or_create(name=f"role:{role}")
    wanted = Q()
    for name in ROLE_PERMISSIONS[role]:
        app_label, codename = name.split(".")
        wanted |= Q(content_type__app_label=app_label, codename=codename)
    permissions = list(Permission.objects.filter(wanted)) if ROLE_PERMISSIONS[role] else []
    group.permissions.set(permissions)
    return group


@transaction.atomic
def membership_grant(*, user: User, institution: Institution, role: str) -> StaffMembership:
    """Give the user a role at an institution, with the role's group (idempotent)."""
    membership, _created = StaffMembership.objects.get_or_create(user=user, institution=institution, role=role)
    user.groups.add(role_group(role=role))
    if role in BACK_OFFICE_ROLES and not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return membership


def personal_token_create(*, user: User, name: str) -> tuple[PersonalToken, str]:
    """A new personal API token for the user; the raw token is returned once and never stored."""
    raw = token_generate()
    token = PersonalToken.objects.create(user=user, name=name, digest=token_digest(raw), prefix=raw[:PREFIX_LENGTH])
    return token, raw


def personal_token_revoke(*, token: PersonalToken) -> PersonalToken:
    """Revoke the token for good (idempotent: the first revocation time is kept)."""
    PersonalToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    token.refresh_from_db()
    return token
