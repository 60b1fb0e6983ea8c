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


class RecordedBatch(_Recording, TelaBatchOperator):
    pass
