import pytest
from django.core.files.base import ContentFile
from django.test import Client

from accounts.models import Role
from tests.factories import CardholderFactory, InstitutionFactory, UserFactory, staff_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def holder(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = tmp_path
    holder = CardholderFactory()
    holder.photo.save("anna.jpg", ContentFile(b"\xff\xd8jpeg"))
    return holder


def get_photo(user, holder) -> int:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client.get(f"/photos/{holder.pk}/").status_code


def test_canteen_staff_see_a_cardholders_photo(holder) -> None:  # type: ignore[no-untyped-def]
    assert get_photo(staff_user(institution=InstitutionFactory(), role=Role.CANTEEN), holder) == 200


def test_finance_staff_do_not_see_photos(holder) -> None:  # type: ignore[no-untyped-def]
    assert get_photo(staff_user(institution=InstitutionFactory(), role=Role.FINANCE), holder) == 404


def test_guardians_and_other_people_do_not_see_photos(holder) -> None:  # type: ignore[no-untyped-def]
    assert get_photo(UserFactory(), holder) == 404


def test_anonymous_visitors_are_sent_to_sign_in(holder) -> None:  # type: ignore[no-untyped-def]
    assert Client().get(f"/photos/{holder.pk}/").status_code == 302
