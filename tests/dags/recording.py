"""Operators that remember what their try raised, for DAG tests on every Airflow line.

(An on_failure_callback's context has no "exception" on Airflow 3.0 and 3.1, so tests that check the
error class of a failed task record it from the operator itself.)
"""

from __future__ import annotations

from typing import Any

from airflow_provider_tela.operators.batch import TelaBatchOperator
from airflow_provider_tela.operators.tela import TelaCompletionOperator

FAILURES: dict[str, BaseException] = {}


class _Recording:
    task_id: str

    def execute(self, context: Any, **kwargs: Any) -> Any:
        # (**kwargs: Airflow 2.11 calls execute with a per-class sentinel keyword)
        return self._recording(super().execute, context, **kwargs)  # type: ignore[misc]

    def execute_complete(self, context: Any, event: Any) -> Any:
        return self._recording(super().execute_complete, context, event)  # type: ignore[misc]

    def _recording(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except BaseException as exc:
            FAILURES[self.task_id] = exc
            raise


class RecordedCompletion(_Recording, TelaCompletionOperator):
    pass


class AfterSubmit(TelaCompletionOperator):
    """Calls ``after_submit(context, run)`` as soon as the submission's POST answered (a test's crash or
    change of the world there), and ``after_announce(context, run_id)`` once a run id is known."""

    def after_submit(self, context: Any, run: Any) -> None:
        return None

    def after_announce(self, context: Any, run_id: str) -> None:
        return None

    def _open(self, context: Any) -> Any:
        submission = super()._open(context)
        submit_job, announce = submission.submit_job, submission.announce

        def submitted(*args: Any, **kwargs: Any) -> Any:
            run = submit_job(*args, **kwargs)
            self.after_submit(context, run)
            return run

        def announced(job: Any, request_id: str | None = None) -> None:
            announce(job, request_id)
            self.after_announce(context, job.id)

        submission.submit_job, submission.announce = submitted, announced  # type: ignore[method-assign]
        return submission


class RecordedAfterSubmit(_Recording, AfterSubmit):
    pass


class RecordedBatch(_Recording, TelaBatchOperator):
    pass
