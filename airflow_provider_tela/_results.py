"""What a finished run leaves behind in Airflow: the run id, the usage XCom and the returned content.

The operator and the sensor both finish runs in two ways (in the worker, or from a trigger event);
this module is where both ways end, so the XCom contract exists once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from airflow_provider_tela.errors import TelaError, TelaRunFailedError, TelaTimeoutError

if TYPE_CHECKING:
    from airflow_provider_tela.hooks.tela import TelaHook
    from airflow_provider_tela.models import CanvasRun

RUN_ID_KEY = "run_id"
USAGE_KEY = "usage"


def push_run_id(context: Any, run_id: str, log: Any) -> None:
    context["ti"].xcom_push(key=RUN_ID_KEY, value=run_id)
    log.info("Tela run id: %s", run_id)


def describe_usage(usage: dict[str, Any]) -> str:
    parts = [f"{key}={usage[key]}" for key in ("input_tokens", "output_tokens", "cost", "duration") if usage.get(key) is not None]
    return ", ".join(parts) or "no usage reported"


OutputCheck = Callable[[Any], None]


def finish(
    context: Any, run_id: str, usage: dict[str, Any], content: Any, log: Any, check: OutputCheck | None = None
) -> Any:
    """Push usage, log it in one line, and return the content (it becomes XCom ``return_value``)."""
    if check is not None:
        check(content)
    context["ti"].xcom_push(key=USAGE_KEY, value=usage)
    log.info("Tela run %s succeeded: %s", run_id, describe_usage(usage))
    return content


def finish_run(context: Any, run: CanvasRun, log: Any, check: OutputCheck | None = None) -> Any:
    return finish(context, run.id, run.usage, run.content, log, check)


def finish_event(
    context: Any,
    event: dict[str, Any],
    hook_factory: Callable[[], TelaHook],
    timeout: float | None,
    log: Any,
    check: OutputCheck | None = None,
) -> Any:
    """Turn the trigger's event into the task's result, or into the error the task fails with."""
    run_id = event.get("run_id", "?")
    status = event.get("status")
    if status == "success":
        if event.get("content_inline", True):
            return finish(context, run_id, event.get("usage") or {}, event.get("content"), log, check)
        return finish_run(context, hook_factory().get_run(run_id), log, check)
    if status == "failed":
        raise TelaRunFailedError(run_id, event.get("message", "no reason given"))
    if status == "timeout":
        raise TelaTimeoutError(run_id, timeout or 0, event.get("last_status"))
    raise TelaError(f"Waiting for Tela run {run_id} failed: {event.get('message', event)}")


def output_check(output_schema: Any) -> OutputCheck | None:
    """With a pydantic model as ``output_schema``, check the structured output against it."""
    if not (isinstance(output_schema, type) and hasattr(output_schema, "model_validate")):
        return None

    def check(content: Any) -> None:
        from pydantic import ValidationError

        from airflow_provider_tela.errors import TelaBadResponseError
        from airflow_provider_tela.models import describe_validation_error

        try:
            output_schema.model_validate(content)
        except ValidationError as exc:
            raise TelaBadResponseError(
                f"The canvas's structured output does not match {output_schema.__name__}: "
                f"{describe_validation_error(exc)}"
            ) from exc

    return check
