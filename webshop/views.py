"""The guardian's webshop pages under /portal/shop/: the items, buying one, and the receipt.

Items and orders are looked up from the guardian's own cardholders, so an item for another
family's group, or another family's order, is a 404.
"""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from accounts.models import User
from cardsystem.errors import DomainError, NotFound
from cardsystem.forms import errors_beside_fields
from payments.models import Payment
from payments.providers import provider_get
from webshop.forms import PurchaseForm
from webshop.models import ShopOrder
from webshop.orders import order_create, order_for_guardian, places_taken
from webshop.receipts import receipt_context, receipt_pdf
from webshop.selectors import item_for_guardian, shop_for_guardian


def _guardian(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


@login_required
@require_GET
def shop(request: HttpRequest) -> HttpResponse:
    return render(request, "webshop/shop.html", {"shops": shop_for_guardian(guardian=_guardian(request))})


@login_required
@require_http_methods(["GET", "POST"])
def item(request: HttpRequest, item_id: int) -> HttpResponse:
    guardian = _guardian(request)
    found = item_for_guardian(guardian=guardian, item_id=item_id)
    if found is None:
        raise Http404()
    shop_item, holders = found
    form = PurchaseForm(request.POST if request.method == "POST" else None, item=shop_item, holders=holders)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                order = order_create(
                    guardian=guardian,
                    item_id=shop_item.pk,
                    holder_id=form.cleaned_data["holder"],
                    option_id=form.cleaned_data.get("option"),
                    paid_with=form.cleaned_data["paid_with"],
                )
            except DomainError as error:
                status = error.status if error.status in (400, 409) else 400
                errors_beside_fields(form, error)
            else:
                if order.payment is not None:
                    provider = provider_get(order.payment.provider)
                    return redirect(
                        provider.payment_page_url(payment=order.payment, base_url=request.build_absolute_uri("/"))
                    )
                return redirect("webshop:order", order_id=order.pk)
    now = timezone.now()
    context = {
        "item": shop_item,
        "form": form,
        "open": shop_item.deadline >= now,
        "deadline": timezone.localtime(shop_item.deadline, shop_item.institution.zone),
        "places_left": None
        if shop_item.capacity is None
        else max(0, shop_item.capacity - places_taken(item=shop_item, now=now)),
    }
    return render(request, "webshop/item.html", context, status=status)


@login_required
@require_GET
def order(request: HttpRequest, order_id: int) -> HttpResponse:
    found = order_for_guardian(guardian=_guardian(request), order_id=order_id)
    return render(request, "webshop/receipt.html", receipt_context(order=found))


@login_required
@require_GET
def order_pdf(request: HttpRequest, order_id: int) -> HttpResponse:
    found = order_for_guardian(guardian=_guardian(request), order_id=order_id)
    if found.status == ShopOrder.Status.PENDING:
        raise Http404()
    response = HttpResponse(receipt_pdf(order=found), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="receipt-{found.receipt_number}.pdf"'
    return response


@login_required
@require_GET
def payment_return(request: HttpRequest, reference: str) -> HttpResponse:
    """Where the provider's page sends the guardian back: the order's receipt (or its status)."""
    found = (
        ShopOrder.objects.filter(payment__reference=reference, payment__purpose=Payment.Purpose.WEBSHOP)
        .values_list("pk", flat=True)
        .first()
    )
    if found is None:
        raise NotFound()
    order_for_guardian(guardian=_guardian(request), order_id=found)
    return redirect("webshop:order", order_id=found)
