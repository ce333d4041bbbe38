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


class CardReplaced(DomainError):
    """A replaced card stays blocked for good: its replacement is the card to use."""

    code = "card_replaced"
    status = 409
    default_message = _("The card has been replaced and cannot be reopened.")


class CardNotReopenable(DomainError):
    """Only a card its guardian blocked can be reopened; a debt block, a lost or returned card cannot."""

    code = "card_not_reopenable"
    status = 409
    default_message = _("This card cannot be reopened here. Ask the office.")
