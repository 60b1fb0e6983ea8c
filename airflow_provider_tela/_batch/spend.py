"""What a batch has spent, as the spend guard (``max_cost``) and the manifest count it. Pure: no I/O.

A run's cost is Tela's ``information.cost``, read only when it is a finite, non-negative number
(``models.Figure``). The rule for a **succeeded run whose cost cannot be read** (missing, drifted,
NaN, Infinity, negative): it is paid, so it must never lower, poison or hide the total. It counts at
the highest cost read from a run of this batch (the total follows that figure as it rises), and the
manifest says how many costs were so estimated (``usage.costs_estimated``). While no run of the batch
has a readable cost there is nothing to estimate from: such runs add nothing to ``cost`` (then a
lower bound) and, with ``max_cost`` set, the batch stops submitting, since its budget cannot be kept.

A failed run counts its cost when it can be read (Tela may bill a run that failed), nothing
otherwise. An ``ambiguous`` record's run, if it exists, is unknown to the batch and not counted.

The figures are kept in each results part's stats in the ledger (``STAT_KEYS``), so a retry resumes
the same total: ``cost`` (the sum of the costs read), ``costs_read``, ``cost_max`` (the highest cost
read) and ``costs_estimated``. A retry whose input changed starts a new state folder; what the earlier
folder's runs cost that no record of the new input takes over (``batch.carry``) is carried into the
new ledger with the same figures (``carried``), so that ``max_cost`` counts it too.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SPEND_KEYS = ("cost", "costs_read", "cost_max", "costs_estimated")
USAGE_KEYS = ("input_tokens", "output_tokens")


def figure(value: Any) -> float | int | None:
    """A figure of a run's usage as the batch sums it: a finite, non-negative number, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value if value >= 0 else None


def finite(value: float) -> float:
    """A sum of finite figures that overflowed stays the largest float, never Infinity."""
    return value if math.isfinite(value) else sys.float_info.max


@dataclass
class Spend:
    cost: float = 0.0  # the sum of the costs read
    costs_read: int = 0
    cost_max: float = 0.0
    costs_estimated: int = 0

    @classmethod
    def from_stats(cls, stats: Mapping[str, Any]) -> Spend:
        read = {key: figure(stats.get(key)) or 0 for key in SPEND_KEYS}
        return cls(float(read["cost"]), int(read["costs_read"]), float(read["cost_max"]), int(read["costs_estimated"]))

    def add(self, status: str, cost: Any) -> bool:
        """Count one finished record; False when it is a succeeded run whose cost is estimated."""
        read = figure(cost)
        if read is not None:
            self.cost = finite(self.cost + read)
            self.costs_read += 1
            self.cost_max = max(self.cost_max, float(read))
            return True
        if status == "succeeded":
            self.costs_estimated += 1
            return False
        return True

    @property
    def unpriced(self) -> bool:
        """Some paid runs' costs cannot be read and there is no readable cost to estimate them from."""
        return self.costs_estimated > 0 and self.costs_read == 0

    @property
    def total(self) -> float:
        """The costs read, plus the estimate of each paid run whose cost could not be read."""
        return finite(self.cost + self.costs_estimated * self.cost_max)

    def stats(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in SPEND_KEYS}

    def plus(self, other: Spend) -> Spend:
        """Both spends as one (the estimate of either's unreadable costs follows the higher cost read)."""
        return Spend(finite(self.cost + other.cost), self.costs_read + other.costs_read,
                     max(self.cost_max, other.cost_max), self.costs_estimated + other.costs_estimated)
