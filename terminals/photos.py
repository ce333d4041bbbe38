from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest

from accounts.models import Role
from cards.models import Cardholder

# Who compares a face with a card: the till, the teacher confirming meals, the office issuing cards.
PHOTO_ROLES = (Role.CANTEEN, Role.TEACHER, Role.OFFICE, Role.ADMIN)


@login_required
def holder_photo(request: HttpRequest, holder_id: int) -> FileResponse:
    """A cardholder's photo, for the staff who check faces only: children's pictures are never public."""
    if not request.user.memberships.filter(role__in=PHOTO_ROLES).exists():  # type: ignore[union-attr]
        raise Http404
    holder = Cardholder.objects.filter(pk=holder_id).exclude(photo="").first()
    if holder is None:
        raise Http404
    return FileResponse(holder.photo.open("rb"))
