"""Deadlines: the one bound every request, read, retry and sleep below a wait is measured against."""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]


class Deadline:
    """A point in time (``time.monotonic()`` by default) after which nothing more may be started.

    ``Deadline(None)`` never expires. Every sleep and every request timeout below a wait is cut to
    ``remaining()``, so retries nested anywhere cannot add up past it.
    """

    __slots__ = ("at", "clock")

    def __init__(self, at: float | None, clock: Clock = time.monotonic) -> None:
        self.at = at
        self.clock = clock

    @classmethod
    def after(cls, seconds: float | None, clock: Clock = time.monotonic) -> Deadline:
        return cls(None if seconds is None else clock() + max(0.0, seconds), clock)

    def remaining(self) -> float | None:
        """Seconds left (never negative), or None when unbounded."""
        if self.at is None:
            return None
        return max(0.0, self.at - self.clock())

    def expired(self) -> bool:
        return self.at is not None and self.clock() >= self.at

    def bound(self, seconds: float) -> float:
        """``seconds``, cut to what is left."""
        left = self.remaining()
        return seconds if left is None else min(seconds, left)

    def within(self, seconds: float | None) -> Deadline:
        """The earlier of this deadline and ``seconds`` from now."""
        if seconds is None:
            return self
        other = self.clock() + max(0.0, seconds)
        return Deadline(other if self.at is None else min(self.at, other), self.clock)

    def __repr__(self) -> str:
        left = self.remaining()
        return "Deadline(never)" if left is None else f"Deadline(in {left:.3f} s)"


NEVER = Deadline(None)
