"""The kitchen page and its PDF, for the canteen and office staff of the institution (session sign-in).

Signed out: the sign-in page. Signed in without a canteen, office or administrator role anywhere
(a guardian): 403. Staff of another institution, or a day that is not a school day: 404, the same
answer, so another institution's calendar is not revealed.
"""

import datetime as dt
from typing import cast

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.models import User
from canteen.kitchen import (
    kitchen_context,
    kitchen_day_get,
    kitchen_neighbours,
    kitchen_pdf,
    kitchen_pdf_filename,
    kitchen_user_is_staff,
)
from canteen.models import SchoolDay
from cardsystem.errors import NotFound


def _school_day(request: HttpRequest, institution_id: int, date: str) -> SchoolDay:
    user = cast(User, request.user)
    if not kitchen_user_is_staff(user=user):
        raise PermissionDenied
    try:
        day = dt.date.fromisoformat(date)
        if day.isoformat() != date:  # one address per day: 2026-12-07, not 20261207
            raise ValueError(date)
        return kitchen_day_get(user=user, institution_id=institution_id, date=day)
    except (ValueError, NotFound):
        raise Http404 from None


@login_required
def kitchen_day_view(request: HttpRequest, institution_id: int, date: str) -> HttpResponse:
    day = _school_day(request, institution_id, date)
    previous_date, next_date = kitchen_neighbours(school_day=day)
    context = kitchen_context(school_day=day) | {"previous_date": previous_date, "next_date": next_date}
    return render(request, "canteen/kitchen.html", context)


@login_required
def kitchen_day_pdf_view(request: HttpRequest, institution_id: int, date: str) -> HttpResponse:
    day = _school_day(request, institution_id, date)
    response = HttpResponse(kitchen_pdf(school_day=day), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{kitchen_pdf_filename(school_day=day)}"'
    return response
