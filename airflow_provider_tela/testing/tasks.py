"""Workstation apps and their tasks: from the canvas run behind a task to a person's review.

A task's status is advanced lazily, from the clock, whenever it is read (``Task.settle(now)``): the run
behind it ends at a known time, and review steps configured in advance (``auto_review``) apply at known
times after that, so what a test sees depends only on the clock, not on when its requests arrive.
Nothing here reads the clock itself: ``EmulatorState`` passes ``now`` (a monotonic time) in.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .runs import WORKSPACE_ID, BadRequest, CompletionRequest, Run, iso, output_content, raw_output

TASK_STATUSES = ("created", "running", "validating", "completed", "failed", "cancelled")
ACTIVE_STATUSES = ("created", "running")
REVIEW_ACTIONS = ("approve", "edit", "revoke", "fail", "cancel")
# Whom the emulator records as the user behind its API key (createdBy; approvedBy of a PATCH). Invented.
API_USER = "api@emulator.tela"
DEFAULT_REVIEWER = "reviewer@emulator.tela"
DEFAULT_REJECTION = "Rejected by the reviewer (emulated)"
PROGRESS_STEPS = 3  # created -> running -> review -> done (invented, as the whole progress object)


class TaskError(BadRequest, ValueError):
    """A refused task operation: a 400 (or 404 for an unknown task) naming ``param`` when there is one.
    A ``ValueError`` too, so that the Python helpers and the admin routes report it like other bad input."""

    def __init__(self, message: str, *, status: int = 400, param: str | None = None) -> None:
        super().__init__(message, param, status=status)


@dataclass(frozen=True)
class Application:
    """A Workstation app: a deployed canvas whose task outputs people review (``review=True``)."""

    id: str
    canvas_id: str
    review: bool = True
    title: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "canvas_id": self.canvas_id, "review": self.review, "title": self.title or self.id}


def make_application(app_id: str, *, canvas: str = "canvas-echo", review: bool = True, title: str = "") -> Application:
    if not isinstance(app_id, str) or not app_id:
        raise ValueError("app_id must be a non-empty string")
    if not isinstance(canvas, str) or not canvas:
        raise ValueError("canvas must be the id of a canvas (a non-empty string)")
    if not isinstance(review, bool):
        raise ValueError("review must be True or False")
    return Application(app_id, canvas, review, str(title or ""))


def builtin_applications() -> list[Application]:
    """Besides ``app-echo`` (``canvas-echo``'s own application, no review): apps whose tasks await review."""
    return [
        Application("app-review", "canvas-echo", review=True, title="Echo, reviewed"),
        Application("app-review-structured", "canvas-structured", review=True, title="Structured summary, reviewed"),
        Application("app-fail", "canvas-fail", review=True, title="Always fails, reviewed"),
    ]


# ----------------------------------------------------------------------------- review steps

StepAction = str | Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class ReviewStep:
    """What a reviewer does ``after`` seconds after a task became reviewable (its run ended).

    ``action`` is one of ``REVIEW_ACTIONS`` or a callable given the task (as ``GET /task/{id}`` shows it)
    that returns None (do nothing), an action name, or ``{"action", "output"?, "reason"?, "by"?}``.
    ``output`` (approve, edit) is a value or a callable of the task; it is merged into the output as a
    ``PATCH`` ``outputContent`` is.
    """

    after: float = 0.0
    action: StepAction = "approve"
    output: Any = None
    reason: str | None = None
    by: str = DEFAULT_REVIEWER

    @classmethod
    def parse(cls, spec: ReviewStep | Mapping[str, Any]) -> ReviewStep:
        if isinstance(spec, ReviewStep):
            return spec
        if not isinstance(spec, Mapping):
            raise ValueError(f"a review step is a mapping such as {{'after': 0.5, 'action': 'approve'}}, not {spec!r}")
        unknown = set(spec) - {"after", "action", "output", "reason", "by"}
        if unknown:
            raise ValueError(f"unknown review step field(s): {sorted(unknown)}")
        after = spec.get("after", 0.0)
        if isinstance(after, bool) or not isinstance(after, (int, float)) or not math.isfinite(after) or after < 0:
            raise ValueError("a review step's 'after' must be a finite number of seconds >= 0")
        action = spec.get("action", "approve")
        if not callable(action) and action not in REVIEW_ACTIONS:
            raise ValueError(f"a review step's action must be one of {', '.join(REVIEW_ACTIONS)} or a callable")
        if action == "edit" and spec.get("output") is None:
            raise ValueError("an 'edit' review step needs an 'output'")
        by = spec.get("by", DEFAULT_REVIEWER)
        if not isinstance(by, str) or not by:
            raise ValueError("a review step's 'by' must be a non-empty string (the reviewer's email)")
        reason = spec.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise ValueError("a review step's 'reason' must be a string")
        return cls(float(after), action, spec.get("output"), reason, by)

    def to_dict(self) -> dict[str, Any]:
        return {
            "after": self.after,
            "action": self.action if isinstance(self.action, str) else "<callable>",
            "output": "<callable>" if callable(self.output) else self.output,
            "reason": self.reason,
            "by": self.by,
        }


def parse_steps(spec: Any) -> tuple[ReviewStep, ...]:
    """One step (a mapping) or a sequence of them, applied in order of ``after``; None or [] for none."""
    if spec is None:
        return ()
    if isinstance(spec, (ReviewStep, Mapping)):
        spec = [spec]
    if not isinstance(spec, Sequence) or isinstance(spec, str):
        raise ValueError("auto_review values are a review step or a list of review steps")
    return tuple(sorted((ReviewStep.parse(step) for step in spec), key=lambda step: step.after))


# ----------------------------------------------------------------------------- the task


@dataclass
class Task:
    id: str
    reference: int
    name: str
    application: Application
    version_id: str
    run: Run | None
    request: CompletionRequest
    tags: list[str]
    metadata: dict[str, Any] | None
    created_wall: float
    created_mono: float
    needs_review: bool
    created_via: str  # "completions" or "task"
    status: str = "running"
    steps: list[ReviewStep] = field(default_factory=list)
    reviewable_mono: float | None = None  # when its run ended (or its import): review steps count from here
    output: dict[str, Any] | None = None
    original_output: dict[str, Any] | None = None
    approved_mono: float | None = None
    approved_by: str | None = None
    failure: str | None = None
    run_finished: bool = False  # the task saw its run end (a task cancelled before that never does)
    updated_mono: float = 0.0
    events: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.updated_mono = self.created_mono
        self._event(self.created_mono, "task created", status=self.status)

    # ------------------------------------------------------------------- time

    def wall(self, mono: float) -> float:
        return self.created_wall + (mono - self.created_mono)

    def settle(self, now: float) -> None:
        """Bring the task to ``now``: its run's progress, then every review step due by then."""
        run = self.run
        if run is not None and self.status == "created" and now >= run.starts_running_mono:
            self._move(run.starts_running_mono, "running")
        if run is not None and self.status in ACTIVE_STATUSES and now >= run.ends_mono:
            self._run_ended(run)
        while self.steps and self.reviewable_mono is not None and now >= self.reviewable_mono + self.steps[0].after:
            step = self.steps.pop(0)
            self._apply_step(step, self.reviewable_mono + step.after)

    def _run_ended(self, run: Run) -> None:
        at = run.ends_mono
        self.run_finished = True
        if run.failure:
            self.failure = run.failure
            self._move(at, "failed", event="task run failed", reason=run.failure)
            return
        self.original_output = output_content(run)
        self.output = copy.deepcopy(self.original_output)
        self.reviewable_mono = at
        # "a task run finished (ready for review)"; an app without review goes straight to completed (assumed)
        self._move(at, "validating" if self.needs_review else "completed", event="task run finished")

    def import_output(self, output: dict[str, Any]) -> None:
        """``POST /task`` with ``outputContent``: no execution, stored directly in ``validating``."""
        self.output = copy.deepcopy(output)
        self.original_output = copy.deepcopy(output)
        self.reviewable_mono = self.created_mono
        self.status = "validating"
        self.events[-1]["status"] = "validating"

    def _apply_step(self, step: ReviewStep, at: float) -> None:
        action: Any = step.action
        output, reason, by = step.output, step.reason, step.by
        try:
            if callable(action):
                decided = action(self.to_api())
                if decided is None:
                    return
                if isinstance(decided, Mapping):
                    output = decided.get("output", output)
                    reason, by = decided.get("reason", reason), decided.get("by", by)
                    decided = decided.get("action")
                action = decided
            if callable(output):
                output = output(self.to_api())
        except Exception as exc:  # noqa: BLE001 - a test's own callable: recorded, the task left as it is
            self._event(at, "review step failed", error=f"{type(exc).__name__}: {exc}")
            return
        try:
            self.review(action, at, output=output, reason=reason, by=by)
        except TaskError as exc:
            self._event(at, "review step skipped", action=str(action), reason=exc.message)

    # ------------------------------------------------------------------- review

    def review(self, action: Any, at: float, *, output: Any = None, reason: str | None = None,
               by: str = DEFAULT_REVIEWER) -> None:
        if action == "approve":
            self.approve(at, output=output, by=by)
        elif action == "edit":
            self.edit_output(at, output, by=by)
        elif action == "revoke":
            self.revoke(at)
        elif action == "fail":
            self.fail(at, reason or DEFAULT_REJECTION)
        elif action == "cancel":
            self.cancel(at)
        else:
            raise TaskError(f"unknown review action {action!r}; expected one of {', '.join(REVIEW_ACTIONS)}",
                            param="action")

    def check_updatable(self) -> None:
        """"Update a Task": "Returns 400 (UPDATE_FAILED) while the task is still running"."""
        if self.status in ACTIVE_STATUSES:
            raise TaskError(f"task {self.id} is {self.status}: it can be updated once its run has ended "
                            "(Tela answers 400 UPDATE_FAILED while a task runs)", param="status")

    def check_approvable(self) -> None:
        self.check_updatable()
        if self.status in ("failed", "cancelled"):
            raise TaskError(f"task {self.id} is {self.status}: only a task in validating (or completed) can be "
                            "approved", param="status")

    def check_editable(self) -> None:
        self.check_updatable()
        if self.output is None:
            raise TaskError(f"task {self.id} is {self.status} and has no output to edit", param="outputContent")

    def approve(self, at: float, *, output: Any = None, by: str = DEFAULT_REVIEWER) -> None:
        """``PATCH status: completed``: approvedBy and approvedAt set, a previous revocation cleared."""
        self.check_approvable()
        if output is not None:
            self.edit_output(at, output, by=by)
        self.approved_mono, self.approved_by = at, by
        self._move(at, "completed", event="task approved", by=by)

    def edit_output(self, at: float, patch: Any, *, by: str = DEFAULT_REVIEWER) -> None:
        """Deep-merge ``patch`` into ``outputContent.content``, each changed path in ``metadata.editedFields``.

        A patch holding a ``content`` key is read as a whole ``outputContent`` (its ``content`` is merged);
        any other value is read as (part of) the content itself, as Tela's JS SDK sends it.
        """
        self.check_editable()
        assert self.output is not None
        fragment = patch["content"] if isinstance(patch, Mapping) and "content" in patch else patch
        edits: list[tuple[str, Any]] = []
        content = deep_merge(self.output.get("content"), fragment, "", edits)
        self.output = {**self.output, "content": content}
        if edits:
            metadata = dict(self.metadata or {})
            edited_at = iso(self.wall(at))
            metadata["editedFields"] = [*(metadata.get("editedFields") or []), *(
                {"path": path or "(content)", "author": by, "editedAt": edited_at, "previousValue": previous}
                for path, previous in edits)]
            self.metadata = metadata
        self._touch(at)
        self._event(at, "output edited", by=by, paths=[path or "(content)" for path, _ in edits])

    def revoke(self, at: float) -> None:
        """"Approval revoked: an approved task returns to validating"."""
        if self.status != "completed" or self.approved_mono is None:
            raise TaskError(f"task {self.id} is {self.status} and not approved: there is no approval to revoke",
                            param="status")
        self.approved_mono = self.approved_by = None
        self._move(at, "validating", event="approval revoked")

    def fail(self, at: float, reason: str = DEFAULT_REJECTION) -> None:
        if self.status not in (*ACTIVE_STATUSES, "validating"):
            raise TaskError(f"task {self.id} is {self.status}: only a task not yet completed can fail", param="status")
        self.failure = reason
        self._move(at, "failed", event="task failed", reason=reason)

    def cancel(self, at: float) -> None:
        if self.status not in (*ACTIVE_STATUSES, "validating"):
            raise TaskError(f"task {self.id} is {self.status}: only a task not yet completed can be cancelled",
                            param="status")
        self._move(at, "cancelled", event="task cancelled")

    def rename(self, at: float, name: str) -> None:
        self.name = name
        self._touch(at)
        self._event(at, "renamed", name=name)

    def set_tags(self, at: float, tags: Sequence[str]) -> None:
        self.tags = list(tags)
        self._touch(at)
        self._event(at, "tags set", tags=list(tags))

    # ------------------------------------------------------------------- answers

    def to_api(self, *, include_analytics: bool = False, exclude_io: bool = False) -> dict[str, Any]:
        """The task as ``GET /task/{id}`` answers it (camelCase; call ``settle`` first)."""
        run = self.run
        body: dict[str, Any] = {
            "id": self.id,
            "reference": self.reference,
            "name": self.name,
            "status": self.status,
            "promptApplicationId": self.application.id,
            "promptVersionId": self.version_id,
            "inputContent": self.input_content(),
            "outputContent": copy.deepcopy(self.output),
            "originalOutputContent": copy.deepcopy(self.original_output),
            "rawInput": self.raw_input(),
            "rawOutput": raw_output(run) if run is not None and self.run_finished else None,
            "tags": list(self.tags),
            "metadata": copy.deepcopy(self.metadata),
            "createdBy": API_USER,
            "approvedBy": self.approved_by,
            "approvedAt": iso(self.wall(self.approved_mono)) if self.approved_mono is not None else None,
            "completionRunId": run.id if run is not None else None,
            "workflowRunId": None,
            "sourceType": "prompt",
            "workspaceId": WORKSPACE_ID,
            "createdAt": iso(self.created_wall),
            "updatedAt": iso(self.wall(self.updated_mono)),
        }
        if self.status == "failed":
            body["error"] = {"message": self.failure or DEFAULT_REJECTION}
        if include_analytics:
            body["analytics"] = None  # "null when no analytics row exists yet": the emulator keeps none
        if exclude_io:
            for key in ("inputContent", "outputContent", "originalOutputContent", "rawInput", "rawOutput"):
                body.pop(key)
        return body

    def input_content(self) -> dict[str, Any]:
        request = self.request
        files = [
            {"name": name, "used_at": "variables", "url": value["file_url"], "type": "file", "parsed_content": ""}
            for name, value in request.variables.items()
            if isinstance(value, Mapping) and isinstance(value.get("file_url"), str)
        ]
        return {"variables": copy.deepcopy(request.variables), "messages": copy.deepcopy(request.messages),
                "files": files}

    def raw_input(self) -> dict[str, Any]:
        raw = self.request.raw_input(self.version_id)
        raw.pop("canvas_id")
        return copy.deepcopy(raw)

    def progress(self, now: float) -> dict[str, Any]:
        """An entry of ``GET /task/progress`` (its fields documented, their values invented)."""
        step, percentage = {"created": (0, 0), "validating": (2, 66)}.get(self.status, (PROGRESS_STEPS, 100))
        if self.status == "running":
            run = self.run
            share = min(1.0, (now - run.created_mono) / run.latency) if run is not None and run.latency else 1.0
            step, percentage = 1, 33 + int(33 * share)
        return {
            "taskId": self.id,
            "promptApplicationId": self.application.id,
            "status": self.status,
            "progress": {"currentStep": step, "percentage": percentage, "totalSteps": PROGRESS_STEPS},
            "currentStepInfo": {"name": self.status},
        }

    def snapshot(self) -> dict[str, Any]:
        """``TelaEmulator.tasks()``: the API's task plus what the emulator knows about its history."""
        return {**self.to_api(), "_emulator": {
            "created_via": self.created_via,
            "needs_review": self.needs_review,
            "review_steps_pending": [step.to_dict() for step in self.steps],
            "events": copy.deepcopy(self.events),
        }}

    # ------------------------------------------------------------------- bookkeeping

    def _move(self, at: float, status: str, *, event: str | None = None, **details: Any) -> None:
        self.status = status
        self._touch(at)
        self._event(at, event or status, status=status, **details)

    def _touch(self, at: float) -> None:
        self.updated_mono = max(self.updated_mono, at)

    def _event(self, at: float, what: str, **details: Any) -> None:
        self.events.append({"at": iso(self.wall(at)), "event": what, **details})


def deep_merge(current: Any, patch: Any, path: str, edits: list[tuple[str, Any]]) -> Any:
    """Tela's deep merge of an output edit: objects merge key by key, a list of the same length merges
    item by item, anything else (a list of another length too, as Tela's JS SDK warns) is replaced.
    Every changed leaf is appended to ``edits`` as ``(path, previous value)``."""
    if isinstance(current, Mapping) and isinstance(patch, Mapping):
        merged = dict(current)
        for key, value in patch.items():
            where = f"{path}.{key}" if path else str(key)
            if key in current:
                merged[key] = deep_merge(current[key], value, where, edits)
            else:
                edits.append((where, None))
                merged[key] = copy.deepcopy(value)
        return merged
    if isinstance(current, list) and isinstance(patch, list) and len(current) == len(patch):
        return [deep_merge(old, new, f"{path}.{index}" if path else str(index), edits)
                for index, (old, new) in enumerate(zip(current, patch, strict=True))]
    if current != patch:
        edits.append((path, copy.deepcopy(current)))
    return copy.deepcopy(patch)
