"""Cardholders who left are anonymised after the retention period; the ledger's sums stay intact."""

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.db.models import Sum
from django.utils import timezone

from accounts.models import AuditEntry
from cards.models import Card, Cardholder, Guardianship
from payments.models import AutoTopUp, LedgerAccount, LedgerEntry
from payments.selectors import ledger_mismatches
from privacy.anonymise import holders_anonymise_due
from privacy.export import family_data_export
from privacy.tasks import holders_anonymise_due_task
from tests.privacy.conftest import Family

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2031, 6, 1, 12, 0, tzinfo=dt.UTC)
RETENTION_DAYS = 365


@pytest.fixture(autouse=True)
def _settings(settings: Any, tmp_path: Path) -> None:
    settings.RETENTION_DAYS_AFTER_LEAVING = RETENTION_DAYS
    settings.MEDIA_ROOT = str(tmp_path)


def leave(holder: Cardholder, *, days_ago: int) -> None:
    holder.left_at = timezone.localdate(NOW) - dt.timedelta(days=days_ago)
    holder.save(update_fields=["left_at"])


def with_photo(holder: Cardholder) -> Path:
    holder.photo.save("anna.png", ContentFile(b"\x89PNG fake"), save=True)
    return Path(holder.photo.path)


def balances() -> dict[int, int]:
    return dict(LedgerAccount.objects.values_list("pk", "balance_cents"))


def test_a_holder_past_the_retention_period_loses_name_photo_and_allergy_note(
    anna: Family, django_capture_on_commit_callbacks: Any
) -> None:
    photo = with_photo(anna.holder)
    leave(anna.holder, days_ago=RETENTION_DAYS + 1)

    # The file goes once the transaction commits.
    with django_capture_on_commit_callbacks(execute=True):
        assert holders_anonymise_due(now=NOW) == 1

    holder = Cardholder.objects.get(pk=anna.holder.pk)
    assert holder.name == f"Anonymised {holder.pk}"
    assert not holder.photo
    assert not photo.exists()
    assert holder.allergy_note == ""
    assert holder.anonymised_at == NOW


def test_anonymising_unlinks_the_guardians_and_clears_activation_codes(anna: Family) -> None:
    leave(anna.holder, days_ago=RETENTION_DAYS + 1)

    holders_anonymise_due(now=NOW)

    assert not Guardianship.objects.filter(holder=anna.holder).exists()
    assert not AutoTopUp.objects.filter(holder=anna.holder).exists()
    assert Card.objects.get(pk=anna.card.pk).activation_code == ""
    assert family_data_export(guardian=anna.guardian)["cardholders"] == []


def test_anonymising_keeps_every_balance_and_ledger_row_and_the_ledger_check_clean(
    anna: Family, carl: Family, capsys: pytest.CaptureFixture[str]
) -> None:
    leave(anna.holder, days_ago=RETENTION_DAYS + 1)
    before = balances()
    entries_before = LedgerEntry.objects.count()
    total_before = LedgerEntry.objects.aggregate(total=Sum("amount_cents"))["total"]

    holders_anonymise_due(now=NOW)

    assert balances() == before
    assert LedgerEntry.objects.count() == entries_before
    assert LedgerEntry.objects.aggregate(total=Sum("amount_cents"))["total"] == total_before == 0
    assert ledger_mismatches() == []
    call_command("ledger_check")
    assert "ledger is consistent" in capsys.readouterr().out


def test_anonymising_is_in_the_audit_trail_without_the_name(anna: Family) -> None:
    leave(anna.holder, days_ago=RETENTION_DAYS + 1)

    holders_anonymise_due(now=NOW)

    entry = AuditEntry.objects.get(action="holder.anonymised")
    assert (entry.target_type, entry.target_id) == ("cards.cardholder", str(anna.holder.pk))
    assert entry.details["guardianships_removed"] == 1
    assert "Anna" not in str(entry.details) + entry.reason


def test_a_holder_within_the_retention_period_is_kept(anna: Family) -> None:
    leave(anna.holder, days_ago=RETENTION_DAYS)

    assert holders_anonymise_due(now=NOW) == 0

    holder = Cardholder.objects.get(pk=anna.holder.pk)
    assert (holder.name, holder.allergy_note, holder.anonymised_at) == ("Anna", "nuts", None)
    assert Guardianship.objects.filter(holder=holder).exists()


def test_a_holder_who_has_not_left_is_kept(anna: Family) -> None:
    assert holders_anonymise_due(now=NOW) == 0

    assert Cardholder.objects.get(pk=anna.holder.pk).name == "Anna"


def test_anonymising_again_changes_nothing(anna: Family) -> None:
    leave(anna.holder, days_ago=RETENTION_DAYS + 1)
    holders_anonymise_due(now=NOW)

    assert holders_anonymise_due(now=NOW + dt.timedelta(days=1)) == 0

    assert Cardholder.objects.get(pk=anna.holder.pk).anonymised_at == NOW
    assert AuditEntry.objects.filter(action="holder.anonymised").count() == 1


def test_only_those_due_are_anonymised(anna: Family, carl: Family) -> None:
    leave(anna.holder, days_ago=RETENTION_DAYS + 1)
    leave(carl.holder, days_ago=10)

    holders_anonymise_due(now=NOW)

    assert Cardholder.objects.get(pk=carl.holder.pk).name == "Carl"
    assert family_data_export(guardian=carl.guardian)["cardholders"][0]["name"] == "Carl"


def test_the_nightly_task_anonymises_those_due(anna: Family) -> None:
    anna.holder.left_at = timezone.localdate() - dt.timedelta(days=RETENTION_DAYS + 1)
    anna.holder.save(update_fields=["left_at"])

    assert holders_anonymise_due_task.delay().get() == 1

    assert Cardholder.objects.get(pk=anna.holder.pk).anonymised_at is not None
