"""The office card reader: the back office's "issue a card" page reads a chip's UID from it.

A blank card is not known yet, so its read cannot be a `Scan` (which points at a card): the
office terminal posts each read here, and the newest read of each office terminal is kept for a
short while in the cache (shared by all workers: Redis in production). The admin page polls
`office_read_latest_view` and fills the UID in when a card is held to a reader of one of the
user's institutions. A read of a card already known is recorded as a scan too, like at any
terminal, and answered with the card's number and status.
"""

import datetime as dt
import secrets
from typing import Any, cast

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import User
from cards.models import Card
from cards.scoping import OFFICE_ROLES, staff_institutions
from cardsystem.api import CardOutput, StrictSerializer, error_responses
from cardsystem.errors import DomainError
from terminals.apis import InvalidUidError, TerminalApiView
from terminals.models import Terminal
from terminals.serializers import UidField
from terminals.services import scan_insert

# How long a read waits for the office to use it: long enough to walk from the reader to the
# screen, short enough that yesterday's read is never filled in.
READ_TTL_SECONDS = 120


class NotAnOfficeTerminal(DomainError):
    code = "not_an_office_terminal"
    status = 403
    default_message = _("Only an office reader reports reads here.")


def _key(terminal_id: int) -> str:
    return f"terminals:office-read:{terminal_id}"


def office_read_record(*, terminal: Terminal, uid: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """Keep `uid` (normalised) as the terminal's newest read; returns the read as stored."""
    if terminal.kind != Terminal.Kind.OFFICE:
        raise NotAnOfficeTerminal()
    card = Card.objects.filter(uid=uid).first()
    if card is not None:
        scan_insert(terminal=terminal, card=card)
    read = {
        "id": secrets.token_hex(8),
        "uid": uid,
        "at": (now or timezone.now()).isoformat(),
        "terminal": terminal.name,
        "institution": terminal.institution_id,
        "card": {"number": card.number, "status": card.status} if card is not None else None,
    }
    cache.set(_key(terminal.pk), read, timeout=READ_TTL_SECONDS)
    return read


def office_read_latest(*, user: User, since: dt.datetime | None = None) -> dict[str, Any] | None:
    """The newest read, after `since`, of an active office reader at one of the user's institutions."""
    terminals = Terminal.objects.filter(
        kind=Terminal.Kind.OFFICE, is_active=True, institution__in=staff_institutions(user=user, roles=OFFICE_ROLES)
    ).values_list("pk", flat=True)
    reads = [read for read in cache.get_many([_key(pk) for pk in terminals]).values() if read]
    if since is not None:
        reads = [read for read in reads if (parse_datetime(read["at"]) or since) > since]
    return max(reads, key=lambda read: read["at"], default=None)


class OfficeReadInput(StrictSerializer):
    uid = UidField()
    # The agent sends these with every read; an office read is not queued, so they are not used.
    sequence = serializers.IntegerField(required=False, min_value=0)
    read_at = serializers.DateTimeField(required=False)


class OfficeReadOutput(serializers.Serializer[Any]):
    uid = serializers.CharField()
    card = CardOutput(allow_null=True, help_text="The card with this chip, or null for a blank card.")


class OfficeReadApi(TerminalApiView):
    @extend_schema(
        operation_id="terminal_office_read",
        request=OfficeReadInput,
        responses={200: OfficeReadOutput, **error_responses(400, 401, 403)},
        summary="Report a chip held to an office reader; the back office's card form picks it up.",
    )
    def post(self, request: Request) -> Response:
        serializer = OfficeReadInput(data=request.data)
        if not serializer.is_valid():
            if set(serializer.errors) == {"uid"}:
                raise InvalidUidError(fields={"uid": [str(e) for e in serializer.errors["uid"]]})
            serializer.is_valid(raise_exception=True)
        read = office_read_record(terminal=self.terminal(request), uid=serializer.validated_data["uid"])
        return Response({"uid": read["uid"], "card": read["card"]})


@never_cache
@require_GET
@login_required
def office_read_latest_view(request: HttpRequest) -> JsonResponse:
    """`{"read": {"uid", "at", "terminal", "card"} or null}` for the signed-in office user.

    `?since=` (ISO 8601) leaves out reads made before the page was opened. Anyone without an
    office or administrator role gets 403.
    """
    user = cast(User, request.user)
    if not user.is_staff or not staff_institutions(user=user, roles=OFFICE_ROLES).exists():
        return JsonResponse({"error": {"code": "forbidden", "message": str(_("Not allowed."))}}, status=403)
    since = parse_datetime(request.GET.get("since", "").replace(" ", "+"))
    read = office_read_latest(user=user, since=since)
    if read is not None:
        read = {key: read[key] for key in ("id", "uid", "at", "terminal", "card")}
    return JsonResponse({"read": read})
