"""Everything the emulator remembers: configuration, canvases, apps, runs, tasks, files and counters.

All mutation happens on the server's event loop (``TelaEmulator`` marshals calls
from other threads there), so no locks are needed.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter, deque
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from aiohttp import web

from .canvases import Canvas, builtin_canvases
from .faults import FaultInjector, FaultRule
from .files import FileResolutionError, FileStore
from .runs import BadRequest, CompletionRequest, Run, execute, file_variables, run_object
from .tasks import (
    API_USER,
    DEFAULT_REVIEWER,
    Application,
    ReviewStep,
    Task,
    TaskError,
    builtin_applications,
    parse_steps,
)
from .webhooks import WebhookSender

DEFAULT_API_KEY = "tela-emulator-key"
# Every knob with a fixed set of values, the first being the default (docs/emulator-workstation.md says why).
CHOICES: dict[str, tuple[str, ...]] = {
    # Key spelling of POST /v2/file's answer: "snake" (documented), "camel" (what tela 0.2.2 reads) or "both".
    "file_url_style": ("snake", "camel", "both"),
    # Reply to async / webhook canvas submissions: "run" (the run object, status created) or "id" ({"id"} only).
    "async_reply": ("run", "id"),
    # What a completion naming application_id creates: a Workstation task (the guide) or a plain canvas run.
    "application_mode": ("task", "run"),
    # What POST /v2/chat/completions answers for a task: the task, a completion run naming no task, or a
    # completion run that also names the task (task_id). Undocumented; the guide's polling example reads the
    # answer's id as the task's.
    "task_reply": ("task", "run", "run_with_task_id"),
    # POST /task's answer: always a list (the API reference's example), or the shape of the body ("mirror").
    "create_task_reply": ("list", "mirror"),
    # GET /task's answer: {"data": [...], "metadata": {...}} or a bare list.
    "task_list_reply": ("data", "array"),
    # A task's status while its run has not ended: "running" from the start (the guide, the API reference),
    # or "created" for the run's first tenth, then "running" (the JS SDK's created -> running).
    "task_start_status": ("running", "created"),
    # Where a task of an app without review goes when its run ends (undocumented).
    "unreviewed_status": ("completed", "validating"),
    # label with a canvas (no application_id): refused with a 400 naming it, or recorded like any extra field.
    "label_with_canvas": ("refuse", "record"),
}
REQUEST_LOG_SIZE = 1000


@dataclass
class EmulatorConfig:
    api_key: str = DEFAULT_API_KEY
    forbidden_keys: tuple[str, ...] = ()
    run_latency: float = 0.2
    seed: int = 0
    # Per-canvas latency set at runtime; wins over the latency a canvas was registered with.
    canvas_latency: dict[str, float] = field(default_factory=dict)
    file_url_style: str = "snake"
    async_reply: str = "run"
    application_mode: str = "task"
    task_reply: str = "task"
    create_task_reply: str = "list"
    task_list_reply: str = "data"
    task_start_status: str = "running"
    unreviewed_status: str = "completed"
    label_with_canvas: str = "refuse"
    # Review steps per application id ("*": every app), given to each task when it is created.
    auto_review: dict[str, tuple[ReviewStep, ...]] = field(default_factory=dict)

    def copy(self) -> EmulatorConfig:
        return replace(self, canvas_latency=dict(self.canvas_latency), auto_review=dict(self.auto_review))

    def to_dict(self, faults: list[dict[str, Any]]) -> dict[str, Any]:
        # The API key is deliberately absent: configuration is readable without auth.
        return {
            "run_latency": self.run_latency,
            "seed": self.seed,
            "canvas_latency": dict(self.canvas_latency),
            **{name: getattr(self, name) for name in CHOICES},
            "auto_review": {app: [step.to_dict() for step in steps] for app, steps in self.auto_review.items()},
            "forbidden_keys_count": len(self.forbidden_keys),
            "faults": faults,
        }


@dataclass
class Stats:
    connections_opened: int = 0
    requests: int = 0
    admin_requests: int = 0
    completions_posted: int = 0
    runs_created: int = 0
    runs_by_canvas: Counter[str] = field(default_factory=Counter)
    runs_by_mode: Counter[str] = field(default_factory=Counter)
    polls: int = 0
    polls_by_run: Counter[str] = field(default_factory=Counter)
    files_created: int = 0
    uploads: int = 0
    bytes_uploaded: int = 0
    file_downloads: int = 0
    promoted_version_gets: int = 0
    webhooks_sent: int = 0
    webhooks_failed: int = 0
    webhook_deliveries: list[dict[str, Any]] = field(default_factory=list)
    faults_injected: Counter[str] = field(default_factory=Counter)
    auth_failures: int = 0
    spec_rejections: int = 0
    unknown_routes: int = 0
    # Workstation
    tasks_created: int = 0
    tasks_by_app: Counter[str] = field(default_factory=Counter)
    tasks_by_route: Counter[str] = field(default_factory=Counter)  # "completions" or "task"
    task_posts: int = 0
    task_gets: int = 0
    task_gets_by_task: Counter[str] = field(default_factory=Counter)
    task_lists: int = 0
    task_progress_gets: int = 0
    task_patches: int = 0
    tasks_approved: int = 0
    approvals_revoked: int = 0
    review_actions: Counter[str] = field(default_factory=Counter)  # approve, edit, revoke, fail, cancel
    # An auto-review callable that raised: "<task id>: <error>" (the task is left as it was)
    review_step_errors: list[str] = field(default_factory=list)

    def snapshot(self) -> dict[str, Any]:
        return {
            name: dict(value) if isinstance(value, dict) else list(value) if isinstance(value, list) else value
            for name, value in vars(self).items()
        }


class EmulatorState:
    def __init__(self, config: EmulatorConfig) -> None:
        self._defaults = config
        self.config = config.copy()
        self.stats = Stats()
        self.generation = 0  # moved by reset(): a request slowed across it changes nothing after it
        self.faults = FaultInjector(config.seed)
        self.files = FileStore()
        self.runs: dict[str, Run] = {}
        self.canvases: dict[str, Canvas] = {}
        self.applications: dict[str, Application] = {}
        self.tasks: dict[str, Task] = {}
        self._task_references = 0
        # The x-request-id of every answer sent, newest last (method, path, status).
        self.request_log: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)
        self.webhooks = WebhookSender(self._count_webhook_attempt, self._record_webhook)
        self._install_builtins()

    def reset(self) -> None:
        """Back to the constructor's configuration, with no runs, tasks, files, faults or counts."""
        self.webhooks.cancel_pending()
        self.generation += 1
        self.config = self._defaults.copy()
        self.stats = Stats()
        self.faults.clear()
        self.faults.reseed(self.config.seed)
        self.files.clear()
        self.runs.clear()
        self.tasks.clear()
        self._task_references = 0
        self.request_log.clear()
        self._install_builtins()

    async def aclose(self) -> None:
        await self.webhooks.aclose()
        self.files.clear()

    @staticmethod
    def now() -> float:
        """The monotonic clock every run and task is timed by (a test may replace this module's ``time``)."""
        return time.monotonic()

    def configure(
        self,
        *,
        run_latency: float | None = None,
        faults: Collection[FaultRule | Mapping[str, Any]] | None = None,
        api_key: str | None = None,
        forbidden_keys: Collection[str] | None = None,
        seed: int | None = None,
        canvas_latency: Mapping[str, float] | None = None,
        auto_review: Mapping[str, Any] | None = None,
        **choices: str | None,
    ) -> dict[str, Any]:
        # Validate everything before changing anything so a bad call leaves no half-applied state.
        if run_latency is not None and (not isinstance(run_latency, (int, float)) or run_latency < 0):
            raise ValueError("run_latency must be a number >= 0")
        if api_key is not None and (not isinstance(api_key, str) or not api_key):
            raise ValueError("api_key must be a non-empty string")
        if forbidden_keys is not None and not all(isinstance(key, str) for key in forbidden_keys):
            raise ValueError("forbidden_keys must be strings")
        if seed is not None and not isinstance(seed, int):
            raise ValueError("seed must be an integer")
        if canvas_latency is not None and not all(
            isinstance(value, (int, float)) and value >= 0 for value in canvas_latency.values()
        ):
            raise ValueError("canvas_latency values must be numbers >= 0")
        unknown = set(choices) - set(CHOICES)
        if unknown:
            raise TypeError(f"configure() got unexpected keyword argument(s): {', '.join(sorted(unknown))}")
        for name, value in choices.items():
            if value is not None and value not in CHOICES[name]:
                raise ValueError(f"{name} must be one of {', '.join(CHOICES[name])}")
        if auto_review is not None and not isinstance(auto_review, Mapping):
            raise ValueError("auto_review maps an application id (or '*') to a review step or a list of them")
        rules = {str(app): parse_steps(steps) for app, steps in (auto_review or {}).items()}
        fault_rules = [FaultRule.parse(rule) for rule in faults] if faults is not None else None

        if run_latency is not None:
            self.config.run_latency = float(run_latency)
        if api_key is not None:
            self.config.api_key = api_key
        if forbidden_keys is not None:
            self.config.forbidden_keys = tuple(forbidden_keys)
        if seed is not None:
            self.config.seed = seed
            self.faults.reseed(seed)
        if canvas_latency is not None:
            self.config.canvas_latency.update({key: float(value) for key, value in canvas_latency.items()})
        for name, value in choices.items():
            if value is not None:
                setattr(self.config, name, value)
        for app, steps in rules.items():  # an app given no steps loses its rule
            if steps:
                self.config.auto_review[app] = steps
            else:
                self.config.auto_review.pop(app, None)
        if fault_rules is not None:
            self.faults.set_rules(fault_rules)
        return self.config_snapshot()

    def config_snapshot(self) -> dict[str, Any]:
        return self.config.to_dict(self.faults.snapshot())

    # ----------------------------------------------------------------- canvases and apps

    def add_canvas(self, canvas: Canvas) -> None:
        previous = self.canvases.get(canvas.id)
        if previous is not None and previous.application_id:
            app = self.applications.get(previous.application_id)
            if app is not None and app.canvas_id == canvas.id:
                del self.applications[previous.application_id]
        self.canvases[canvas.id] = canvas
        if canvas.application_id:  # a canvas's own application: its tasks need no review
            self.applications[canvas.application_id] = Application(canvas.application_id, canvas.id, review=False,
                                                                   title=canvas.title)

    def add_application(self, app: Application) -> None:
        if app.canvas_id not in self.canvases:
            raise ValueError(f"application {app.id!r}: there is no canvas {app.canvas_id!r} (add_canvas first)")
        self.applications[app.id] = app

    def find_canvas(self, request: CompletionRequest) -> Canvas:
        """The canvas a completion runs (by application, canvas or version); a 404 ``BadRequest`` if none."""
        if request.application_id is not None:
            app = self.applications.get(request.application_id)
            canvas = self.canvases.get(app.canvas_id) if app is not None else None
            if canvas is None:
                raise BadRequest(f"application {request.application_id!r} not found", "application_id", status=404)
        elif request.canvas_id is not None:
            canvas = self.canvases.get(request.canvas_id)
            if canvas is None:
                raise BadRequest(f"canvas {request.canvas_id!r} not found", "canvas_id", status=404)
        else:
            canvas = next((c for c in self.canvases.values() if c.version_id == request.version_id), None)
            if canvas is None:
                raise BadRequest(f"canvas version {request.version_id!r} not found", "version_id", status=404)
        if request.version_id is not None and request.version_id != canvas.version_id:
            raise BadRequest(f"canvas version {request.version_id!r} not found in canvas {canvas.id!r} (its version "
                             f"is {canvas.version_id!r})", "version_id", status=404)
        return canvas

    def latency_for(self, canvas: Canvas) -> float:
        override = self.config.canvas_latency.get(canvas.id)
        if override is not None:
            return override
        return canvas.latency if canvas.latency is not None else self.config.run_latency

    def resolve_variables(self, variables: Mapping[str, Any], where: str = "variables") -> dict[str, Any]:
        """File variables resolved to what the canvas sees (size, sha256, ...); 400 for an unknown file."""
        return {name: self._resolve_variable(name, value, where) for name, value in variables.items()}

    def _resolve_variable(self, name: str, value: Any, where: str) -> Any:
        if not isinstance(value, dict):
            return value
        try:
            resolved = [self.files.resolve(file) for file in file_variables(value)]
        except FileResolutionError as exc:
            raise BadRequest(f"variable {name!r}: {exc}", f"{where}.{name}") from exc
        return {"files": resolved} if "files" in value else resolved[0]

    # ----------------------------------------------------------------- runs

    def create_run(self, canvas: Canvas, request: CompletionRequest, resolved: Mapping[str, Any],
                   *, task_id: str | None = None) -> Run:
        run = execute(
            str(uuid.uuid4()), canvas, request, resolved,
            latency=self.latency_for(canvas), created_wall=time.time(), created_mono=time.monotonic(),
        )
        run.task_id = task_id
        self.runs[run.id] = run
        stats = self.stats
        stats.runs_created += 1
        stats.runs_by_canvas[canvas.id] += 1
        stats.runs_by_mode[request.mode] += 1
        if request.webhook_url and task_id is None:
            self.webhooks.schedule(run, request.webhook_url)
        elif request.webhook_url:
            # A task's webhook carries the run object (the Portuguese guide "Criando novas tasks": status,
            # input_content, output_content, raw_output); a canvas run's, the completion payload.
            self.webhooks.schedule(run, request.webhook_url, _finished_run_object)
        return run

    def runs_snapshot(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        return [run.summary(now) for run in self.runs.values()]

    # ----------------------------------------------------------------- tasks

    def create_task(
        self,
        app: Application,
        request: CompletionRequest,
        *,
        created_via: str,
        name: str | None = None,
        tags: Sequence[str] = (),
        metadata: Mapping[str, Any] | None = None,
        output: Mapping[str, Any] | None = None,
        resolved: Mapping[str, Any] | None = None,
    ) -> Task:
        """A task of ``app``; its canvas runs now, unless ``output`` is given (an import, stored in validating)."""
        canvas = self.canvases[app.canvas_id]
        self._task_references += 1
        task_id = str(uuid.uuid4())
        config = self.config
        run = None
        if output is None:
            run = self.create_run(canvas, replace(request, is_async=True), resolved or request.variables,
                                  task_id=task_id)
        created_wall, created_mono = (run.created_wall, run.created_mono) if run else (time.time(), time.monotonic())
        steps = config.auto_review.get(app.id, config.auto_review.get("*", ()))
        task = Task(
            id=task_id, reference=self._task_references, name=name or f"{app.title or app.id} #{self._task_references}",
            application=app, version_id=canvas.version_id, run=run, request=request, tags=list(tags),
            metadata=dict(metadata) if metadata is not None else None, created_wall=created_wall,
            created_mono=created_mono, needs_review=app.review or config.unreviewed_status == "validating",
            created_via=created_via, status=config.task_start_status, steps=list(steps),
        )
        if output is not None:
            task.import_output(dict(output))
        self.tasks[task.id] = task
        stats = self.stats
        stats.tasks_created += 1
        stats.tasks_by_app[app.id] += 1
        stats.tasks_by_route[created_via] += 1
        return task

    def task(self, task_id: str) -> Task:
        """The task, brought to now (review steps due applied); ``TaskError`` 404 when unknown."""
        task = self.tasks.get(task_id)
        if task is None:
            raise TaskError(f"task {task_id!r} not found", status=404)
        self._settle(task, self.now())
        return task

    def settled_tasks(self) -> list[Task]:
        now = self.now()
        for task in self.tasks.values():
            self._settle(task, now)
        return list(self.tasks.values())

    def tasks_snapshot(self) -> list[dict[str, Any]]:
        return [task.snapshot() for task in self.settled_tasks()]

    def review_task(self, task_id: str, action: str, *, output: Any = None, reason: str | None = None,
                    by: str = DEFAULT_REVIEWER) -> dict[str, Any]:
        """What a reviewer does in Tela's UI (approve, edit, revoke, fail, cancel), now."""
        task = self.task(task_id)
        self._review(task, action, self.now(), output=output, reason=reason, by=by)
        return task.snapshot()

    def patch_task(self, task_id: str, body: Mapping[str, Any]) -> Task:
        """``PATCH /task/{id}``: every change checked before any is made."""
        task = self.task(task_id)
        status = body.get("status")
        if status is not None and status != "completed":
            raise TaskError(f"status {status!r} cannot be set: completed (which approves the task) is the only "
                            "status accepted", param="status")
        if body:
            task.check_updatable()
        if "outputContent" in body:
            task.check_editable()
        if status is not None:
            task.check_approvable()
        now = self.now()
        if "name" in body:
            task.rename(now, body["name"])
        if "tags" in body:
            task.set_tags(now, body["tags"])
        if "outputContent" in body:
            self._review(task, "edit", now, output=body["outputContent"], by=API_USER)
        if status is not None:
            self._review(task, "approve", now, by=API_USER)
        return task

    def _review(self, task: Task, action: str, at: float, **kwargs: Any) -> None:
        seen = len(task.events)
        task.review(action, at, **kwargs)
        self._count_reviews(task, seen)

    def _settle(self, task: Task, now: float) -> None:
        seen = len(task.events)
        task.settle(now)
        self._count_reviews(task, seen)  # review steps applied meanwhile count like any review

    def _count_reviews(self, task: Task, seen: int) -> None:
        for event in task.events[seen:]:
            if event["event"] == "review step failed":
                self.stats.review_step_errors.append(f"{task.id}: {event['error']}")
            action = _EVENT_ACTIONS.get(event["event"])
            if action is None:
                continue
            self.stats.review_actions[action] += 1
            if action == "approve":
                self.stats.tasks_approved += 1
            elif action == "revoke":
                self.stats.approvals_revoked += 1

    # ----------------------------------------------------------------- requests

    def record_request(self, request_id: str, method: str, path: str, status: int, admin: bool) -> None:
        self.request_log.append({"request_id": request_id, "method": method, "path": path, "status": status,
                                 "admin": admin})

    def requests_snapshot(self) -> list[dict[str, Any]]:
        return [dict(entry) for entry in self.request_log]

    # ----------------------------------------------------------------- internals

    def _install_builtins(self) -> None:
        self.canvases.clear()
        self.applications.clear()
        for canvas in builtin_canvases():
            self.add_canvas(canvas)
        for app in builtin_applications():
            self.add_application(app)

    def _count_webhook_attempt(self) -> None:
        self.stats.webhooks_sent += 1

    def _record_webhook(self, outcome: dict[str, Any]) -> None:
        if not outcome["ok"]:
            self.stats.webhooks_failed += 1
        self.stats.webhook_deliveries.append(outcome)


# Task events that are review actions (counted in stats when an auto-review step makes them).
_EVENT_ACTIONS = {"task approved": "approve", "output edited": "edit", "approval revoked": "revoke",
                  "task failed": "fail", "task cancelled": "cancel"}


def _finished_run_object(run: Run) -> dict[str, Any]:
    return run_object(run, run.terminal_status)


# Where the aiohttp application keeps the state its routes share.
STATE = web.AppKey("tela_emulator_state", EmulatorState)
