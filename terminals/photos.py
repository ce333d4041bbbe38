from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest

from cards.models import Cardholder


@login_required
def holder_photo(request: HttpRequest, holder_id: int) -> FileResponse:
    """A cardholder's photo, for staff only: children's pictures are never public files."""
    if not request.user.memberships.exists():  # type: ignore[union-attr]
        raise Http404
    holder = Cardholder.objects.filter(pk=holder_id).exclude(photo="").first()
    if holder is None:
        raise Http404
    return FileResponse(holder.photo.open("rb"))
