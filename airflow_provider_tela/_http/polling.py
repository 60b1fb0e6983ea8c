"""The wait schedule of a run, shared by the worker's polling loop and the trigger."""

from __future__ import annotations

from airflow_provider_tela.errors import TelaRunFailedError
from airflow_provider_tela.models import CanvasRun, RunStatus

FIRST_POLL_DELAY = 1.0


def poll_delay(poll_number: int, poll_interval: float) -> float:
    """Seconds to wait before poll ``poll_number`` (0-based).

    The first check comes soon after submission, because short canvases finish in seconds; the wait
    then doubles up to ``poll_interval``, so long runs cost few requests.
    """
    return min(poll_interval, FIRST_POLL_DELAY * (2 ** poll_number))


def run_finished(run: CanvasRun) -> bool:
    """True once the run succeeded, False while it is active; raises TelaRunFailedError if it failed."""
    if run.status is RunStatus.FAILED:
        raise TelaRunFailedError(run.id, run.failure_reason())
    return run.status is RunStatus.SUCCEEDED
