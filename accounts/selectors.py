from django.db.models import QuerySet

from accounts.models import Institution, Role, User


def institutions_for_staff(*, user: User, role: Role) -> QuerySet[Institution]:
    """The institutions where the user holds the role (an administrator holds every role)."""
    return Institution.objects.filter(memberships__user=user, memberships__role__in=[role, Role.ADMIN]).distinct()
