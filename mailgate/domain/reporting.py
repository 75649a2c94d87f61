"""The report's arithmetic (SPEC §9, §11 "Reports"), free of I/O: percentiles, shares, sums.

Percentiles are nearest-rank on the sorted values (the median of 1, 2, 3, 4 is 2): simple to
check by hand, and the same whichever database the durations came from.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q``-th percentile (0 < q ≤ 100), None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


def share(part: int, whole: int) -> float:
    """``part / whole * 100`` rounded to one decimal; 0.0 when there is no whole."""
    return round(part * 100 / whole, 1) if whole else 0.0


def total(amounts: Iterable[str]) -> str:
    """The sum of decimal strings ("120.50"), as a decimal string; unreadable ones count 0."""
    summed = Decimal(0)
    for amount in amounts:
        try:
            summed += Decimal(amount)
        except (InvalidOperation, ValueError):
            continue
    return f"{summed:.2f}"
