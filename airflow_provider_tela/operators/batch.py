"""TelaBatchOperator: one canvas run per record, thousands of records in one task, never paying twice.

Nothing heavy is imported at module level (DAG files import this module at every parse): the engine,
the hooks and the models are imported when the task runs.

How a try goes:

1. Before anything is sent, the worker reads the whole input once (``batch.records.scan``): every
   record is validated as a request (and against the canvas with ``validate_variables``), counted
   and hashed. Bad input fails here, naming the record and the field.
2. It finds the batch's state folder (``batch.plan``): the one a previous try of this task instance
   used for the same input (a pointer beside the state folders, or the task state store / an Airflow
   Variable, remembers it), else a new one; it writes the plan there (and inline records as JSONL).
   When the input changed since an earlier try of the same epoch (a retry, not a clear), the new
   folder's ledger starts with the earlier try's runs of the records whose request is unchanged
   (``batch.carry``): those are re-attached, only new or changed records are submitted.
3. It runs the engine (``batch.engine``) with ``asyncio.run``, or defers to ``TelaBatchTrigger``,
   which runs the same engine in the triggerer. The engine resumes from the ledger of earlier tries.
4. It returns the manifest (counts, usage, where the rows are) and fails, after every row is
   written, if more than ``max_failed_fraction`` of the records failed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import BaseOperator, conf

from airflow_provider_tela._types import ON_AMBIGUOUS, OnAmbiguous
from airflow_provider_tela.errors import TelaBatchFailedError, TelaConfigError
from airflow_provider_tela.operators.tela import check_max_cost, check_target, check_timing, check_variables

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_tela._batch.plan import BatchPlan
    from airflow_provider_tela.hooks.tela import TelaAsyncHook

RECORDS_FILE = "records.jsonl"


def _on_ambiguous(value: Any) -> OnAmbiguous:
    """The one vocabulary of both operators; ``"mark"``, this operator's word before 0.1.0, still means "fail"."""
    if value == "mark":
        import warnings

        warnings.warn('on_ambiguous="mark" is now spelt "fail" (the same behaviour: the record is written as '
                      'ambiguous, never resubmitted)', DeprecationWarning, stacklevel=3)
        return "fail"
    if value not in ON_AMBIGUOUS:
        raise TelaConfigError(f"on_ambiguous must be one of {ON_AMBIGUOUS}, got {value!r}")
    return value


