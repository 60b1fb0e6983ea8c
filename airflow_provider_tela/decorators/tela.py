"""``@task.tela``: a TaskFlow function that returns a canvas's variables; the task runs the canvas.

    @task.tela(canvas_id="...", deferrable=True)
    def summarize(path: str):
        return {"document": TelaFile(path)}

The function may also return ``{"variables": {...}, "messages": [...]}``. The task then behaves as a
TelaCompletionOperator with the decorator's arguments: same XCom (return value, ``run_id``, ``usage``),
same waiting modes, same durability.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import (
    DecoratedOperator,
    TaskDecorator,
    context_merge,
    determine_kwargs,
    task_decorator_factory,
)

from airflow_provider_tela.errors import TelaConfigError
from airflow_provider_tela.operators.tela import TelaCompletionOperator

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


def split_returned(value: Any) -> tuple[Mapping[str, Any], list[Any] | None]:
    """The decorated function's return value as (variables, messages)."""
    if not isinstance(value, Mapping):
        raise TelaConfigError(
            f"A @task.tela function must return a dict of variables (or {{'variables': ..., 'messages': ...}}), "
            f"got {type(value).__name__}"
        )
    if set(value) and set(value) <= {"variables", "messages"}:
        return value.get("variables") or {}, value.get("messages")
    return value, None


class _TelaDecoratedOperator(DecoratedOperator, TelaCompletionOperator):
    template_fields: Sequence[str] = (*DecoratedOperator.template_fields, *TelaCompletionOperator.template_fields)
    template_fields_renderers: ClassVar[dict[str, str]] = {
        **DecoratedOperator.template_fields_renderers,
        **TelaCompletionOperator.template_fields_renderers,
    }
    custom_operator_name: str = "@task.tela"
    overwrite_rtif_after_execution: bool = True

    def __init__(
        self,
        *,
        python_callable: Callable,
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(python_callable=python_callable, op_args=op_args, op_kwargs=op_kwargs, **kwargs)

    def execute(self, context: Context) -> Any:
        context_merge(context, self.op_kwargs)
        kwargs = determine_kwargs(self.python_callable, self.op_args, context)
        variables, messages = split_returned(self.python_callable(*self.op_args, **kwargs))
        self.variables = dict(variables)
        if messages is not None:
            self.messages = messages
        if self.deferrable:
            self._keep_lineage_inputs(context)
        # Not DecoratedOperator.execute: it handles multiple outputs (always off here) through an
        # operator-level xcom_push that Airflow 3.0 does not have.
        return TelaCompletionOperator.execute(self, context)

    def _keep_lineage_inputs(self, context: Context) -> None:
        """The task resumes after a deferral in a new instance, which never ran the function: the file
        inputs its lineage events name are kept in an XCom, only while OpenLineage is on."""
        from airflow_provider_tela import _lineage

        if _lineage.wanted():
            context["ti"].xcom_push(key=_lineage.INPUTS_KEY,
                                    value=_lineage.file_inputs(self.variables, self.messages))

    def _resume(self, context: Context, event: dict[str, Any], kind: str) -> Any:
        from airflow_provider_tela import _lineage

        if _lineage.wanted():
            ti = context["ti"]
            kept = ti.xcom_pull(task_ids=ti.task_id, key=_lineage.INPUTS_KEY, map_indexes=ti.map_index)
            self._tela_lineage_inputs = kept if isinstance(kept, list) else []
        return super()._resume(context, event, kind)


def tela_task(python_callable: Callable | None = None, **kwargs: Any) -> TaskDecorator:
    """Wrap a function that returns canvas variables into a TelaCompletionOperator task.

    ``multiple_outputs`` is always off: the function returns the canvas's *input*, so its ``-> dict``
    annotation says nothing about the output, and splitting the canvas's content into XComs would
    fail for text content and let content keys overwrite the ``run_id`` and ``usage`` XComs.
    """
    if kwargs.pop("multiple_outputs", False):
        raise TelaConfigError(
            "@task.tela does not support multiple_outputs=True: the task returns the canvas's content as one "
            "XCom (plus run_id and usage); split it in a downstream task if needed."
        )
    return task_decorator_factory(
        python_callable=python_callable, multiple_outputs=False,
        decorated_operator_class=_TelaDecoratedOperator, **kwargs
    )
