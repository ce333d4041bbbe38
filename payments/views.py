"""Guardian portal pages: the overview of the guardian's cardholders, each one's history (page and
CSV) and monthly statements (PDF).

Every cardholder is looked up from `holder_list_with_balances_for_guardian`, so another family's
holder is a 404 on every page.
"""

import csv
import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_GET

from accounts.models import User
from cards.models import Cardholder
from cardsystem.csv_cells import csv_text_cell
from cardsystem.money import cents_to_str, currency
from payments.models import LedgerEntry
from payments.selectors import (
    HolderHistory,
    holder_entries,
    holder_list_with_balances_for_guardian,
    holder_month_statement,
    holder_overview_list,
)

HISTORY_PAGE_SIZE = 50
CSV_CHUNK_SIZE = 500
STATEMENT_MONTHS = 12


class HistoryFilterForm(forms.Form):
    from_date = forms.DateField(
        label=_lazy("From"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    to_date = forms.DateField(
        label=_lazy("To"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, last = data.get("from_date"), data.get("to_date")
        if first and last and first > last:
            self.add_error("to_date", _("The end date is before the start date."))
        return data


@dataclass(frozen=True)
class Movement:
    """One ledger entry of a cardholder, as the history, the CSV and the statement show it."""

    at: dt.datetime
    kind: str
    place: str
    balance: str
    amount_cents: int
    balance_after_cents: int | None
    products: list[str] = field(default_factory=list)


def _guardian(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _holder(request: HttpRequest, holder_id: int) -> Cardholder:
    holder = holder_list_with_balances_for_guardian(user=_guardian(request)).filter(pk=holder_id).first()
    if holder is None:
        raise Http404
    return holder


def _movements(entries: Iterable[LedgerEntry], holder: Cardholder) -> Iterator[Movement]:
    labels = {account.pk: account.get_kind_display() for account in holder.holder_accounts}  # type: ignore[attr-defined]
    for entry in entries:
        txn = entry.transaction
        sale = getattr(txn, "sale", None)
        place = sale.place if sale is not None and sale.place else (txn.institution.name if txn.institution else "")
        yield Movement(
            at=txn.created_at,
            kind=txn.get_kind_display(),
            place=place,
            balance=labels.get(entry.account_id, ""),
            amount_cents=entry.amount_cents,
            balance_after_cents=entry.balance_after_cents,
            products=[f"{line.quantity} × {line.name}" for line in sale.lines.all()] if sale is not None else [],
        )


def _filtered_entries(holder: Cardholder, form: HistoryFilterForm) -> QuerySet[LedgerEntry]:
    return holder_entries(
        holder=holder, first_day=form.cleaned_data.get("from_date"), last_day=form.cleaned_data.get("to_date")
    ).select_related("transaction__institution")


def _recent_months(holder: Cardholder) -> list[dt.date]:
    month = timezone.localdate(timezone.now(), holder.institution.zone).replace(day=1)
    months = []
    for _step in range(STATEMENT_MONTHS):
        months.append(month)
        month = (month - dt.timedelta(days=1)).replace(day=1)
    return months


@login_required
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    return render(request, "payments/overview.html", {"overviews": holder_overview_list(user=_guardian(request))})


@login_required
@require_GET
def history(request: HttpRequest, holder_id: int) -> HttpResponse:
    holder = _holder(request, holder_id)
    form = HistoryFilterForm(request.GET)
    context: dict[str, Any] = {
        "holder": holder,
        "form": form,
        "months": _recent_months(holder),
        "currency": currency(),
        "page": None,
    }
    if not form.is_valid():
        return render(request, "payments/history.html", context, status=400)
    history = HolderHistory(
        holder=holder, first_day=form.cleaned_data.get("from_date"), last_day=form.cleaned_data.get("to_date")
    )
    page = Paginator(history, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    context.update(page=page, movements=list(_movements(page.object_list, holder)))
    return render(request, "payments/history.html", context)


class _Echo:
    """csv.writer writes each row here and gets the line back, to stream it."""

    def write(self, value: str) -> str:
        return value


def _csv_lines(movements: Iterable[Movement], zone: dt.tzinfo) -> Iterator[str]:
    writer = csv.writer(_Echo())
    # A byte-order mark, so that spreadsheet programs read the file as UTF-8 (names with æ, ø, å).
    yield "\ufeff" + writer.writerow(
        [
            _("Time"),
            _("Kind"),
            _("Place"),
            _("Products"),
            _("Amount (%(currency)s)") % {"currency": currency()},
            _("Balance after"),
            _("Balance"),
        ]
    )
    for movement in movements:
        yield writer.writerow(
            [
                movement.at.astimezone(zone).isoformat(timespec="seconds"),
                csv_text_cell(movement.kind),
                csv_text_cell(movement.place),
                csv_text_cell(", ".join(movement.products)),
                cents_to_str(movement.amount_cents),
                "" if movement.balance_after_cents is None else cents_to_str(movement.balance_after_cents),
                csv_text_cell(movement.balance),
            ]
        )


@login_required
@require_GET
def history_csv(request: HttpRequest, holder_id: int) -> HttpResponse | StreamingHttpResponse:
    holder = _holder(request, holder_id)
    form = HistoryFilterForm(request.GET)
    if not form.is_valid():
        problems = "; ".join(f"{name}: {' '.join(str(e) for e in errors)}" for name, errors in form.errors.items())
        return HttpResponseBadRequest(problems, content_type="text/plain; charset=utf-8")
    # Read in chunks while streaming: a long history is never held in memory at once.
    entries = _filtered_entries(holder, form).iterator(chunk_size=CSV_CHUNK_SIZE)
    response = StreamingHttpResponse(
        _csv_lines(_movements(entries, holder), holder.institution.zone), content_type="text/csv; charset=utf-8"
    )
    name = [f"history-{holder.pk}"]
    for word, day in (("from", form.cleaned_data.get("from_date")), ("to", form.cleaned_data.get("to_date"))):
        if day:
            name.append(f"{word}-{day.isoformat()}")
    response["Content-Disposition"] = f'attachment; filename="{"-".join(name)}.csv"'
    return response


@login_required
@require_GET
def statement(request: HttpRequest, holder_id: int, year: int, month: int) -> HttpResponse:
    holder = _holder(request, holder_id)
    try:
        month_statement = holder_month_statement(holder=holder, year=year, month=month)
    except (ValueError, OverflowError) as error:  # month 13, year 0, past year 9999
        raise Http404 from error
    from weasyprint import HTML  # imported here: loading pango costs ~0.3 s, not needed on other pages

    html = render_to_string(
        "payments/statement_pdf.html",
        {
            "statement": month_statement,
            "holder": holder,
            "movements": list(_movements(month_statement.entries, holder)),
            "currency": currency(),
            "printed_at": timezone.now(),
        },
    )
    response = HttpResponse(bytes(HTML(string=html).write_pdf()), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="statement-{holder.pk}-{year:04d}-{month:02d}.pdf"'
    return response
