"""What the provider tells Airflow's metrics (``Stats``: statsd, Datadog or OpenTelemetry, whichever the
deployment has on) when a try's run, task or batch is over. Names are listed in docs/observability.md.

Called from the one place each outcome is known: ``Submission.report`` (a TelaCompletionOperator or
``@task.tela`` try, whatever way it ended) and ``TelaBatchOperator``'s end (its manifest, or the error).
Tags are few and of low cardinality (the connection id, the canvas or application id, the operator):
never a run id, a record, a variable or anything Tela returned. With metrics off ([metrics] statsd_on,
statsd_datadog_enabled and otel_on all false) nothing is imported and nothing else is done.

A cost is counted in millionths of Tela's unit (``cost_micros``: ``round(cost * 1e6)``), so that it
stays an integer counter on every backend; durations are timers in milliseconds. A figure Tela did
not report readably (missing, NaN, negative) is not sent. Nothing here can fail a task: an error of
the metrics backend is logged and forgotten.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import timedelta
from functools import cache
from typing import Any

log = logging.getLogger(__name__)

PREFIX = "tela"
METRICS_SWITCHES = ("statsd_on", "statsd_datadog_enabled", "otel_on")


@cache
def enabled() -> bool:
    """Whether the deployment sends metrics at all. Read once per process, as Airflow reads [metrics]
    (three configuration look-ups: about 0.2 ms, then nothing)."""
    from airflow.providers.common.compat.sdk import conf

    return any(conf.getboolean("metrics", switch, fallback=False) for switch in METRICS_SWITCHES)


def tags_for(conn_id: str, operator: str, canvas_id: Any = None, application_id: Any = None) -> dict[str, str]:
    """The tags of one task's metrics. Values keep to the characters every backend takes in a metric
    name (statsd with InfluxDB tags puts them there: Airflow drops a metric whose name holds others),
    so ``@task.tela`` is ``task.tela``."""
    tags = {"conn_id": _tag(conn_id), "operator": _tag(operator)}
    if application_id:
        tags["application_id"] = _tag(application_id)
    elif canvas_id:
        tags["canvas_id"] = _tag(canvas_id)
    return tags


def _tag(value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(value).lstrip("@")) or "_"


def completion(status: str, usage: Mapping[str, Any] | None, tags: dict[str, str]) -> None:
    """One try of TelaCompletionOperator / ``@task.tela`` ended with ``status`` (its run's ``usage``)."""
    if not enabled():
        return
    _send(_completion, status, usage or {}, tags)


def batch(status: str, manifest: Mapping[str, Any] | None, tags: dict[str, str]) -> None:
    """A TelaBatchOperator try ended: ``status`` ("succeeded", "failed": too many failed records, or
    "error"), with its manifest when it got that far."""
    if not enabled():
        return
    _send(_batch, status, manifest or {}, tags)


def _send(emit: Any, *args: Any) -> None:
    try:
        from airflow.providers.common.compat.sdk import Stats

        emit(Stats, *args)
    except Exception as exc:  # noqa: BLE001 - a metrics backend must never fail a task
        log.warning("Tela metrics were not sent (%s: %s)", type(exc).__name__, exc)


def _figure(value: Any) -> float | None:
    from airflow_provider_tela._batch.spend import figure

    found = figure(value)
    return None if found is None else float(found)


def _usage(stats: Any, what: str, usage: Mapping[str, Any], tags: dict[str, str]) -> None:
    for key in ("input_tokens", "output_tokens"):
        count = _figure(usage.get(key))
        if count is not None:
            stats.incr(f"{PREFIX}.{what}.{key}", count=int(count), tags=tags)
    cost = _figure(usage.get("cost"))
    if cost is not None:
        stats.incr(f"{PREFIX}.{what}.cost_micros", count=round(cost * 1_000_000), tags=tags)


def _completion(stats: Any, status: str, usage: Mapping[str, Any], tags: dict[str, str]) -> None:
    stats.incr(f"{PREFIX}.completion.{status}", tags=tags)
    _usage(stats, "completion", usage, tags)
    duration = _figure(usage.get("duration"))
    if duration is not None:
        stats.timing(f"{PREFIX}.completion.duration", timedelta(seconds=duration), tags=tags)


def _batch(stats: Any, status: str, manifest: Mapping[str, Any], tags: dict[str, str]) -> None:
    stats.incr(f"{PREFIX}.batch.{status}", tags=tags)
    for record_status in ("succeeded", "failed", "ambiguous", "skipped"):
        count = _figure(manifest.get(record_status))
        if count:
            stats.incr(f"{PREFIX}.batch.records.{record_status}", count=int(count), tags=tags)
    usage = manifest.get("usage") or {}
    _usage(stats, "batch", usage, tags)
    estimated = _figure(usage.get("costs_estimated"))
    if estimated:
        stats.incr(f"{PREFIX}.batch.costs_estimated", count=int(estimated), tags=tags)
    throttling = manifest.get("throttling") or {}
    for reason, count in (throttling.get("refused") or {}).items():
        stats.incr(f"{PREFIX}.batch.throttled", count=int(count), tags={**tags, "reason": str(reason)})
    window = _figure(throttling.get("window_min"))
    if window is not None:
        stats.gauge(f"{PREFIX}.batch.window_min", window, tags=tags)
