"""A cardholder's history in the guardian portal: the page, its CSV export and monthly PDF statements."""

import csv
import datetime as dt
import io
from typing import Any

import pytest
from django.test import Client
from pypdf import PdfReader

from cards.models import Cardholder
from cardsystem.csv_cells import csv_text_cell
from payments.ledger import holder_accounts_get, opening_balance_post
from payments.selectors import holder_month_statement
from tests.factories import CardFactory, InstitutionFactory, ProductFactory, holder_with_balances
from tests.payments.test_portal_overview import Guardian, ledger_time, sell

pytestmark = pytest.mark.django_db

MARCH_SALE = dt.datetime(2025, 3, 10, 23, 30, tzinfo=dt.UTC)


@pytest.fixture
def guardian() -> Guardian:
    return Guardian()


def history(holder: Cardholder) -> str:
    return f"/portal/holders/{holder.pk}/history/"


def history_csv(holder: Cardholder) -> str:
    return f"/portal/holders/{holder.pk}/history.csv"


def statement(holder: Cardholder, month: str) -> str:
    return f"/portal/holders/{holder.pk}/statement/{month}.pdf"


def post(holder: Cardholder, kind: str, cents: int, at: dt.datetime) -> None:
    accounts = holder_accounts_get(holder_id=holder.pk)
    with ledger_time(at):
        opening_balance_post(account=getattr(accounts, kind), amount_cents=cents, reason="test")


@pytest.fixture
def march(guardian: Guardian) -> Cardholder:
    """A cardholder in Tokyo (never the server's zone) with movements in February, March and April 2025:
    main 100.00 throughout; extra 50.00, then a rye bread for 12.50 in March (37.50), then +10.00 in April."""
    school = InstitutionFactory(name="Østre Skole", time_zone="Asia/Tokyo")
    holder = guardian.ward(name="Ida Ørsted", institution=school, group="4C")
    post(holder, "main", 10000, dt.datetime(2025, 2, 15, 9, tzinfo=dt.UTC))
    post(holder, "extra", 5000, dt.datetime(2025, 2, 20, 9, tzinfo=dt.UTC))
    rye_bread = ProductFactory(institution=school, name="Rugbrød", price_cents=1250)
    with ledger_time(MARCH_SALE):
        sell(CardFactory(holder=holder), rye_bread, place="Kantine 1")
    post(holder, "extra", 1000, dt.datetime(2025, 4, 2, 9, tzinfo=dt.UTC))
    return holder


def csv_rows(response: Any) -> list[list[str]]:
    content = b"".join(response.streaming_content).decode("utf-8")
    assert content.startswith("\ufeff")
    return list(csv.reader(io.StringIO(content.removeprefix("\ufeff"))))


def pdf_text(response: Any) -> str:
    assert response["Content-Type"] == "application/pdf"
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)


# --- access ---------------------------------------------------------------------------------


@pytest.mark.parametrize("page", [history, history_csv, lambda holder: statement(holder, "2025-03")])
def test_anonymous_visitors_are_asked_to_sign_in(page: Any) -> None:
    holder = holder_with_balances()
    assert Client().get(page(holder))["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("page", [history, history_csv, lambda holder: statement(holder, "2025-03")])
def test_another_familys_holder_is_not_found(guardian: Guardian, page: Any) -> None:
    guardian.ward()
    other = holder_with_balances(main=100)
    assert guardian.client.get(page(other)).status_code == 404


# --- the history page -----------------------------------------------------------------------


def test_history_shows_a_sale_with_time_in_the_institutions_zone_kind_place_products_and_balances(
    guardian: Guardian, march: Cardholder
) -> None:
    page = guardian.page(history(march))

    sale = page.index("Rugbrød")
    row = page[page.rindex("<tr>", 0, sale) : page.index("</tr>", sale)]
    assert "11.03.2025 08:30" in row  # 23:30 UTC is the next morning in Tokyo
    assert "Kantine 1" in row
    assert "1 × Rugbrød" in row
    assert "-12,50" in row
    assert "37,50" in row
    assert "Purchase" in row or "Køb" in row
    assert "Extra balance" in row or "Ekstra" in row


def test_history_lists_every_movement_of_main_and_extra_newest_first(guardian: Guardian, march: Cardholder) -> None:
    page = guardian.page(history(march))

    amounts = [page.index(text) for text in ("10,00", "-12,50", "50,00", "100,00")]
    assert amounts == sorted(amounts)


def test_history_keeps_only_the_days_asked_for(guardian: Guardian, march: Cardholder) -> None:
    # 10 March 23:30 UTC is 11 March in Tokyo: the institution's day, not the server's.
    page = guardian.page(history(march), from_date="2025-03-11", to_date="2025-03-11")

    assert "Rugbrød" in page
    assert "100,00" not in page  # the February top-up
    assert "10,00" not in page  # the April top-up
    assert guardian.page(history(march), from_date="2025-03-10", to_date="2025-03-10").count("<tbody>") == 0


def test_the_filter_has_labelled_date_inputs(guardian: Guardian, march: Cardholder) -> None:
    page = guardian.page(history(march))

    assert '<label for="id_from_date"' in page
    assert '<label for="id_to_date"' in page
    assert 'type="date"' in page
    assert 'method="get"' in page


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from_date": "2025-13-01"}, "from_date"),
        ({"to_date": "yesterday"}, "to_date"),
        ({"from_date": "2025-05-02", "to_date": "2025-05-01"}, "to_date"),
    ],
)
def test_a_bad_date_shows_a_message_beside_its_field(
    guardian: Guardian, march: Cardholder, params: dict[str, str], field: str
) -> None:
    response = guardian.client.get(history(march), params)

    assert response.status_code == 400
    assert set(response.context["form"].errors) == {field}
    assert f'id="id_{field}_errors"' in response.content.decode()
    assert "Rugbrød" not in response.content.decode()


