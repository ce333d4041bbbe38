"""Model-based test of the money paths: random sequences of real service calls on PostgreSQL.

A hypothesis state machine (`machine.py`, its rules split by area) drives the services the way
the app calls them (top-ups and their callbacks, purchases at the till API, cash sales, meals,
blocks, replacement cards, transfers, corrections, refunds and payouts, the webshop) over a small
world, and keeps a plain Python model of what every balance should be (`world.py`). After every
step it checks the ledger against the model: every transaction sums to zero, every cached balance
equals its entries, no balance is below its floor, each balance is what the model says, and all
the money is accounted for: what came in from the provider equals what sits on the balances plus
what went out (sales, meals, webshop places, fees, payouts) less what came back (webshop refunds).

The organised meals run on a school calendar the model keeps (a school day in Copenhagen, the
clock set with time-machine for each meal call): guardians order, change or cancel tomorrow's
meal before 14:00 or subscribe; the deadline job settles tomorrow's orders at 14:00 (or is down,
and catches up during lunch); the lunch line (`POST /api/v1/terminal/meals/serve`) serves a card
once a day in serving hours, paying an order the deadline did not; a teacher card confirms a
class (`POST /api/v1/terminal/class-meals`), charging each pupil once. Every meal is paid from main,
then extra, then debt on main down to the limit, where the cards are debt-blocked. Replays with
the same Idempotency-Key answer as the first time, even a day later, and move nothing; a second
confirmation of a class is `already_confirmed`, a second read of a card `already_served_today`.
Refusals: blocked cards, no meal ordered, outside serving hours, not a school day, not a teacher
card, a pupil of another class, an order after the deadline. The meal orders, the class meals and
the meals' revenue are checked against the model after every step too.

The institution webshop sells a trip (two places, from the extra balance or at the provider) and a
T-shirt in a size (at the provider only; one place or no limit). A place is held by a paid order or
by an open provider payment until it runs out; a success with no place left, or for a cardholder who
holds a paid place already, is paid back through the provider at once. The office refunds paid
orders to the extra balance or through the provider, once. The orders, their payments and the places
taken are checked against the model after every step; the sales and refunds move revenue, the extra
balances and the provider's clearing account as the model says.

Budget: HYPOTHESIS_MODEL_EXAMPLES examples (default 20) of up to HYPOTHESIS_MODEL_STEPS steps
(default 25). The seed is printed on failure; HYPOTHESIS_MODEL_SEED=<seed> replays that run.
"""

import os
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, seed
from hypothesis import settings as hypothesis_settings
from hypothesis.stateful import get_state_machine_test

from tests.model_based.machine import MoneyMachine
from tests.model_based.world import PAYOUT_COST, REPLACEMENT_FEE

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

EXAMPLES = int(os.environ.get("HYPOTHESIS_MODEL_EXAMPLES", "20"))
STEPS = int(os.environ.get("HYPOTHESIS_MODEL_STEPS", "25"))


def test_random_money_work_never_makes_or_loses_money(settings: Any) -> None:
    settings.PAYOUT_COST_CENTS = PAYOUT_COST
    settings.CARD_REPLACEMENT_FEE_CENTS = REPLACEMENT_FEE
    settings.CORRECTION_FOUR_EYES_ABOVE_CENTS = 50000
    settings.TOPUP_MINIMUM_CENTS = 5000
    # A payment runs out in the model only when a rule says so, however long a run takes.
    settings.PAYMENT_EXPIRY_MINUTES = 24 * 60
    run_seed = int(os.environ.get("HYPOTHESIS_MODEL_SEED") or random.randrange(2**32))
    budget = hypothesis_settings(
        max_examples=EXAMPLES,
        stateful_step_count=STEPS,
        deadline=None,
        derandomize=False,
        print_blob=True,
        database=None,  # the seed alone replays a run
        phases=[Phase.generate, Phase.shrink, Phase.explain],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    try:
        seed(run_seed)(get_state_machine_test(MoneyMachine, settings=budget))()
    except BaseException:
        print(f"\nModel-based test failed: replay with HYPOTHESIS_MODEL_SEED={run_seed}")
        raise
