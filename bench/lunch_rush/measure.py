"""Latency percentiles and the figures of one load phase."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))]


@dataclass
class LoadResult:
    seconds: float = 0.0
    purchases: int = 0
    scan_ms: list[float] = field(default_factory=list)
    purchase_ms: list[float] = field(default_factory=list)
    arrival_ms: list[float] = field(default_factory=list)
    send_lag_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    cpu: dict[str, float] = field(default_factory=dict)
    connects: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "purchases": self.purchases,
            "purchases_per_s": self.purchases / self.seconds if self.seconds else None,
            "purchase_p50_ms": percentile(self.purchase_ms, 50),
            "purchase_p99_ms": percentile(self.purchase_ms, 99),
            "purchase_max_ms": max(self.purchase_ms, default=None),
            "scan_p50_ms": percentile(self.scan_ms, 50),
            "scan_p99_ms": percentile(self.scan_ms, 99),
            "arrival_p99_ms": percentile(self.arrival_ms, 99),
            "scans": len(self.scan_ms),
            "send_lag_max_ms": max(self.send_lag_ms, default=None),
            "errors": dict(self.errors),
            "cpu": self.cpu,
            "connects": self.connects,
        }
