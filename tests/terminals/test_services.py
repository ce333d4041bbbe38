import pytest

from terminals.services import display_update
from tests.factories import TerminalFactory

pytestmark = pytest.mark.django_db


def test_display_update_keeps_only_what_the_queue_may_see_whoever_calls_it() -> None:
    state = display_update(
        terminal=TerminalFactory(),
        payload={"state": "order", "first_name": "Anna Berg", "lines": [], "group": "2A", "allergies": "Nuts"},
    )
    assert state.payload == {"state": "order", "first_name": "Anna", "lines": [], "total": None, "balance": None}
