from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from accounts.models import Role


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send each person to where their work starts: canteen staff to the till, teachers to the class
    meal screen, office staff to the back office, anyone without a staff role (a guardian) to the
    guardian portal."""
    roles = set(request.user.memberships.values_list("role", flat=True))  # type: ignore[union-attr]
    if Role.CANTEEN in roles:
        return redirect("till:home")
    if Role.TEACHER in roles and not roles & {Role.OFFICE, Role.FINANCE, Role.ADMIN}:
        return redirect("class_meals:home")
    if roles & {Role.OFFICE, Role.FINANCE, Role.ADMIN} or request.user.is_staff:
        return redirect("admin:index")
    if roles:
        return redirect("till:home")
    return redirect("portal:home")