def test_history_is_paged_fifty_at_a_time_and_the_links_keep_the_filter(guardian: Guardian) -> None:
    holder = guardian.ward()
    for cents in range(1, 56):
        post(holder, "main", cents, dt.datetime(2025, 6, 1, 8, 0, cents, tzinfo=dt.UTC))
    post(holder, "main", 9999, dt.datetime(2025, 7, 1, 8, tzinfo=dt.UTC))  # filtered out

    first = guardian.client.get(history(holder), {"from_date": "2025-06-01", "to_date": "2025-06-30"})
    second = guardian.client.get(history(holder), {"from_date": "2025-06-01", "to_date": "2025-06-30", "page": 2})

    assert [m.amount_cents for m in first.context["movements"]] == list(range(55, 5, -1))
    assert [m.amount_cents for m in second.context["movements"]] == [5, 4, 3, 2, 1]
    assert 'href="?from_date=2025-06-01&amp;to_date=2025-06-30&amp;page=2"' in first.content.decode()
    assert 'href="?from_date=2025-06-01&amp;to_date=2025-06-30&amp;page=1"' in second.content.decode()


def _queries_for_history(guardian: Guardian, django_assert_max_num_queries: Any, movements: int) -> int:
    holder = guardian.ward()
    account = holder_accounts_get(holder_id=holder.pk).main
    for _ in range(movements):
        opening_balance_post(account=account, amount_cents=100, reason="test")
    with django_assert_max_num_queries(100) as captured:
        assert guardian.client.get(history(holder), {"page": 2}).status_code == 200
    return len(captured.captured_queries)


def test_history_pages_in_the_database_whatever_the_length(django_assert_max_num_queries: Any) -> None:
    short = _queries_for_history(Guardian(), django_assert_max_num_queries, 60)
    long = _queries_for_history(Guardian(), django_assert_max_num_queries, 240)
    assert short == long


def test_history_offers_statements_for_the_last_twelve_months(guardian: Guardian) -> None:
    holder = guardian.ward()

    page = guardian.page(history(holder))

    links = [part.split('"')[0] for part in page.split(f'href="/portal/holders/{holder.pk}/statement/')[1:]]
    assert len(links) == 12
    assert all(link.endswith(".pdf") for link in links)


# --- CSV ------------------------------------------------------------------------------------


def test_the_csv_has_a_header_and_every_movement_with_plain_amounts_and_iso_times(march: Cardholder) -> None:
    guardian = Guardian(HTTP_ACCEPT_LANGUAGE="en")
    guardian.client.force_login(march.guardians.get())

    response = guardian.client.get(history_csv(march))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == f'attachment; filename="history-{march.pk}.csv"'
    header, *rows = csv_rows(response)
    assert header == ["Time", "Kind", "Place", "Products", "Amount (DKK)", "Balance after", "Balance"]
    assert rows == [
        ["2025-04-02T18:00:00+09:00", "Opening balance", "", "", "10.00", "47.50", "Extra balance"],
        ["2025-03-11T08:30:00+09:00", "Purchase", "Kantine 1", "1 × Rugbrød", "-12.50", "37.50", "Extra balance"],
        ["2025-02-20T18:00:00+09:00", "Opening balance", "", "", "50.00", "50.00", "Extra balance"],
        ["2025-02-15T18:00:00+09:00", "Opening balance", "", "", "100.00", "100.00", "Main balance"],
    ]


