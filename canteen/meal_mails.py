"""E-mails about meal orders: option 2 was not cooked and the order moved to option 1."""

from django.conf import settings
from django.core import mail
from django.template.loader import render_to_string
from django.utils import translation

from accounts.language import user_language
from canteen.models import MealOrder
from cards.models import Guardianship


def option2_moved_mail(*, order_ids: list[int]) -> int:
    """Tell each guardian of each moved order's cardholder; returns how many e-mails were sent."""
    orders = MealOrder.objects.filter(pk__in=order_ids, moved_from_option2=True).select_related("holder", "school_day")
    by_holder = {order.holder_id: order for order in orders}
    messages = []
    for link in Guardianship.objects.filter(holder_id__in=by_holder, guardian__is_active=True).select_related(
        "guardian"
    ):
        order = by_holder[link.holder_id]
        with translation.override(user_language(link.guardian)):
            context = {"order": order, "holder": order.holder, "day": order.school_day, "site_url": settings.SITE_URL}
            subject = " ".join(render_to_string("canteen/email/option2_moved_subject.txt", context).split())
            body = render_to_string("canteen/email/option2_moved_body.txt", context)
        messages.append(mail.EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [link.guardian.email]))
    if messages:
        with mail.get_connection() as connection:
            connection.send_messages(messages)
    return len(messages)
