"""OpenLineage: what the operators report as inputs, outputs and facets (docs/observability.md).

Only the OpenLineage provider calls the operators' ``get_openlineage_facets_on_*`` methods, which import
this module: a deployment without it never does. Importing this module imports nothing but the
standard library; the OpenLineage classes are imported (and the provider's facets defined) when an
event is built.

What an event holds is ids, names and figures, never a key or a variable's value:

- inputs: each file variable whose source is a local path or in object storage (the file's location,
  never its content; a URL, ``data:`` URI or bytes is not a dataset: a URL may be signed), and the
  batch's records file; outputs: ``output_path``, the batch's results file. Locations lose any user
  name, password, query and fragment;
- job facet ``tela``: the canvas, version or application, the operator, and the variables' names;
- run facets: ``externalQuery`` (the Tela run or task id, once known) and ``tela``: how the try
  ended (the same ``status`` words as the metrics), the run's usage, or the batch's counts and usage.

After a deferral the task resumes in a new operator instance, and that instance's ``execute_complete``
is what the complete or failure event describes: the run's outcome is kept on it (``Submission``'s
outcome, the batch's manifest), and ``@task.tela``, whose variables come from its function, keeps its
file inputs in an XCom (``tela_lineage``) when it defers, pushed only while OpenLineage is on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from typing import Any
from urllib.parse import urlsplit

INPUTS_KEY = "tela_lineage"  # @task.tela's file inputs, across a deferral (only while OpenLineage is on)
SOURCE = "tela"


def wanted() -> bool:
    """Whether OpenLineage is installed and on (a transport configured, not disabled)."""
    try:
        from airflow.providers.openlineage import conf
    except ImportError:
        return False
    try:
        return not conf.is_disabled()
    except Exception:  # noqa: BLE001 - lineage must never fail a task
        return False


# --- where things are, as OpenLineage names datasets -----------------------------------------------


def dataset_name(location: Any) -> tuple[str, str] | None:
    """(namespace, name) of a local path or an object-storage location, as OpenLineage's naming spec
    has it (``file`` and the absolute path; ``s3://bucket`` and the key); None for anything else."""
    text = str(location)
    if "://" not in text:
        return ("file", os.path.abspath(os.path.expanduser(text))) if text.strip() else None
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https", "data", ""):
        return None
    if scheme == "file":
        return "file", parts.path or "/"
    host = parts.hostname or ""  # (user name and password dropped: an ObjectStoragePath names its conn_id so)
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{scheme}://{host}", parts.path.lstrip("/")


def file_inputs(variables: Mapping[str, Any] | None, messages: Any = None) -> list[dict[str, str]]:
    """The datasets a request's file variables read: ``{"namespace", "name", "variable"}`` each."""
    from airflow_provider_tela._files import as_tela_file, is_file_value

    found: list[tuple[str, Any]] = []
    for name, value in (variables or {}).items() if isinstance(variables, Mapping) else ():
        members = value if isinstance(value, (list, tuple)) else [value]
        found += [(str(name), member) for member in members if is_file_value(member)]
    for message in messages if isinstance(messages, (list, tuple)) else ():
        if isinstance(message, Mapping) and is_file_value(message.get("content")):
            found.append(("messages", message["content"]))
    inputs = []
    for name, value in found:
        tela_file = as_tela_file(value)
        if tela_file.kind not in ("local", "object_storage"):
            continue
        dataset = dataset_name(tela_file.source)
        if dataset is not None:
            inputs.append({"namespace": dataset[0], "name": dataset[1], "variable": name})
    return inputs


def variable_names(variables: Any) -> list[str]:
    return sorted(str(name) for name in variables) if isinstance(variables, Mapping) else []


# --- the events -------------------------------------------------------------------------------------


@cache
def _facets() -> Any:
    """The provider's facet classes (defined once OpenLineage is importable)."""
    import attr
    from openlineage.client.facet_v2 import JobFacet, RunFacet

    @attr.define
    class TelaJobFacet(JobFacet):
        """What the task runs in Tela: a canvas (or a version of it), or a Workstation application."""

        operator: str
        canvasId: str | None = None
        versionId: str | None = None
        applicationId: str | None = None
        variableNames: list[str] = attr.field(factory=list)

    @attr.define
    class TelaRunFacet(RunFacet):
        """How the try's run or task ended, and what it used (tokens, cost, duration)."""

        status: str
        kind: str = "run"
        id: str | None = None
        usage: dict[str, Any] = attr.field(factory=dict)

    @attr.define
    class TelaBatchRunFacet(RunFacet):
        """How a batch ended: its records by status and what they used."""

        status: str
        total: int | None = None
        succeeded: int | None = None
        failed: int | None = None
        ambiguous: int | None = None
        skipped: int | None = None
        usage: dict[str, Any] = attr.field(factory=dict)
        skippedReason: str | None = None

    return TelaJobFacet, TelaRunFacet, TelaBatchRunFacet


def _lineage(inputs: list[dict[str, str]], outputs: list[tuple[str, str]], job: Any, run: dict[str, Any]) -> Any:
    from airflow.providers.common.compat.openlineage.facet import Dataset
    from airflow.providers.openlineage.extractors import OperatorLineage

    seen: set[tuple[str, str]] = set()
    datasets = []
    for item in inputs:
        key = (item["namespace"], item["name"])
        if key not in seen:
            seen.add(key)
            datasets.append(Dataset(namespace=key[0], name=key[1]))
    return OperatorLineage(inputs=datasets, outputs=[Dataset(namespace=ns, name=name) for ns, name in outputs],
                           job_facets={"tela": job}, run_facets=run)


def _operator_name(operator: Any) -> str:
    return str(getattr(operator, "custom_operator_name", None) or type(operator).__name__)


def _figures(usage: Mapping[str, Any] | None) -> dict[str, Any]:
    from airflow_provider_tela._batch.spend import figure

    return {key: value for key, value in (usage or {}).items() if figure(value) is not None}


def completion(operator: Any, outcome: Any = None, ended: str | None = None) -> Any:
    """TelaCompletionOperator's (and ``@task.tela``'s) lineage; ``ended``: None for the start event,
    "succeeded" or "error" (the task's end, when its try left no outcome of its own)."""
    from openlineage.client.facet_v2 import external_query_run

    job_facet, run_facet, _ = _facets()
    kept = getattr(operator, "_tela_lineage_inputs", None)  # @task.tela after a deferral
    inputs = kept if isinstance(kept, list) else file_inputs(operator.variables, operator.messages)
    output = dataset_name(operator.output_path) if operator.output_path else None
    job = job_facet(operator=_operator_name(operator), canvasId=_text(operator.canvas_id),
                    versionId=_text(operator.version_id), applicationId=_text(operator.application_id),
                    variableNames=variable_names(operator.variables))
    run: dict[str, Any] = {}
    if ended is not None:
        status = getattr(outcome, "status", None) or ended
        job_id = getattr(outcome, "job_id", None)
        kind = str(getattr(outcome, "kind", None) or ("task" if operator.application_id else "run"))
        run["tela"] = run_facet(status=status, kind=kind, id=job_id, usage=_figures(getattr(outcome, "usage", None)))
        if job_id:
            run["externalQuery"] = external_query_run.ExternalQueryRunFacet(externalQueryId=job_id, source=SOURCE)
    return _lineage(inputs, [output] if output else [], job, run)


def batch(operator: Any, manifest: Mapping[str, Any] | None = None, ended: str | None = None) -> Any:
    """TelaBatchOperator's lineage: the records file in, the results file out, the manifest's figures."""
    job_facet, _, batch_facet = _facets()
    records = operator.records
    source = dataset_name(records) if isinstance(records, (str, os.PathLike)) or _is_storage(records) else None
    inputs = [{"namespace": source[0], "name": source[1], "variable": "records"}] if source else []
    folder = dataset_name(operator.output_path) if operator.output_path else None
    output = (folder[0], f"{folder[1].rstrip('/')}/results.jsonl") if folder else None
    variables = operator.variables if isinstance(operator.variables, Mapping) else {}
    job = job_facet(operator=_operator_name(operator), canvasId=_text(operator.canvas_id),
                    applicationId=_text(operator.application_id), variableNames=variable_names(variables))
    run: dict[str, Any] = {}
    if ended is not None:
        manifest = manifest or {}
        status = str(getattr(operator, "_tela_status", None) or ended)
        usage = _figures(manifest.get("usage"))
        run["tela"] = batch_facet(
            status=status, total=manifest.get("total"), succeeded=manifest.get("succeeded"),
            failed=manifest.get("failed"), ambiguous=manifest.get("ambiguous"), skipped=manifest.get("skipped"),
            usage=usage, skippedReason=manifest.get("skipped_reason"))
    return _lineage(inputs, [output] if output else [], job, run)


def _text(value: Any) -> str | None:
    return str(value) if value else None


def _is_storage(value: Any) -> bool:
    return any(cls.__name__ == "ObjectStoragePath" for cls in type(value).__mro__)
