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


class NotASchoolDay(DomainError):
    code = "not_a_school_day"
    default_message = _("No meals are served on this day.")


class OrderDeadlinePassed(DomainError):
    code = "order_deadline_passed"
    default_message = _("The deadline for ordering or cancelling this meal has passed.")


class OptionNotOffered(DomainError):
    code = "option_not_offered"
    default_message = _("This option is not on the menu that day.")


class AlreadyServedToday(DomainError):
    code = "already_served_today"
    default_message = _("This card has had its meal today.")


class NoMealOrdered(DomainError):
    code = "no_meal_ordered"
    default_message = _("No meal was ordered for today.")


class OutsideServingHours(DomainError):
    code = "outside_serving_hours"
    default_message = _("Meals are not served at this time.")


class NotATeacherCard(DomainError):
    code = "not_a_teacher_card"
    status = 403
    default_message = _("Only a teacher card can confirm a class meal.")


class AlreadyConfirmed(DomainError):
    code = "already_confirmed"
    default_message = _("This class's meal is already confirmed for today.")
