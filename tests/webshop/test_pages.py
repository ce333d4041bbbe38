"""The guardian's webshop pages and the back office's item list, paid list and refund page."""

import csv
import io
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import Role, User
from accounts.services import membership_grant
from payments.ledger import holder_accounts_get
from tests.factories import InstitutionFactory, UserFactory
from tests.webshop.factories import family, item_for_groups
from webshop.models import ShopItem, ShopOrder
from webshop.orders import order_create

pytestmark = pytest.mark.django_db


def signed_in(user: User) -> Client:
    client = Client(headers={"accept-language": "en"})
    client.force_login(user)
    return client


def office_at(institution: Any, role: str = Role.OFFICE) -> User:
    user = UserFactory()
    membership_grant(user=user, institution=institution, role=role)
    return user


def test_the_shop_lists_the_items_for_each_cardholders_group_only() -> None:
    trip = item_for_groups("5B", name="Zoo trip")
    camp = item_for_groups("6A", name="Camp", institution=trip.institution)
    guardian, _holder = family(item=trip)
    page = signed_in(guardian).get(reverse("webshop:shop"))
    assert page.status_code == 200
    assert "Zoo trip" in page.content.decode() and camp.name not in page.content.decode()


def test_an_item_for_another_group_is_not_found() -> None:
    trip = item_for_groups("5B")
    guardian, _holder = family(item=trip, group="2A")
    assert signed_in(guardian).get(reverse("webshop:item", args=[trip.pk])).status_code == 404


def test_another_familys_receipt_is_not_found() -> None:
    trip = item_for_groups("5B", balance_allowed=True)
    guardian, holder = family(item=trip, extra=20000)
    order = order_create(guardian=guardian, item_id=trip.pk, holder_id=holder.pk, paid_with="balance")
    assert signed_in(UserFactory()).get(reverse("webshop:order", args=[order.pk])).status_code == 404
    assert signed_in(UserFactory()).get(reverse("webshop:order_pdf", args=[order.pk])).status_code == 404


def test_buying_with_the_balance_shows_the_receipt() -> None:
    trip = item_for_groups("5B", balance_allowed=True, name="Zoo trip", options=("S", "M"), choice_label="T-shirt size")
    guardian, holder = family(item=trip, extra=20000)
    client = signed_in(guardian)
    option = trip.options.get(label="M")
    answer = client.post(
        reverse("webshop:item", args=[trip.pk]), {"holder": holder.pk, "option": option.pk, "paid_with": "balance"}
    )
    order = ShopOrder.objects.get()
    assert answer.status_code == 302 and answer["Location"] == reverse("webshop:order", args=[order.pk])
    receipt = client.get(answer["Location"]).content.decode()
    assert "Zoo trip" in receipt and "T-shirt size" in receipt and order.receipt_number in receipt


def test_buying_with_a_payment_card_goes_to_the_providers_page_and_back_to_the_receipt() -> None:
    trip = item_for_groups("5B")
    guardian, holder = family(item=trip)
    client = signed_in(guardian)
    answer = client.post(reverse("webshop:item", args=[trip.pk]), {"holder": holder.pk, "paid_with": "provider"})
    order = ShopOrder.objects.get()
    assert order.payment is not None
    assert answer["Location"].endswith(reverse("test_provider:page", args=[order.payment.reference]))
    back = client.post(answer["Location"], {"outcome": "succeeded"})
    assert back["Location"] == reverse("webshop:payment_return", args=[order.payment.reference])
    assert client.get(back["Location"])["Location"] == reverse("webshop:order", args=[order.pk])
    order.refresh_from_db()
    assert order.status == ShopOrder.Status.PAID


def test_a_missing_choice_is_shown_beside_its_field_and_nothing_is_bought() -> None:
    trip = item_for_groups("5B", options=("S", "M"), choice_label="T-shirt size")
    guardian, holder = family(item=trip)
    answer = signed_in(guardian).post(
        reverse("webshop:item", args=[trip.pk]), {"holder": holder.pk, "paid_with": "provider"}
    )
    assert answer.status_code == 400
    assert 'id="id_option_errors"' in answer.content.decode()
    assert not ShopOrder.objects.exists()


