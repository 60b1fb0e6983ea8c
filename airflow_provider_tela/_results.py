"""What a finished run leaves behind in Airflow: the run id, the usage XCom and the returned content.

The operator and the sensor both finish runs in two ways (in the worker, or from a trigger event);
this module is where both ways end, so the XCom contract exists once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_tela.errors import (
    TelaBudgetError,
    TelaRunFailedError,
    TelaRunMayExistError,
    TelaTimeoutError,
    error_from_event,
)

if TYPE_CHECKING:
    from airflow_provider_tela.hooks.tela import TelaHook

RUN_ID_KEY = "run_id"
TASK_ID_KEY = "tela_task_id"
TASK_KEY = "tela_task"  # a Workstation task's review: status, approved at and by, edited, ...
USAGE_KEY = "usage"

OutputCheck = Callable[[Any], None]


@dataclass
class Outcome:
    """How a try's submission ended, as metrics and lineage report it (ids and figures, never content).

    ``status``: ``succeeded``; ``failed`` (the run or task failed); ``timeout`` (not over in time: a retry
    re-attaches); ``ambiguous`` (sent without a usable answer); ``invalid_output`` (over, its output
    refused by ``output_schema``); ``over_budget`` (``max_cost`` spent by earlier tries: not submitted);
    ``error`` (anything else: refused, unreachable, a store that failed); ``submitted``
    (``wait_for_completion=False``: not waited for). None while the try is under way.
    """

    kind: str = "run"
    status: str | None = None
    job_id: str | None = None
    usage: dict[str, Any] | None = None


def outcome_of(error: BaseException) -> str:
    """The ``Outcome.status`` of a try that ended with ``error``."""
    if isinstance(error, TelaRunFailedError):
        return "failed"
    if isinstance(error, TelaTimeoutError):
        return "timeout"
    if isinstance(error, TelaRunMayExistError):
        return "ambiguous"
    if isinstance(error, TelaBudgetError):
        return "over_budget"
    return "error"


def push_ids(context: Any, kind: str, job_id: str, log: Any, request_id: str | None = None,
             run_id: str | None = None) -> None:
    """The id of what was submitted, to XCom (``run_id``; a task's under ``tela_task_id``, with its run's)."""
    ti = context["ti"]
    if kind == "task":
        ti.xcom_push(key=TASK_ID_KEY, value=job_id)
        if run_id:
            ti.xcom_push(key=RUN_ID_KEY, value=run_id)
    else:
        ti.xcom_push(key=RUN_ID_KEY, value=job_id)
    named = f" (Tela request id: {request_id})" if request_id else ""
    log.info("Tela %s id: %s%s", kind, job_id, named)


def describe_usage(usage: dict[str, Any]) -> str:
    keys = ("input_tokens", "output_tokens", "cost", "duration")
    parts = [f"{key}={usage[key]}" for key in keys if usage.get(key) is not None]
    return ", ".join(parts) or "no usage reported"


def finish(
    context: Any, run_id: str, usage: dict[str, Any], content: Any, log: Any, check: OutputCheck | None = None,
    what: str = "run",
) -> Any:
    """Check the output, push usage, log it in one line, and return the content (XCom ``return_value``).

    Called exactly once per successful try, whichever way the try learned the outcome.
    """
    if check is not None:
        check(content)
    content = storable(content, log, f"Tela {what} {run_id}")
    context["ti"].xcom_push(key=USAGE_KEY, value=usage)
    log.info("Tela %s %s succeeded: %s", what, run_id, describe_usage(usage))
    return content


def storable(content: Any, log: Any, what: str) -> Any:
    """Content as Airflow's metadata database stores it (XCom, trigger events), said when it changed."""
    from airflow_provider_tela._storage import plain_json

    content, mended = plain_json(content)
    if mended:
        log.warning("%s: %d value(s) of its content cannot be stored as JSON as they are (NaN, Infinity, or half "
                    "an emoji): stored as null or U+FFFD.", what, mended)
    return content


def event_result(
    event: dict[str, Any], hook_factory: Callable[[], TelaHook], timeout: float | None, kind: str = "run"
) -> tuple[str, dict[str, Any], Any, dict[str, Any] | None]:
    """The (id, usage, content, task review) of a trigger's success event; any other event raises its error.

    The error class crosses the trigger boundary: a 401 while deferred is TelaAuthenticationError here.
    """
    run_id = str(event.get("run_id", "?"))
    status = event.get("status")
    what = "task" if kind == "task" else "run"
    if status == "success":
        if event.get("content_inline", True):
            return run_id, event.get("usage") or {}, event.get("content"), event.get("task")
        found = hook_factory().get_task(run_id) if kind == "task" else hook_factory().get_run(run_id)
        return run_id, found.usage, found.content, event.get("task")
    if status == "failed":
        raise TelaRunFailedError(run_id, event.get("message", "no reason given"), what, event.get("usage"))
    if status == "timeout":
        raise TelaTimeoutError(run_id, timeout or 0, event.get("last_status"), what)
    raise error_from_event(event)


def output_check(output_schema: Any) -> OutputCheck | None:
    """With a pydantic model as ``output_schema``, check the structured output against it."""
    if not (isinstance(output_schema, type) and hasattr(output_schema, "model_validate")):
        return None

    def check(content: Any) -> None:
        from pydantic import ValidationError

        from airflow_provider_tela.errors import TelaBadResponseError
        from airflow_provider_tela.models import describe_validation_error

        error = None
        try:
            output_schema.model_validate(content)
        except ValidationError as exc:
            error = TelaBadResponseError(
                f"The canvas's structured output does not match {output_schema.__name__}: "
                f"{describe_validation_error(exc)}"
            )
        if error is not None:
            raise error

    return check
