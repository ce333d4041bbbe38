"""Celery tasks of the canteen: the meal deadline job and its e-mails."""

from celery import shared_task

from canteen.kitchen import kitchen_day_mail
from canteen.meal_deadline import kitchen_mails_due, meal_deadlines_run
from canteen.meal_mails import option2_moved_mail
from outbox.services import task_send


@shared_task(name="canteen.meal_deadlines")
def meal_deadlines_task() -> int:
    """Every five minutes (beat): close the school days whose order deadline has passed, and send
    again the kitchen e-mails that did not go out; returns how many days were closed."""
    closed = meal_deadlines_run()
    for school_day_id in kitchen_mails_due():
        task_send(kitchen_mail_task, school_day_id)
    return len(closed)


@shared_task(name="canteen.option2_moved_mail")
def option2_moved_mail_task(order_ids: list[int]) -> int:
    return option2_moved_mail(order_ids=order_ids)


@shared_task(name="canteen.kitchen_mail")
def kitchen_mail_task(school_day_id: int) -> bool:
    return kitchen_day_mail(school_day_id=school_day_id)
