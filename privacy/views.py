"""The guardian's privacy page and the download of everything held about the family."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.models import User
from privacy.export import family_data_export


@login_required
@require_GET
def privacy_page(request: HttpRequest) -> HttpResponse:
    years, days = divmod(settings.RETENTION_DAYS_AFTER_LEAVING, 365)
    return render(
        request,
        "privacy/privacy.html",
        {"retention_days": settings.RETENTION_DAYS_AFTER_LEAVING, "retention_years": years if not days else None},
    )


@login_required
@require_GET
@never_cache
def privacy_export(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    data = family_data_export(guardian=user)
    response = JsonResponse(data, encoder=DjangoJSONEncoder, json_dumps_params={"ensure_ascii": False, "indent": 2})
    filename = f"card-system-data-{timezone.localdate().isoformat()}.json"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