def test_a_sold_out_item_says_so_and_offers_no_form() -> None:
    trip = item_for_groups("5B", capacity=1, balance_allowed=True)
    first_guardian, first = family(item=trip, extra=20000)
    order_create(guardian=first_guardian, item_id=trip.pk, holder_id=first.pk, paid_with="balance")
    guardian, _holder = family(item=trip)
    page = signed_in(guardian).get(reverse("webshop:item", args=[trip.pk])).content.decode()
    assert "There are no places left." in page and '<form method="post" class="stacked"' not in page


def test_the_receipt_pdf_is_a_pdf() -> None:
    trip = item_for_groups("5B", balance_allowed=True)
    guardian, holder = family(item=trip, extra=20000)
    order = order_create(guardian=guardian, item_id=trip.pk, holder_id=holder.pk, paid_with="balance")
    answer = signed_in(guardian).get(reverse("webshop:order_pdf", args=[order.pk]))
    assert answer["Content-Type"] == "application/pdf" and answer.content.startswith(b"%PDF")


def _item_form(institution: Any, **overrides: Any) -> dict[str, Any]:
    data = {
        "institution": institution.pk,
        "name": "Summer party",
        "description": "Food and games",
        "price_cents": "75.00",
        "deadline_0": "2099-06-01",
        "deadline_1": "12:00",
        "capacity": "",
        "choice_label": "",
        "balance_allowed": "on",
        "active": "on",
        "groups-TOTAL_FORMS": "1",
        "groups-INITIAL_FORMS": "0",
        "groups-0-group": "5B",
        "options-TOTAL_FORMS": "0",
        "options-INITIAL_FORMS": "0",
    }
    return data | overrides


def test_office_creates_an_item_and_the_guardians_of_its_groups_are_told_once(
    django_capture_on_commit_callbacks: Any,
) -> None:
    institution = InstitutionFactory()
    probe = ShopItem(institution=institution)
    in_group, _ = family(item=probe, group="5B")
    other_group, _ = family(item=probe, group="2A")
    client = signed_in(office_at(institution))
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(reverse("admin:webshop_shopitem_add"), _item_form(institution))
    assert answer.status_code == 302, answer.content.decode()[:2000]
    item = ShopItem.objects.get()
    assert item.price_cents == 7500 and list(item.groups.values_list("group", flat=True)) == ["5B"]
    assert [message.to for message in mail.outbox] == [[in_group.email]]
    assert other_group.email not in str([m.to for m in mail.outbox])
    with django_capture_on_commit_callbacks(execute=True):
        changed = client.post(
            reverse("admin:webshop_shopitem_change", args=[item.pk]),
            _item_form(
                institution,
                name="Party",
                **{"groups-INITIAL_FORMS": "1", "groups-0-id": item.groups.get().pk, "groups-0-item": item.pk},
            ),
        )
    assert changed.status_code == 302
    assert len(mail.outbox) == 1


def test_office_cannot_create_an_item_for_another_institution() -> None:
    ours, theirs = InstitutionFactory(), InstitutionFactory()
    answer = signed_in(office_at(ours)).post(reverse("admin:webshop_shopitem_add"), _item_form(theirs))
    assert answer.status_code == 200 and "institution" in answer.context["adminform"].form.errors
    assert not ShopItem.objects.exists()


def test_a_price_with_three_decimals_is_refused_beside_the_field() -> None:
    institution = InstitutionFactory()
    answer = signed_in(office_at(institution)).post(
        reverse("admin:webshop_shopitem_add"), _item_form(institution, price_cents="75.001")
    )
    assert "price_cents" in answer.context["adminform"].form.errors
    assert not ShopItem.objects.exists()


def test_the_paid_list_shows_who_has_paid_and_who_has_not_in_a_group() -> None:
    trip = item_for_groups("5B", balance_allowed=True)
    paid_guardian, paid = family(item=trip, extra=20000)
    _guardian, unpaid = family(item=trip)
    _guardian, other_group = family(item=trip, group="2A")
    order_create(guardian=paid_guardian, item_id=trip.pk, holder_id=paid.pk, paid_with="balance")
    page = signed_in(office_at(trip.institution)).get(reverse("admin:webshop_shopitem_paid", args=[trip.pk]))
    html = page.content.decode()
    assert f'data-holder="{paid.pk}" data-paid="yes"' in html
    assert f'data-holder="{unpaid.pk}" data-paid="no"' in html
    assert f'data-holder="{other_group.pk}"' not in html


