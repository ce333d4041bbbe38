"""Business-rule errors of cardholders and cards (cardsystem.errors.DomainError)."""

from django.utils.translation import gettext_lazy as _

from cardsystem.errors import DomainError


class ActivationInvalid(DomainError):
    """The card number and activation code do not match a card with an unused code.

    One message for an unknown number, a wrong code and a code already used: the answer must not
    tell which card numbers exist.
    """

    code = "activation_invalid"
    status = 400
    default_message = _("The card number or the activation code is not right.")
