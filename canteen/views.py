from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from canteen.models import Sale
from canteen.receipts import receipt_context, receipt_pdf


def _sale(token: str) -> Sale:
    # The receipt link is a capability: 128 random bits, handed to the till that made the sale.
    return get_object_or_404(
        Sale.objects.select_related("institution", "card").prefetch_related("lines"), receipt_token=token
    )


def receipt_view(request: HttpRequest, token: str) -> HttpResponse:
    return render(request, "canteen/receipt.html", receipt_context(sale=_sale(token)))


def receipt_pdf_view(request: HttpRequest, token: str) -> HttpResponse:
    sale = _sale(token)
    response = HttpResponse(receipt_pdf(sale=sale), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="receipt-{sale.receipt_number}.pdf"'
    return response
