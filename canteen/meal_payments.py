"""Paying for an organised meal [PZ]: main balance first, then extra, then debt on main down to the limit.

A cardholder whose main balance reaches the debt limit is debt-blocked: their cards refuse meals
and buffet purchases until a top-up pays the debt (`payments.topups` lifts the block).
"""

from dataclasses import dataclass

from django.utils.translation import gettext

from accounts.models import Institution, User
from cards.services import holder_debt_block
from payments.errors import DebtLimitReached
from payments.ledger import HolderAccounts, Leg, holder_accounts_lock, movement_post, system_account
from payments.models import LedgerAccount, LedgerTransaction


@dataclass(frozen=True)
class MealCharge:
    """What a meal took from each balance; `debt` is the part taken from main below zero."""

    transaction: LedgerTransaction | None
    from_main: int
    from_extra: int
    debt: int
    main_after: int
    extra_after: int
    blocked: bool

    @property
    def charged_main(self) -> int:
        return self.from_main + self.debt


def meal_split(*, price_cents: int, main_cents: int, extra_cents: int) -> tuple[int, int, int]:
    """(from main, from extra, new debt) for a meal of this price: main's credit first, then extra,
    the rest as debt on main."""
    from_main = min(price_cents, max(0, main_cents))
    from_extra = min(price_cents - from_main, max(0, extra_cents))
    return from_main, from_extra, price_cents - from_main - from_extra


def meal_legs(*, accounts: HolderAccounts, price_cents: int, institution: Institution) -> list[Leg]:
    """The legs of one meal from these locked balances (none for a free meal).

    Raises DebtLimitReached when the holder is at the limit already or the debt the meal needs
    would pass it: judged here, so a batch can leave the meal out rather than fail.
    """
    main, extra = accounts.main, accounts.extra
    if main.floor_cents < 0 and main.balance_cents <= main.floor_cents:
        raise DebtLimitReached()
    from_main, from_extra, debt = meal_split(
        price_cents=price_cents, main_cents=main.balance_cents, extra_cents=extra.balance_cents
    )
    if main.balance_cents - from_main - debt < main.floor_cents:
        raise DebtLimitReached()
    if price_cents == 0:
        return []
    legs = [Leg(system_account(kind=LedgerAccount.Kind.REVENUE, institution=institution), price_cents)]
    if from_main + debt:
        legs.append(Leg(main, -(from_main + debt)))
    if from_extra:
        legs.append(Leg(extra, -from_extra))
    return legs


def at_debt_limit(accounts: HolderAccounts) -> bool:
    main = accounts.main
    return main.floor_cents < 0 and main.balance_cents <= main.floor_cents


def meal_charge(
    *,
    holder_id: int,
    institution: Institution,
    price_cents: int,
    reason: str,
    created_by: User | None = None,
    accounts: HolderAccounts | None = None,
) -> MealCharge:
    """Charge one meal in the caller's transaction, locking the holder's balances (or using
    `accounts` the caller locked, e.g. with `holders_accounts_lock` for a batch).

    Raises DebtLimitReached (nothing written) when the holder is already at the limit or the debt
    the meal needs would pass it.
    """
    accounts = accounts or holder_accounts_lock(holder_id=holder_id)
    main, extra = accounts.main, accounts.extra
    from_main, from_extra, debt = meal_split(
        price_cents=price_cents, main_cents=main.balance_cents, extra_cents=extra.balance_cents
    )
    legs = meal_legs(accounts=accounts, price_cents=price_cents, institution=institution)
    txn = None
    if legs:
        txn = movement_post(
            kind=LedgerTransaction.Kind.MEAL,
            legs=legs,
            institution=institution,
            created_by=created_by,
            reason=reason or gettext("Meal"),
            accounts_locked=True,
        )
    blocked = at_debt_limit(accounts)
    if blocked:
        holder_debt_block(holder_id=holder_id)
    return MealCharge(
        transaction=txn,
        from_main=from_main,
        from_extra=from_extra,
        debt=debt,
        main_after=main.balance_cents,
        extra_after=extra.balance_cents,
        blocked=blocked,
    )
