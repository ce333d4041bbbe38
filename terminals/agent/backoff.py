"""Retry delays: exponential backoff with full jitter, capped."""

from __future__ import annotations

import random


def backoff_delay(attempt: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number `attempt` (1 for the first retry).

    Full jitter (uniform between 0 and min(cap, base * 2**(attempt-1))), so tills that lost the
    server at the same moment do not all come back in the same instant; never less than base/2.
    """
    if attempt < 1:
        return 0.0
    ceiling = min(cap, base * 2 ** min(attempt - 1, 30))
    low = min(base / 2, ceiling)
    return (rng or random).uniform(low, ceiling)
