from django.utils.translation import gettext_lazy as _

from cardsystem.errors import DomainError


class CardBlocked(DomainError):
    code = "card_blocked"
    default_message = _("The card is blocked.")


class DailyLimitExceeded(DomainError):
    code = "daily_limit_exceeded"
    default_message = _("The purchase would pass the card's daily limit.")


class CategoryBlocked(DomainError):
    code = "category_blocked"
    default_message = _("A guardian has blocked this kind of product for the cardholder.")
