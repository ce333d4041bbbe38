"""Fill the lunch-rush database: one school, its products, cardholders with cards and 32 tills.

Run by bench/lunch_rush/ in a subprocess with DATABASE_URL set:
    python -m bench._lunch_rush_setup HOLDERS TERMINALS EXTRA_CENTS
Rows are bulk-inserted, the ledger consistently: each extra balance gets its own opening
transaction (the extra account +X, the corrections account -X, as `opening_balance_post` writes
it), so `manage.py ledger_check` is clean. Prints one JSON object on stdout: tokens, UIDs, ids.
"""

from __future__ import annotations

import json
import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cardsystem.settings")
django.setup()

from django.db import transaction  # noqa: E402

from accounts.models import Institution  # noqa: E402
from accounts.tokens import token_digest, token_generate  # noqa: E402
from canteen.models import Product, ProductCategory  # noqa: E402
from cards.models import Card, Cardholder  # noqa: E402
from payments.ledger import system_account  # noqa: E402
from payments.models import LedgerAccount, LedgerEntry, LedgerTransaction  # noqa: E402
from terminals.models import Terminal, TerminalToken  # noqa: E402

BATCH = 5000
PRODUCTS = [("Sandwich", "food", 2500), ("Milk", "drinks", 500), ("Apple", "fruit", 400)]


def card_uid(index: int) -> str:
    """A 7-byte ISO 14443-A UID, distinct per index."""
    return f"04{index:012X}"


@transaction.atomic
def fill(*, holders: int, terminals: int, extra_cents: int) -> dict[str, object]:
    school = Institution.objects.create(
        name="Bench School", school_number="900", kind=Institution.Kind.SCHOOL, canteen_provider="Bench Kantine"
    )
    products = []
    for position, (name, code, price) in enumerate(PRODUCTS):
        category = ProductCategory.objects.create(institution=school, code=code, name=code.title())
        products.append(
            Product.objects.create(
                institution=school, category=category, name=name, price_cents=price, position=position
            )
        )

    people = Cardholder.objects.bulk_create(
        [
            Cardholder(name=f"Pupil {i:06d}", institution=school, group=f"{i % 9 + 1}{'ABC'[i % 3]}")
            for i in range(1, holders + 1)
        ],
        batch_size=BATCH,
    )
    floor = -school.debt_limit_cents
    LedgerAccount.objects.bulk_create(
        [LedgerAccount(holder=h, kind=LedgerAccount.Kind.MAIN, floor_cents=floor) for h in people],
        batch_size=BATCH,
    )
    extras = LedgerAccount.objects.bulk_create(
        [LedgerAccount(holder=h, kind=LedgerAccount.Kind.EXTRA, balance_cents=extra_cents) for h in people],
        batch_size=BATCH,
    )
    corrections = system_account(kind=LedgerAccount.Kind.CORRECTIONS)
    revenue = system_account(kind=LedgerAccount.Kind.REVENUE, institution=school)
    system_account(kind=LedgerAccount.Kind.CASH, institution=school)
    openings = LedgerTransaction.objects.bulk_create(
        [LedgerTransaction(kind=LedgerTransaction.Kind.OPENING, reason="Bench opening balance") for _ in extras],
        batch_size=BATCH,
    )
    entries = []
    for txn, account in zip(openings, extras, strict=True):
        entries.append(
            LedgerEntry(transaction=txn, account=account, amount_cents=extra_cents, balance_after_cents=extra_cents)
        )
        entries.append(LedgerEntry(transaction=txn, account=corrections, amount_cents=-extra_cents))
    LedgerEntry.objects.bulk_create(entries, batch_size=BATCH)
    Card.objects.bulk_create(
        [Card(uid=card_uid(i), number=f"{500000 + i}", holder=h) for i, h in enumerate(people, start=1)],
        batch_size=BATCH,
    )

    tills = Terminal.objects.bulk_create(
        [Terminal(institution=school, name=f"Till {i:02d}", kind=Terminal.Kind.TILL) for i in range(1, terminals + 1)]
    )
    tokens = [token_generate() for _ in tills]
    TerminalToken.objects.bulk_create(
        [
            TerminalToken(terminal=till, digest=token_digest(token), prefix=token[:8])
            for till, token in zip(tills, tokens, strict=True)
        ]
    )
    return {
        "institution_id": school.pk,
        "revenue_account_id": revenue.pk,
        "holder_id_min": min(h.pk for h in people),
        "holder_id_max": max(h.pk for h in people),
        "extra_cents": extra_cents,
        "uids": [card_uid(i) for i in range(1, holders + 1)],
        "tokens": tokens,
        "products": {p.name: {"id": p.pk, "price_cents": p.price_cents} for p in products},
    }


def main() -> None:
    holders, terminals, extra_cents = (int(arg) for arg in sys.argv[1:4])
    print(json.dumps(fill(holders=holders, terminals=terminals, extra_cents=extra_cents)))


if __name__ == "__main__":
    main()