def test_the_paid_list_exports_csv_and_pdf() -> None:
    trip = item_for_groups("5B", balance_allowed=True)
    paid_guardian, paid = family(item=trip, extra=20000)
    _guardian, unpaid = family(item=trip)
    order = order_create(guardian=paid_guardian, item_id=trip.pk, holder_id=paid.pk, paid_with="balance")
    client = signed_in(office_at(trip.institution))
    url = reverse("admin:webshop_shopitem_paid", args=[trip.pk])
    rows = list(csv.reader(io.StringIO(client.get(url, {"format": "csv"}).content.decode())))
    by_name = {row[0]: row for row in rows[1:]}
    assert by_name[paid.name][2] == "Paid" and by_name[paid.name][7] == order.receipt_number
    assert by_name[unpaid.name][2] == "Not paid"
    pdf = client.get(url, {"format": "pdf"})
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")


def test_another_institutions_paid_list_is_not_found() -> None:
    trip = item_for_groups("5B")
    answer = signed_in(office_at(InstitutionFactory())).get(reverse("admin:webshop_shopitem_paid", args=[trip.pk]))
    assert answer.status_code == 404


def test_office_refunds_an_order_to_the_balance_from_its_page() -> None:
    trip = item_for_groups("5B", balance_allowed=True)
    guardian, holder = family(item=trip, extra=20000)
    order = order_create(guardian=guardian, item_id=trip.pk, holder_id=holder.pk, paid_with="balance")
    client = signed_in(office_at(trip.institution))
    url = reverse("admin:webshop_shoporder_refund", args=[order.pk])
    answer = client.post(url, {"refund_to": "balance", "reason": "Ill on the day"})
    assert answer.status_code == 302
    order.refresh_from_db()
    assert order.status == ShopOrder.Status.REFUNDED
    assert holder_accounts_get(holder_id=holder.pk).extra.balance_cents == 20000


def test_a_refund_without_a_reason_is_refused_beside_the_field() -> None:
    trip = item_for_groups("5B", balance_allowed=True)
    guardian, holder = family(item=trip, extra=20000)
    order = order_create(guardian=guardian, item_id=trip.pk, holder_id=holder.pk, paid_with="balance")
    answer = signed_in(office_at(trip.institution)).post(
        reverse("admin:webshop_shoporder_refund", args=[order.pk]), {"refund_to": "balance", "reason": ""}
    )
    assert answer.status_code == 400 and "reason" in answer.context["form"].errors
    order.refresh_from_db()
    assert order.status == ShopOrder.Status.PAID


def test_finance_reads_orders_but_cannot_refund() -> None:
    trip = item_for_groups("5B", balance_allowed=True)
    guardian, holder = family(item=trip, extra=20000)
    order = order_create(guardian=guardian, item_id=trip.pk, holder_id=holder.pk, paid_with="balance")
    client = signed_in(office_at(trip.institution, Role.FINANCE))
    assert client.get(reverse("admin:webshop_shoporder_change", args=[order.pk])).status_code == 200
    assert client.post(reverse("admin:webshop_shoporder_refund", args=[order.pk]), {}).status_code == 403


def test_another_institutions_order_cannot_be_refunded() -> None:
    trip = item_for_groups("5B", balance_allowed=True)
    guardian, holder = family(item=trip, extra=20000)
    order = order_create(guardian=guardian, item_id=trip.pk, holder_id=holder.pk, paid_with="balance")
    client = signed_in(office_at(InstitutionFactory()))
    answer = client.post(
        reverse("admin:webshop_shoporder_refund", args=[order.pk]), {"refund_to": "balance", "reason": "x"}
    )
    assert answer.status_code == 404
    order.refresh_from_db()
    assert order.status == ShopOrder.Status.PAID


def test_the_paid_list_csv_does_not_let_a_spreadsheet_run_a_name() -> None:
    trip = item_for_groups("5B")
    _guardian, holder = family(item=trip)
    holder.name = "=HYPERLINK(1)"
    holder.save()
    client = signed_in(office_at(trip.institution))
    answer = client.get(reverse("admin:webshop_shopitem_paid", args=[trip.pk]), {"format": "csv"})
    rows = list(csv.reader(io.StringIO(answer.content.decode())))
    assert rows[1][0] == "'=HYPERLINK(1)"
