"""The provider's side: its callback into the system, and the test provider's hosted payment page."""

from typing import Literal

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from cardsystem.errors import DomainError
from payments.callbacks import payment_callback_receive
from payments.models import Payment
from payments.providers.test import TestProvider, simulated_callback_deliver, simulated_event

# The two buttons of the test provider's page.
OUTCOMES: dict[str, Literal["succeeded", "failed"]] = {"succeeded": "succeeded", "failed": "failed"}


@csrf_exempt  # the provider's server calls it; the HMAC signature is its proof
@require_POST
def payment_callback(request: HttpRequest, provider: str) -> HttpResponse:
    try:
        payment = payment_callback_receive(provider_name=provider, body=request.body, headers=request.headers)
    except LookupError:
        raise Http404() from None
    except DomainError as error:
        return JsonResponse(error.as_body(), status=error.status)
    return JsonResponse({"reference": payment.reference, "status": payment.status})


def payment_return_url(payment: Payment) -> str:
    """Where the provider sends the guardian back after its page: a card fee to the card's page, a
    webshop purchase to its receipt (the webshop finds its order by the payment's reference)."""
    if payment.purpose == Payment.Purpose.CARD_FEE and payment.replacement is not None:
        return reverse("cardpages:detail", kwargs={"number": payment.replacement.old_card.number})
    if payment.purpose == Payment.Purpose.WEBSHOP:
        return reverse("webshop:payment_return", kwargs={"reference": payment.reference})
    return reverse("topups:status", kwargs={"payment_id": payment.pk})


# The page is the provider's, not the portal's: no sign-in (the unguessable reference is the key)
# and no CSRF token of ours, as a hosted page on the provider's own site would have none.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def test_provider_page(request: HttpRequest, reference: str) -> HttpResponse:
    if TestProvider.name != settings.PAYMENT_PROVIDER:
        raise Http404()
    payment = Payment.objects.filter(reference=reference, provider=TestProvider.name).first()
    if payment is None:
        raise Http404()
    is_open = payment.status == Payment.Status.PENDING and payment.expires_at > timezone.now()
    if request.method == "POST":
        outcome = OUTCOMES.get(request.POST.get("outcome", ""))
        if not is_open or outcome is None:
            return render(
                request,
                "payments/test_provider_page.html",
                {"payment": payment, "is_open": is_open},
                status=400 if is_open else 410,
            )
        simulated_callback_deliver(simulated_event(payment=payment, outcome=outcome, save_card=payment.save_mandate))
        return redirect(payment_return_url(payment))
    return render(request, "payments/test_provider_page.html", {"payment": payment, "is_open": is_open})
