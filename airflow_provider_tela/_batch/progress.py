"""What a batch reports while it runs (a log line at most every ``interval`` seconds) and how long its
runs seem to take (when to check a run for the first time). Both without I/O, on any clock."""

from __future__ import annotations

from dataclasses import dataclass, field

from airflow_provider_tela._batch.spend import Spend

LOG_INTERVAL = 10.0


@dataclass
class Progress:
    total: int
    started_at: float
    done: int = 0  # done records, those an earlier try finished included
    failed: int = 0
    ambiguous: int = 0
    skipped: int = 0
    spend: Spend = field(default_factory=Spend)  # what the batch spent, earlier tries included
    interval: float = LOG_INTERVAL
    _done_at_start: int = field(init=False)
    _last_line_at: float = field(init=False)

    def __post_init__(self) -> None:
        self._done_at_start = self.done
        self._last_line_at = self.started_at

    def finished(self, status: str, cost: object) -> bool:
        """Count a finished record; False when it is a paid run whose cost is estimated (``batch.spend``)."""
        self.done += 1
        if status in ("failed", "ambiguous", "skipped"):
            setattr(self, status, getattr(self, status) + 1)
        return self.spend.add(status, cost)

    def due(self, now: float) -> str | None:
        """The progress line, if ``interval`` has passed since the last one."""
        if now - self._last_line_at < self.interval:
            return None
        return self.line(now)

    def line(self, now: float) -> str:
        self._last_line_at = now
        elapsed = max(now - self.started_at, 1e-9)
        rate = (self.done - self._done_at_start) / elapsed
        left = self.total - self.done
        eta = f"{left / rate:,.0f} s" if rate > 0 else "unknown"
        share = 100.0 * self.done / self.total if self.total else 100.0
        return (
            f"Tela batch: {self.done:,}/{self.total:,} records done ({share:.0f}%), {self.failed:,} failed, "
            f"{self.ambiguous:,} ambiguous, {self.skipped:,} skipped; {rate:,.1f} records/s; ETA {eta}; "
            f"cost so far {self.spend.total:.6g}"
            + (f" ({self.spend.costs_estimated:,} estimated)" if self.spend.costs_estimated else "")
        )


@dataclass
class DurationEstimate:
    """How long this batch's runs take (a moving average), to check each run when it is likely done.

    Each finished run bounds its duration: it ended after the last check that found it active (if
    any) and before the check that found it over. The duration Tela reports for the run is taken when
    it lies within those bounds (a value in other units, or measuring something else, does not);
    otherwise the midpoint of the bounds, or, when the first check already found the run over, a
    value below that check. The first check then comes just after most runs ended: one check per run
    in the common case, and a few tens of milliseconds of delay, without a stream of checks.
    """

    seconds: float = 0.1
    weight: float = 0.2
    floor: float = 0.01
    # Aim a little after the reported end: the check must reach Tela once the run is over.
    margin: float = 0.005
    slack: float = 1.02

    def first_check_in(self) -> float:
        return self.seconds

    def check_delay(self) -> float:
        """The first pause between checks once a run was found active (it doubles from there)."""
        return max(0.02, self.seconds / 10)

    def observe(self, seen_over_after: float, last_seen_active_after: float | None,
                reported: float | None = None) -> None:
        lower = last_seen_active_after or 0.0
        if isinstance(reported, (int, float)) and lower <= reported <= seen_over_after:
            sample = reported * self.slack + self.margin
        elif last_seen_active_after is None:
            sample = 0.8 * seen_over_after
        else:
            sample = (last_seen_active_after + seen_over_after) / 2
        self.seconds = max(self.floor, self.seconds + self.weight * (sample - self.seconds))
