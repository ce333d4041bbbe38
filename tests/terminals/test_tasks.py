import datetime as dt

import pytest
from django.utils import timezone

from terminals.models import Scan
from terminals.tasks import scans_purge_task
from tests.factories import CardFactory, TerminalFactory

pytestmark = pytest.mark.django_db


def test_scan_purge_deletes_reads_older_than_a_day_and_keeps_recent_ones() -> None:
    terminal, card = TerminalFactory(), CardFactory()
    old = Scan.objects.create(terminal=terminal, card=card, created_at=timezone.now() - dt.timedelta(days=2))
    recent = Scan.objects.create(terminal=terminal, card=card)
    assert scans_purge_task() == 1
    assert list(Scan.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not Scan.objects.filter(pk=old.pk).exists()
