"""Back office for terminals: devices, their API tokens, and the scans they reported.

A new token is shown once, on the page the "Issue a new token" action answers with; only its
digest is stored. It is not put in a message either: messages are kept in the session or a cookie
until shown.
"""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from payments.admin import ReadOnlyModelAdmin, ReadOnlyTabularInline
from terminals.models import Scan, Terminal, TerminalToken
from terminals.services import terminal_token_issue, terminal_token_revoke


class TerminalTokenInline(ReadOnlyTabularInline):
    model = TerminalToken
    fields = readonly_fields = ("prefix", "created_at", "revoked_at")
    ordering = ["-created_at"]


@admin.register(Terminal)
class TerminalAdmin(admin.ModelAdmin):
    list_display = ["name", "institution", "kind", "is_active"]
    list_filter = ["institution", "kind", "is_active"]
    list_select_related = ["institution"]
    search_fields = ["name"]
    inlines = [TerminalTokenInline]
    actions = ["issue_token"]

    def has_issue_token_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("terminals.add_terminaltoken")

    @admin.action(description=_("Issue a new token"), permissions=["issue_token"])
    def issue_token(self, request: HttpRequest, queryset: QuerySet[Terminal]) -> TemplateResponse:
        issued = []
        for terminal in queryset.select_related("institution"):
            token = terminal_token_issue(terminal=terminal)
            self.log_change(request, terminal, _("Issued the token %(prefix)s…") % {"prefix": token[:8]})
            issued.append({"terminal": terminal, "token": token})
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": ngettext("New terminal token", "New terminal tokens", len(issued)),
            "opts": self.opts,
            "issued": issued,
        }
        # The admin's views are never cached (never_cache), so the page is not kept by a browser.
        return TemplateResponse(request, "admin/terminals/terminal/token_issued.html", context)


@admin.register(TerminalToken)
class TerminalTokenAdmin(ReadOnlyModelAdmin):
    list_display = ["prefix", "terminal", "created_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "terminal__institution"]
    list_select_related = ["terminal__institution"]
    search_fields = ["=prefix", "terminal__name"]
    fields = readonly_fields = ("prefix", "terminal", "created_at", "revoked_at")
    actions = ["revoke_tokens"]

    def has_revoke_token_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("terminals.change_terminaltoken")

    @admin.action(description=_("Revoke selected tokens"), permissions=["revoke_token"])
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[TerminalToken]) -> None:
        count = 0
        for token in queryset.select_related("terminal"):
            if token.revoked_at is None:
                terminal_token_revoke(token=token)
                self.log_change(request, token.terminal, _("Revoked the token %(prefix)s…") % {"prefix": token.prefix})
                count += 1
        self.message_user(
            request,
            ngettext("%(count)d token was revoked.", "%(count)d tokens were revoked.", count) % {"count": count},
        )


@admin.register(Scan)
class ScanAdmin(ReadOnlyModelAdmin):
    list_display = ["created_at", "terminal", "card"]
    list_filter = ["terminal__institution"]
    list_select_related = ["terminal__institution", "card"]
    search_fields = ["=card__number", "=card__uid"]
    fields = readonly_fields = ("created_at", "terminal", "card")
    show_full_result_count = False
