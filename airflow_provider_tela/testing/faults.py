"""Fault injection rules: which requests get a 429, a dropped connection, garbage, ..."""

from __future__ import annotations

import random
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

ERROR_STATUS_KINDS = frozenset({"429", "500", "502", "503", "504"})
# Applied by the middleware before the request reaches its handler.
PRE_HANDLER_KINDS = ERROR_STATUS_KINDS | {"drop_before", "slow", "garbage", "malformed"}
# Applied where they make sense: after the handler ran, on run objects, on SSE streams.
DROP_AFTER_KINDS = frozenset({"drop_after"})
BAD_STATUS_KINDS = frozenset({"bad_status"})  # a run (or task) polled answers this status instead of its own
BAD_STATUS_VALUE = "queued"  # plausible but undocumented, to test clients' handling of unknown statuses
TRUNCATED_SSE_KINDS = frozenset({"truncated_sse"})
# A stream that reports an error after its first chunk, then ends with [DONE]: as a data frame
# ``data: {"error": ...}`` (sse_error) or as ``event: error`` (sse_error_event); the SDK reads both.
SSE_ERROR_KINDS = frozenset({"sse_error", "sse_error_event"})
FAULT_KINDS = PRE_HANDLER_KINDS | DROP_AFTER_KINDS | BAD_STATUS_KINDS | TRUNCATED_SSE_KINDS | SSE_ERROR_KINDS


@dataclass
class FaultRule:
    kind: str
    method: str = "*"
    path: str = "/"
    count: int | None = None
    rate: float | None = None
    retry_after: float = 1
    delay: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {sorted(FAULT_KINDS)}")
        self.method = self.method.upper()
        if self.count is not None and self.count < 1:
            raise ValueError("fault count must be >= 1")
        if self.rate is not None and not 0.0 <= self.rate <= 1.0:
            raise ValueError("fault rate must be between 0 and 1")
        if self.retry_after < 0 or self.delay < 0:
            raise ValueError("retry_after and delay must be >= 0")

    @classmethod
    def parse(cls, spec: FaultRule | Mapping[str, Any]) -> FaultRule:
        if isinstance(spec, FaultRule):
            return spec
        known = {f.name for f in fields(cls)}
        unknown = set(spec) - known
        if unknown:
            raise ValueError(f"unknown fault field(s): {sorted(unknown)}")
        return cls(**{**spec, "kind": str(spec.get("kind"))})

    def matches(self, method: str, path: str) -> bool:
        return (self.method in ("*", method)) and path.startswith(self.path)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FaultInjector:
    """Ordered rules; the first matching rule of the wanted kinds wins."""

    def __init__(self, seed: int = 0) -> None:
        self._rules: list[FaultRule] = []
        self._rng = random.Random(seed)

    def reseed(self, seed: int) -> None:
        self._rng.seed(seed)

    def set_rules(self, rules: Collection[FaultRule | Mapping[str, Any]]) -> None:
        self._rules = [FaultRule.parse(rule) for rule in rules]

    def add(self, rule: FaultRule | Mapping[str, Any]) -> FaultRule:
        parsed = FaultRule.parse(rule)
        self._rules.append(parsed)
        return parsed

    def clear(self) -> None:
        self._rules.clear()

    def snapshot(self) -> list[dict[str, Any]]:
        return [rule.to_dict() for rule in self._rules]

    def take(self, method: str, path: str, kinds: Collection[str]) -> FaultRule | None:
        """Return the rule to apply to this request, consuming one use of it."""
        if not self._rules:  # the common case, keep it cheap
            return None
        for rule in self._rules:
            if rule.kind not in kinds or not rule.matches(method, path):
                continue
            # The RNG is only drawn for matching rules so a seed replays the same sequence.
            if rule.rate is not None and self._rng.random() >= rule.rate:
                continue
            if rule.count is not None:
                rule.count -= 1
                if rule.count == 0:
                    self._rules.remove(rule)
            return rule
        return None
