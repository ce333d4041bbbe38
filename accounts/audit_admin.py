"""The audit trail in the back office: read by whoever may, changed by nobody.

Entries are never added, changed or deleted here (PostgreSQL refuses UPDATE and DELETE on the
table as well). Back-office staff see the entries of the institutions where they hold a role;
superusers see all, including entries that belong to no institution.
"""

from typing import Any, cast

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from accounts.models import AuditEntry, Institution, User
from accounts.services import BACK_OFFICE_ROLES


def audit_institutions(request: HttpRequest) -> QuerySet[Institution]:
    """The institutions whose entries the signed-in member of staff reads."""
    user = request.user
    if user.is_superuser:
        return Institution.objects.all()
    return Institution.objects.filter(
        memberships__user=cast(User, user), memberships__role__in=BACK_OFFICE_ROLES
    ).distinct()


class AuditInstitutionFilter(admin.SimpleListFilter):
    """Filter by institution, offering only the user's own."""

    title = _("institution")
    parameter_name = "institution"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(pk), name) for pk, name in audit_institutions(request).values_list("pk", "name")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditEntry]) -> QuerySet[AuditEntry]:
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(institution_id=int(value))
        return queryset


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["at", "action", "actor", "institution", "target", "reason"]
    list_filter = ["action", ("at", admin.DateFieldListFilter), AuditInstitutionFilter]
    list_select_related = ["actor", "institution"]
    # "cards.cardholder 12" finds the entries about cardholder 12 (each word must match).
    search_fields = ["target_type", "=target_id", "reason"]
    fields = readonly_fields = ("at", "actor", "institution", "action", "target", "reason", "details")
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[AuditEntry]:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(institution__in=audit_institutions(request))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False

    @admin.display(description=_("object"), ordering="target_type")
    def target(self, obj: AuditEntry) -> SafeString | str:
        if not obj.target_type:
            return ""
        label = f"{obj.target_type} #{obj.target_id}"
        app_label, _dot, model = obj.target_type.partition(".")
        try:
            url = reverse(f"admin:{app_label}_{model}_change", args=[obj.target_id])
        except NoReverseMatch:  # a model without an admin page
            return label
        return format_html('<a href="{}">{}</a>', url, label)
