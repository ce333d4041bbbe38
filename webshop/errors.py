"""The webshop's refusals, each with the stable code the pages and tests name."""

from django.utils.translation import gettext_lazy as _

from cardsystem.errors import DomainError


class OrderDeadlinePassed(DomainError):
    code = "order_deadline_passed"
    status = 409
    default_message = _("The deadline for this item has passed.")


class NotOnSale(DomainError):
    code = "not_on_sale"
    status = 409
    default_message = _("This item is no longer on sale.")


class SoldOut(DomainError):
    code = "sold_out"
    status = 409
    default_message = _("There are no places left.")


class AlreadyBought(DomainError):
    code = "already_bought"
    status = 409
    default_message = _("This cardholder already has a place, or a payment for one is under way.")


class BalanceNotAllowed(DomainError):
    code = "balance_not_allowed"
    status = 400
    default_message = _("This item cannot be paid from the card balance.")


class NotRefundable(DomainError):
    code = "not_refundable"
    status = 409
    default_message = _("Only a paid order can be refunded.")
