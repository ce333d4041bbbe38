import datetime as dt

from celery import shared_task
from django.utils import timezone

from terminals.models import Scan

# A scan only tells a till screen who is in front of it; a day is ample for looking into a complaint.
SCAN_RETENTION = dt.timedelta(days=1)


@shared_task(name="terminals.scans_purge")
def scans_purge_task() -> int:
    """Delete card reads older than the retention; children's movements are not kept longer than needed."""
    deleted, _ = Scan.objects.filter(created_at__lt=timezone.now() - SCAN_RETENTION).delete()
    return deleted
