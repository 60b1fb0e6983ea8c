"""Adaptive concurrency: as many records in progress as Tela takes, never more than ``concurrency``.

``AimdWindow`` is the decision, without I/O (tested on a fake clock): the window starts at the
ceiling, grows by one slot per window's worth of successful submissions (additive increase), and
halves when Tela refuses a submission with 429 or 503, or is unreachable (multiplicative decrease).
Refusals of requests sent before the last decrease do not halve it again: they describe the load
that decrease already answered. A ``Retry-After`` pauses every new submission until it has passed.

``AdaptiveLimiter`` applies it in an event loop: ``acquire`` a slot before starting a record,
``release`` it when the record is done; ``ready_to_send`` before each POST waits out a pause.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class AimdWindow:
    ceiling: int
    floor: int = 1
    limit: float = field(init=False)
    paused_until: float = -math.inf
    last_decrease: float = -math.inf
    decreases: int = 0
    lowest: int = field(init=False)  # the fewest slots the window came down to (the batch's metrics)

    def __post_init__(self) -> None:
        if self.ceiling < 1:
            raise ValueError(f"concurrency must be at least 1, got {self.ceiling}")
        self.limit = float(self.ceiling)
        self.lowest = self.ceiling

    @property
    def slots(self) -> int:
        return max(self.floor, min(self.ceiling, int(self.limit)))

    def succeeded(self) -> None:
        self.limit = min(float(self.ceiling), self.limit + 1.0 / self.limit)

    def throttled(self, now: float, sent_at: float, pause: float | None) -> None:
        """A submission sent at ``sent_at`` was refused at ``now``; ``pause``: its Retry-After, if any."""
        if sent_at >= self.last_decrease:
            self.limit = max(float(self.floor), self.limit / 2)
            self.last_decrease = now
            self.decreases += 1
            self.lowest = min(self.lowest, self.slots)
        if pause:
            self.paused_until = max(self.paused_until, now + pause)


class AdaptiveLimiter:
    def __init__(self, ceiling: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = AimdWindow(ceiling)
        self.clock = clock
        self.in_use = 0
        self._changed = asyncio.Event()

    async def acquire(self) -> None:
        while self.in_use >= self.window.slots:
            self._changed.clear()
            await self._changed.wait()
        self.in_use += 1

    def release(self) -> None:
        self.in_use -= 1
        self._changed.set()

    async def ready_to_send(self, deadline: float | None) -> bool:
        """Wait out a pause (Retry-After); False if it lasts past ``deadline`` (same clock)."""
        while (left := self.window.paused_until - self.clock()) > 0:
            if deadline is not None and self.window.paused_until >= deadline:
                return False
            await asyncio.sleep(left)
        return True

    def succeeded(self) -> None:
        self.window.succeeded()
        self._changed.set()

    def throttled(self, sent_at: float, pause: float | None) -> None:
        self.window.throttled(self.clock(), sent_at, pause)
