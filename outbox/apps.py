from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OutboxConfig(AppConfig):
    """How Celery tasks leave a process: published at once when the broker answers, kept in the
    database when it does not, published again when it answers again. Carries the request id into
    the tasks, too.

    It knows no other app of the project, so it sits at the bottom of the layers.
    """

    name = "outbox"
    verbose_name = _("Task outbox")

    def ready(self) -> None:
        from outbox import signals  # noqa: F401  (connects the Celery signal receivers)