class TelaBatchOperator(BaseOperator):
    """Run a Tela canvas once per record and write one JSONL row per record.

    :param records: the records, each a dict of the canvas's variables: a list of dicts, an XComArg
        returning one, or a JSONL or CSV file (local path, object-storage URL such as
        ``s3://bucket/in.jsonl``, or an ``ObjectStoragePath``), read as a stream (templated).
    :param output_path: the folder the results go to (templated): ``{output_path}/results.jsonl``,
        one row per record in record order, ``{"index", "status", "run_id", "content", "error", "usage"}``.
        The batch's state (ledger, parts) is kept under ``{output_path}/_tela_batch/``.
    :param canvas_id: the canvas to run (templated). Give this or ``application_id``.
    :param application_id: a deployed application of a canvas (templated).
    :param variables: variables given to every record (templated); a record's own value wins.
    :param messages: chat messages sent with every record (templated).
    :param override: per-run settings: model, temperature, type, functions, structured_output (templated).
    :param output_schema: a pydantic model class or a JSON schema; turns structured output on.
    :param extra_body: top-level request fields the provider does not manage (templated).
    :param validate_variables: check every record's variables against the canvas's promoted version
        before anything is sent (needs ``canvas_id``).
    :param tela_conn_id: the Tela connection, ``tela_default`` by default.
    :param concurrency: the most records in progress at once (submitted and not yet ended); the
        batch adapts below it when Tela throttles (429/503) and grows back on success.
    :param deferrable: run the batch in the triggerer; default from ``[operators] default_deferrable``.
    :param poll_interval: longest wait between two status checks of a run, in seconds.
    :param timeout: seconds each record may take, from its first submission attempt to its run's end
        (refused submissions retried included); a record past it is ``failed`` (its run is not
        cancelled). Bound the whole batch with ``execution_timeout``.
    :param max_failed_fraction: the share of records (0 to 1) that may fail or be ambiguous without
        failing the task (default 0: any failed record fails the task, after every row is written).
    :param max_cost: stop submitting new records once the batch's cost reaches this; the records not
        started are ``skipped`` and the manifest says why. Runs in progress still finish (and cost). A
        succeeded run whose cost cannot be read counts at the highest cost read from the batch's runs
        (``usage.costs_estimated`` in the manifest); before any cost was read, the batch stops submitting.
        The cost counts every try of the task instance: a retry resumes the total, and a retry whose
        input changed counts what the earlier try's runs of changed or removed records cost
        (``usage.cost_carried``); a clear starts afresh.
    :param on_ambiguous: a record sent without a usable answer (its run may exist, paid): ``"fail"``
        (default) writes it as ``ambiguous`` and never resubmits it (it counts as unsuccessful for
        ``max_failed_fraction``); ``"resubmit"`` submits it again, accepting that its run may then exist
        twice. The same words as TelaCompletionOperator's, the same meaning for one submission.
    :param records_format: ``"jsonl"`` or ``"csv"``, when the file name does not say (``.jsonl``, ``.csv``).
    :param storage_conn_id: the object-storage connection for ``records`` and ``output_path`` given as
        URL strings (an ``ObjectStoragePath`` carries its own).
    """

    template_fields: Sequence[str] = (
        "records", "output_path", "canvas_id", "application_id", "variables", "messages", "override", "extra_body",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {
        "variables": "json", "messages": "json", "override": "json", "extra_body": "json",
    }
    ui_color = "#d9d2f7"

    def __init__(
        self,
        *,
        records: Any,
        output_path: Any,
        canvas_id: str | None = None,
        application_id: str | None = None,
        variables: dict[str, Any] | None = None,
        messages: list[Any] | None = None,
        override: dict[str, Any] | None = None,
        output_schema: Any = None,
        extra_body: dict[str, Any] | None = None,
        validate_variables: bool = False,
        tela_conn_id: str = "tela_default",
        concurrency: int = 20,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 10.0,
        timeout: float = 3600.0,
        max_failed_fraction: float = 0.0,
        max_cost: float | None = None,
        on_ambiguous: OnAmbiguous = "fail",
        records_format: str | None = None,
        storage_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_target(canvas_id, application_id)
        check_variables(variables)
        check_timing(poll_interval, timeout)
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise TelaConfigError(f"concurrency must be a whole number of at least 1, got {concurrency!r}")
        if isinstance(max_failed_fraction, bool) or not isinstance(max_failed_fraction, (int, float)) \
                or not 0 <= max_failed_fraction <= 1:
            raise TelaConfigError(f"max_failed_fraction must be between 0 and 1, got {max_failed_fraction!r}")
        check_max_cost(max_cost)
        on_ambiguous = _on_ambiguous(on_ambiguous)
        if records_format not in (None, "jsonl", "csv"):
            raise TelaConfigError(f"records_format must be 'jsonl', 'csv' or None, got {records_format!r}")
        if validate_variables and not canvas_id:
            raise TelaConfigError(
                "validate_variables=True needs canvas_id: an application's variables cannot be looked up"
            )
        if isinstance(output_path, str) and output_path.rstrip("/").lower().endswith((".jsonl", ".json", ".csv")):
            raise TelaConfigError(
                f"output_path is a folder (results go to {{output_path}}/results.jsonl), got the file name "
                f"{output_path!r}: e.g. output_path='s3://bucket/out/{{{{ run_id }}}}/'"
            )
        self.records = records
        self.output_path = output_path
        self.canvas_id = canvas_id
        self.application_id = application_id
        self.variables = variables
        self.messages = messages
        self.override = override
        self.output_schema = output_schema
        self.extra_body = extra_body
        self.validate_variables = validate_variables
        self.tela_conn_id = tela_conn_id
        self.concurrency = concurrency
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.max_failed_fraction = max_failed_fraction
        self.max_cost = max_cost
        self.on_ambiguous = on_ambiguous
        self.records_format = records_format
        self.storage_conn_id = storage_conn_id

    # --- one try ----------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        import asyncio

        plan = self.plan(context)
        if self.deferrable:
            self._defer(plan)
        with self._ending():
            return self._finish(context, asyncio.run(self._run(plan)))

    def plan(self, context: Context) -> BatchPlan:
        """Validate everything and find (or make) the batch's state folder; nothing is sent to Tela."""
        from airflow_provider_tela._batch import records as inputs
        from airflow_provider_tela._batch.carry import carry_over
        from airflow_provider_tela._batch.plan import (
            PLAN_FILE,
            BatchPlan,
            lineage_pointer,
            read_pointer,
            state_folder,
            write_pointer,
        )
        from airflow_provider_tela._batch.spec import BatchSpec
        from airflow_provider_tela._durable import DurableRun, epoch_of, fingerprint
        from airflow_provider_tela._inputs import output_schema_override
        from airflow_provider_tela._storage import Location

        spec = BatchSpec(self.canvas_id, self.application_id, dict(self.variables or {}), self.messages,
                         output_schema_override(self.output_schema, self.override), self.extra_body)
        spec.request_for({})  # the shared part of every request, checked once with a clear error
        source = inputs.describe(self.records, self.records_format, self.storage_conn_id)
        scan = inputs.scan(source, self._record_check(spec))
        self.log.info("Tela batch: %d records checked from %s", scan.total,
                      source.uri if isinstance(source, inputs.RecordFile) else "an inline list")
        digest = fingerprint(self.tela_conn_id, {"batch": spec.identity(), "records": scan.digest, "total": scan.total})
        durable = DurableRun.open(context, digest)
        ti = context["ti"]
        identity = {"dag_id": ti.dag_id, "task_id": ti.task_id, "run_id": ti.run_id,
                    "map_index": getattr(ti, "map_index", -1)}
        output = inputs.absolute(Location.parse(self.output_path, self.storage_conn_id))  # (the triggerer's cwd)
        epoch = epoch_of(context)
        pointer = lineage_pointer(output, identity, epoch)
        latest = read_pointer(pointer)
        record = durable.decision.record
        if latest is None and record is not None and record.epoch == epoch and record.mode == "batch" \
                and record.run_id:  # a batch of a release without lineage pointers
            latest = {"state_uri": str(record.run_id), "fingerprint": record.fingerprint}
        earlier: str | None = None
        if latest is not None and latest["fingerprint"] == digest:
            state_uri = latest["state_uri"]
            self.log.info("Resuming the batch of an earlier try (state in %s)", state_uri)
        else:
            if latest is not None and Location.parse(latest["state_uri"]).child(PLAN_FILE).exists():
                earlier = latest["state_uri"]
            elif durable.decision.record is not None:
                self.log.info("Starting the batch afresh: %s.", durable.decision.reason)
            state_uri = state_folder(output, identity, epoch, digest, after=earlier).uri
        state_dir = Location.parse(state_uri)
        if not isinstance(source, inputs.RecordFile):  # a trigger reads records from a file, never kwargs
            source = inputs.write_jsonl(state_dir.child(RECORDS_FILE), source)
        if earlier is not None:  # same epoch, other records: the unchanged ones keep their runs
            carry_over(earlier, state_dir, source, spec, self.tela_conn_id, scan.total, self.log)
        plan = BatchPlan(
            spec=spec, records=source, output_uri=output.uri,
            state_uri=state_uri, total=scan.total, records_digest=scan.digest, fingerprint=digest,
            tela_conn_id=self.tela_conn_id, concurrency=self.concurrency, poll_interval=float(self.poll_interval),
            timeout=float(self.timeout), max_cost=self.max_cost, on_ambiguous=self.on_ambiguous,
        )
        plan.save()
        write_pointer(pointer, state_uri, digest)
        if not (durable.decision.action == "reattach" and record is not None and record.run_id == state_uri):
            durable.submitted(state_uri, mode="batch")
        return plan

    def _record_check(self, spec: Any) -> Any:
        from airflow_provider_tela._inputs import files_in

        declared = None
        if self.validate_variables:
            from airflow_provider_tela.hooks.tela import TelaHook

            declared = TelaHook(self.tela_conn_id).get_promoted_version(str(self.canvas_id))

        def check(record: Any) -> None:
            if files_in(record.variables, None):
                raise TelaConfigError("files are not uploaded by a batch: give a file URL ({'file_url': 'https://...'})")
            spec.request_for(record.variables)
            if declared is not None:
                from airflow_provider_tela.hooks.tela import canvas_variable_problems

                problems = canvas_variable_problems(declared, spec.merged(record.variables))
                if problems:
                    raise TelaConfigError(f"variables do not fit canvas {self.canvas_id}: " + "; ".join(problems))

        return check

    def async_hook(self) -> TelaAsyncHook:
        """The client the batch runs with in the worker (created when the task runs)."""
        from airflow_provider_tela.hooks.tela import TelaAsyncHook

        return TelaAsyncHook(self.tela_conn_id)

    async def _run(self, plan: BatchPlan) -> dict[str, Any]:
        from airflow_provider_tela._batch.engine import BatchEngine

        async with self.async_hook() as hook:
            return await BatchEngine(plan, hook, self.log).run()

    def _defer(self, plan: BatchPlan) -> None:
        from airflow_provider_tela.triggers.batch import TelaBatchTrigger

        # No backstop of its own: a batch's length depends on its size and Tela's throughput. The
        # task's execution_timeout, if set, bounds the deferral.
        self.defer(trigger=TelaBatchTrigger(state_uri=plan.state_uri, tela_conn_id=self.tela_conn_id),
                   method_name="execute_complete", timeout=self.execution_timeout)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        from airflow_provider_tela.errors import error_from_event

        with self._ending():
            if event.get("status") != "success":
                raise error_from_event(event)
            return self._finish(context, event["manifest"])

    def _finish(self, context: Context, manifest: dict[str, Any]) -> dict[str, Any]:
        from airflow_provider_tela._batch.plan import judge
        from airflow_provider_tela._durable import DurableRun

        usage = manifest["usage"]
        self.log.info(
            "Tela batch done: %d records, %d succeeded, %d failed, %d ambiguous, %d skipped; %s input tokens, "
            "%s output tokens, cost %s. Rows: %s", manifest["total"], manifest["succeeded"], manifest["failed"],
            manifest["ambiguous"], manifest["skipped"], usage["input_tokens"], usage["output_tokens"], usage["cost"],
            manifest["output_uri"],
        )
        if manifest.get("skipped_reason"):
            self.log.warning("Skipped records: %s", manifest["skipped_reason"])
        DurableRun.end_for(context)
        try:
            judge(manifest, self.max_failed_fraction)
        except TelaBatchFailedError:
            self._ended("failed", manifest)
            raise
        self._ended("succeeded", manifest)
        return manifest

    @contextmanager
    def _ending(self) -> Iterator[None]:
        """Around the batch's run: one that ends in an error before its manifest reports that."""
        try:
            yield
        except Exception:  # (a deferral is a BaseException: it is no end)
            self._ended("error", None)
            raise

    def _ended(self, status: str, manifest: dict[str, Any] | None) -> None:
        """How this try's batch ended, once: kept for the lineage events, and told to the metrics."""
        if getattr(self, "_tela_status", None) is not None:
            return
        self._tela_status, self._tela_manifest = status, manifest
        from airflow_provider_tela import _metrics

        _metrics.batch(status, manifest, _metrics.tags_for(self.tela_conn_id, type(self).__name__, self.canvas_id,
                                                           self.application_id))

    # --- OpenLineage (its provider calls these; nothing else does) --------------------------------

    def get_openlineage_facets_on_start(self) -> Any:
        from airflow_provider_tela import _lineage

        return _lineage.batch(self)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        from airflow_provider_tela import _lineage

        return _lineage.batch(self, getattr(self, "_tela_manifest", None), "succeeded")

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        from airflow_provider_tela import _lineage

        return _lineage.batch(self, getattr(self, "_tela_manifest", None), "error")
