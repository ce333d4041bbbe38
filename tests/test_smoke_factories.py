import pytest

from tests.factories import ProductFactory, card_with_balances, terminal_with_token


@pytest.mark.django_db
def test_factories_build_a_card_with_balances_and_a_terminal_with_a_token() -> None:
    card = card_with_balances(main=1000, extra=500)
    terminal, token = terminal_with_token(institution=card.holder.institution)
    product = ProductFactory(institution=terminal.institution)
    assert card.holder.ledger_accounts.get(kind="extra").balance_cents == 500
    assert token and product.category.institution == terminal.institution
