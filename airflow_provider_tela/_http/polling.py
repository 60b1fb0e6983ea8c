"""The wait schedule of a run, shared by the worker's polling loop and the trigger."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_tela._http.responses import decode_model
from airflow_provider_tela.errors import TelaRunFailedError
from airflow_provider_tela.models import CanvasRun, RunProgress, RunStatus

if TYPE_CHECKING:
    from airflow_provider_tela._http.calls import ApiCall

FIRST_POLL_DELAY = 1.0


def poll_delay(poll_number: int, poll_interval: float) -> float:
    """Seconds to wait before poll ``poll_number`` (0-based).

    The first check comes soon after submission, because short canvases finish in seconds; the wait
    then doubles up to ``poll_interval``, so long runs cost few requests.
    """
    return min(poll_interval, FIRST_POLL_DELAY * (2 ** poll_number))


def parse_poll(call: ApiCall, body: bytes, secrets: tuple[str, ...], run_id: str) -> CanvasRun | RunProgress:
    """A poll's answer: only id and status while the run is active, the whole run once it ended.

    Most polls find the run still active; validating the whole object each time (inputs, raw
    input, variables) would cost the triggerer more CPU than the request itself adds.
    """
    progress = decode_model(call, RunProgress, body, secrets, f"run {run_id}")
    if not progress.status.is_terminal:
        return progress
    return decode_model(call, CanvasRun, body, secrets, f"run {run_id}")


def run_finished(run: CanvasRun | RunProgress) -> bool:
    """True once the run succeeded, False while it is active; raises TelaRunFailedError if it failed."""
    if run.status is RunStatus.FAILED:
        raise TelaRunFailedError(run.id, run.failure_reason())
    return run.status is RunStatus.SUCCEEDED
