"""The language switcher: Django's own, which also remembers a signed-in user's choice.

The saved language is the one the user's e-mails are written in (`user_language`), since a mail
sent by a Celery worker has no request and no cookie to read it from.
"""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_POST
from django.views.i18n import LANGUAGE_QUERY_PARAMETER, set_language

from accounts.models import User

_KNOWN = {code for code, _name in settings.LANGUAGES}


@require_POST
def language_set(request: HttpRequest) -> HttpResponse:
    response = set_language(request)
    language = request.POST.get(LANGUAGE_QUERY_PARAMETER, "")
    user = request.user
    if user.is_authenticated and language in _KNOWN and getattr(user, "language", None) != language:
        User.objects.filter(pk=user.pk).update(language=language)
    return response


def user_language(user: User) -> str:
    """The language to write to `user` in: their last choice on the site, else the deployment's."""
    return user.language or settings.LANGUAGE_CODE
