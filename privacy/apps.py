from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PrivacyConfig(AppConfig):
    """What the system holds about a family, handed to the guardian; leavers anonymised in time.

    No models of its own: it reads every other app, so it sits at the top of the layers.
    """

    name = "privacy"
    verbose_name = _("Privacy")
