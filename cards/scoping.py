"""Which institutions a member of staff works on in the back office, and an admin scoped to them.

Staff see and do only what their role allows [NK], and only at their own institutions: another
institution's rows are not listed, cannot be opened (the admin answers as for a deleted row) and
are not offered in a choice. Superusers see everything.
"""

from typing import Any, cast

from django.contrib import admin
from django.db.models import ForeignKey, Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from accounts.models import Institution, Role, StaffMembership, User
from accounts.services import BACK_OFFICE_ROLES
from cards.models import Cardholder

# Roles that read cardholders and cards of their institutions (their permissions decide the rest).
# Roles that register pupils and hand out cards.
OFFICE_ROLES = (Role.OFFICE, Role.ADMIN)


def staff_institutions(*, user: User, roles: tuple[str, ...] = BACK_OFFICE_ROLES) -> QuerySet[Institution]:
    """The institutions where the user holds one of `roles` (every institution for a superuser)."""
    if user.is_superuser:
        return Institution.objects.all()
    return Institution.objects.filter(pk__in=_member_of(user=user, roles=roles))


def staff_may_act(*, user: User, institution_id: int, roles: tuple[str, ...] = OFFICE_ROLES) -> bool:
    return user.is_superuser or _member_of(user=user, roles=roles).filter(institution_id=institution_id).exists()


def _member_of(*, user: User, roles: tuple[str, ...]) -> QuerySet[Any]:
    return StaffMembership.objects.filter(user=user, role__in=roles).values("institution_id")


def request_institutions(request: HttpRequest, roles: tuple[str, ...] = BACK_OFFICE_ROLES) -> QuerySet[Institution]:
    return staff_institutions(user=cast(User, request.user), roles=roles)


def staff_users(*, institutions: QuerySet[Institution]) -> QuerySet[User]:
    """Members of staff at these institutions (for "checked by" and staff cards)."""
    return User.objects.filter(memberships__institution__in=institutions, is_active=True).distinct().order_by("email")


class InstitutionFilter(admin.SimpleListFilter):
    """Filter by institution, offering only the user's own."""

    title = _("institution")
    parameter_name = "institution"

    def __init__(self, request: HttpRequest, params: dict[str, Any], model: Any, model_admin: Any) -> None:
        self.institution_field: str = model_admin.institution_field
        self.scope_roles: tuple[str, ...] = model_admin.scope_roles
        super().__init__(request, params, model, model_admin)

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        institutions = request_institutions(request, self.scope_roles)
        return [(str(pk), name) for pk, name in institutions.values_list("pk", "name")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(**{f"{self.institution_field}_id": int(value)})
        return queryset


class InstitutionScoped:
    """ModelAdmin mixin: rows, and the institutions and cardholders offered, are the user's.

    `institution_field` is the path from the model to its institution; `scope_q` may widen or
    replace the filter for models reached by more than one path (a staff card has no holder).
    """

    institution_field = "institution"
    # The roles whose institutions the admin shows (the meal back office adds canteen staff).
    scope_roles: tuple[str, ...] = BACK_OFFICE_ROLES

    def scope_q(self, institutions: QuerySet[Institution]) -> Q:
        return Q(**{f"{self.institution_field}__in": institutions})

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset: QuerySet[Any] = super().get_queryset(request)  # type: ignore[misc]
        if request.user.is_superuser:
            return queryset
        return queryset.filter(self.scope_q(request_institutions(request, self.scope_roles)))

    def formfield_for_foreignkey(self, db_field: ForeignKey, request: HttpRequest, **kwargs: Any) -> Any:
        institutions = request_institutions(request, self.scope_roles)
        if db_field.related_model is Institution:
            kwargs["queryset"] = institutions
        elif db_field.related_model is Cardholder:
            kwargs["queryset"] = Cardholder.objects.filter(institution__in=institutions)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]
