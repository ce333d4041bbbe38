from celery import shared_task

from privacy.anonymise import holders_anonymise_due


@shared_task(name="privacy.holders_anonymise_due")
def holders_anonymise_due_task() -> int:
    """Nightly (beat): anonymise the cardholders whose retention period after leaving passed; returns how many."""
    return holders_anonymise_due()
