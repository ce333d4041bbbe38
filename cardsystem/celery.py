"""The Celery application: Redis in production, eager (in-process) when REDIS_URL is unset."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cardsystem.settings")

app = Celery("cardsystem")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
