"""Rate limits per API token (DRF throttling; rates in REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]).

Each token is counted on its own, so one busy till never slows another. Requests without a token
(the session-signed-in portal) are not limited here: sign-in itself is (ACCOUNT_RATE_LIMITS). When
the cache (Redis) does not answer, it answers as an empty cache (cardsystem.cache): requests pass.
The token's model is recognised by its label, so this module imports no app.
"""

from typing import TYPE_CHECKING, Any

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

if TYPE_CHECKING:  # rest_framework.views imports this module through its settings
    from rest_framework.request import Request
    from rest_framework.views import APIView


def _auth_label(request: "Request") -> str | None:
    meta = getattr(request.auth, "_meta", None)
    return meta.label_lower if meta is not None else None


class _TokenThrottle(SimpleRateThrottle):
    label: str

    def get_rate(self) -> str | None:
        # Read on each request rather than once at import, so a changed setting takes effect.
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(str(self.scope))
        return str(rate) if rate else None

    def get_cache_key(self, request: "Request", view: "APIView") -> str | None:
        if _auth_label(request) != self.label:
            return None  # not this kind of token: this throttle does not apply
        auth: Any = request.auth
        return self.cache_format % {"scope": self.scope, "ident": auth.pk}


class TerminalTokenThrottle(_TokenThrottle):
    """Per terminal (all of its tokens together): a till at lunch makes a few requests a second."""

    scope = "terminal"
    label = "terminals.terminal"


class PersonalTokenThrottle(_TokenThrottle):
    """Per personal token: a guardian's script or app."""

    scope = "personal_token"
    label = "accounts.personaltoken"