def test_the_csv_keeps_the_filter_and_names_it_in_the_file_name(guardian: Guardian, march: Cardholder) -> None:
    response = guardian.client.get(history_csv(march), {"from_date": "2025-03-01", "to_date": "2025-03-31"})

    _header, *rows = csv_rows(response)
    assert [row[4] for row in rows] == ["-12.50"]
    assert response["Content-Disposition"] == (
        f'attachment; filename="history-{march.pk}-from-2025-03-01-to-2025-03-31.csv"'
    )


def test_the_csv_refuses_a_bad_date(guardian: Guardian, march: Cardholder) -> None:
    response = guardian.client.get(history_csv(march), {"from_date": "2025-02-30"})

    assert response.status_code == 400
    assert "from_date" in response.content.decode()


def test_the_csv_defuses_text_cells_a_spreadsheet_would_run_as_formulas(guardian: Guardian) -> None:
    school = InstitutionFactory()
    holder = guardian.ward(extra=5000, institution=school)
    card = CardFactory(holder=holder)
    sell(card, ProductFactory(institution=school, name='=HYPERLINK("http://x")', price_cents=100), place="@SUM(A1)")
    sell(card, ProductFactory(institution=school, name="+1", price_cents=100), place="-2")

    _header, *rows = csv_rows(guardian.client.get(history_csv(holder)))

    cells = {(row[2], row[3]) for row in rows[:2]}
    # The products cell starts with the quantity, so only the places need the leading quote here.
    assert cells == {("'@SUM(A1)", '1 × =HYPERLINK("http://x")'), ("'-2", "1 × +1")}
    assert all(row[4].startswith("-") for row in rows[:2])  # amounts stay numbers


def test_text_cells_starting_with_a_formula_sign_get_a_leading_quote() -> None:
    assert [csv_text_cell(text) for text in ("=1+1", "+1", "-1", "@A1", "\t=1", "Rugbrød")] == [
        "'=1+1",
        "'+1",
        "'-1",
        "'@A1",
        "'\t=1",
        "Rugbrød",
    ]


# --- monthly statement ----------------------------------------------------------------------


def test_the_statement_shows_the_month_balances_and_movements(guardian: Guardian, march: Cardholder) -> None:
    response = guardian.client.get(statement(march, "2025-03"))

    assert response.status_code == 200
    assert response["Content-Disposition"] == f'inline; filename="statement-{march.pk}-2025-03.pdf"'
    text = pdf_text(response)
    assert "marts 2025" in text  # Danish by default
    assert "Ida Ørsted" in text
    assert "Østre Skole" in text
    assert "Rugbrød" in text
    assert "100,00" in text  # main, opening and closing
    assert "50,00" in text  # extra opening
    assert "37,50" in text  # extra closing
    assert "47,50" not in text  # April's balance is not March's


def test_the_statement_opens_with_the_balance_before_the_month_and_closes_with_the_one_after(
    march: Cardholder,
) -> None:
    march_statement = holder_month_statement(holder=march, year=2025, month=3)

    summary = {b.kind: (b.opening_cents, b.in_cents, b.out_cents, b.closing_cents) for b in march_statement.balances}
    assert summary == {"main": (10000, 0, 0, 10000), "extra": (5000, 0, -1250, 3750)}
    assert [entry.amount_cents for entry in march_statement.entries] == [-1250]
    assert (march_statement.first_day, march_statement.last_day) == (dt.date(2025, 3, 1), dt.date(2025, 3, 31))


def test_a_month_before_any_movement_opens_and_closes_at_zero(march: Cardholder) -> None:
    january = holder_month_statement(holder=march, year=2025, month=1)

    assert {(b.opening_cents, b.closing_cents) for b in january.balances} == {(0, 0)}
    assert list(january.entries) == []


def test_a_statement_for_a_month_that_does_not_exist_is_not_found(guardian: Guardian, march: Cardholder) -> None:
    assert guardian.client.get(statement(march, "2025-13")).status_code == 404
    assert guardian.client.get(statement(march, "0-1")).status_code == 404
