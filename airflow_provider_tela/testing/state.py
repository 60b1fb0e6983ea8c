"""Everything the emulator remembers: configuration, canvases, runs, files and counters.

All mutation happens on the server's event loop (``TelaEmulator`` marshals calls
from other threads there), so no locks are needed.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .canvases import Canvas, builtin_canvases
from .faults import FaultInjector, FaultRule
from .files import FileStore
from .runs import CompletionRequest, Run, execute
from .webhooks import WebhookSender

DEFAULT_API_KEY = "tela-emulator-key"
FILE_URL_STYLES = ("snake", "camel", "both")
ASYNC_REPLIES = ("run", "id")


@dataclass
class EmulatorConfig:
    api_key: str = DEFAULT_API_KEY
    forbidden_keys: tuple[str, ...] = ()
    run_latency: float = 0.2
    seed: int = 0
    # Per-canvas latency set at runtime; wins over the latency a canvas was registered with.
    canvas_latency: dict[str, float] = field(default_factory=dict)
    # Key spelling of POST /v2/file's answer: "snake" (documented), "camel" (what tela 0.2.2 reads) or "both".
    file_url_style: str = "snake"
    # Reply to async / webhook submissions: "run" (the run object, status created) or "id" ({"id"} only).
    async_reply: str = "run"

    def to_dict(self, faults: list[dict[str, Any]]) -> dict[str, Any]:
        # The API key is deliberately absent: configuration is readable without auth.
        return {
            "run_latency": self.run_latency,
            "seed": self.seed,
            "canvas_latency": dict(self.canvas_latency),
            "file_url_style": self.file_url_style,
            "async_reply": self.async_reply,
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

    def snapshot(self) -> dict[str, Any]:
        return {
            name: dict(value) if isinstance(value, dict) else list(value) if isinstance(value, list) else value
            for name, value in vars(self).items()
        }


class EmulatorState:
    def __init__(self, config: EmulatorConfig) -> None:
        self._defaults = config
        self.config = replace(config, canvas_latency=dict(config.canvas_latency))
        self.stats = Stats()
        self.generation = 0  # moved by reset(): a request slowed across it changes nothing after it
        self.faults = FaultInjector(config.seed)
        self.files = FileStore()
        self.runs: dict[str, Run] = {}
        self.canvases: dict[str, Canvas] = {}
        self._canvases_by_app: dict[str, Canvas] = {}
        self.webhooks = WebhookSender(self._count_webhook_attempt, self._record_webhook)
        self._install_builtin_canvases()

    def reset(self) -> None:
        """Back to the constructor's configuration, with no runs, files, faults or counts."""
        self.webhooks.cancel_pending()
        self.generation += 1
        self.config = replace(self._defaults, canvas_latency=dict(self._defaults.canvas_latency))
        self.stats = Stats()
        self.faults.clear()
        self.faults.reseed(self.config.seed)
        self.files.clear()
        self.runs.clear()
        self._install_builtin_canvases()

    async def aclose(self) -> None:
        await self.webhooks.aclose()
        self.files.clear()

    def configure(
        self,
        *,
        run_latency: float | None = None,
        faults: Collection[FaultRule | Mapping[str, Any]] | None = None,
        api_key: str | None = None,
        forbidden_keys: Collection[str] | None = None,
        seed: int | None = None,
        canvas_latency: Mapping[str, float] | None = None,
        file_url_style: str | None = None,
        async_reply: str | None = None,
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
        if file_url_style is not None and file_url_style not in FILE_URL_STYLES:
            raise ValueError(f"file_url_style must be one of {', '.join(FILE_URL_STYLES)}")
        if async_reply is not None and async_reply not in ASYNC_REPLIES:
            raise ValueError(f"async_reply must be one of {', '.join(ASYNC_REPLIES)}")
        rules = [FaultRule.parse(rule) for rule in faults] if faults is not None else None

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
        if file_url_style is not None:
            self.config.file_url_style = file_url_style
        if async_reply is not None:
            self.config.async_reply = async_reply
        if rules is not None:
            self.faults.set_rules(rules)
        return self.config_snapshot()

    def config_snapshot(self) -> dict[str, Any]:
        return self.config.to_dict(self.faults.snapshot())

    def add_canvas(self, canvas: Canvas) -> None:
        previous = self.canvases.get(canvas.id)
        if previous is not None and previous.application_id:
            self._canvases_by_app.pop(previous.application_id, None)
        self.canvases[canvas.id] = canvas
        if canvas.application_id:
            self._canvases_by_app[canvas.application_id] = canvas

    def find_canvas(self, request: CompletionRequest) -> Canvas | None:
        if request.canvas_id is not None:
            return self.canvases.get(request.canvas_id)
        return self._canvases_by_app.get(request.application_id or "")

    def latency_for(self, canvas: Canvas) -> float:
        override = self.config.canvas_latency.get(canvas.id)
        if override is not None:
            return override
        return canvas.latency if canvas.latency is not None else self.config.run_latency

    def create_run(self, canvas: Canvas, request: CompletionRequest, resolved: Mapping[str, Any]) -> Run:
        run = execute(
            str(uuid.uuid4()), canvas, request, resolved,
            latency=self.latency_for(canvas), created_wall=time.time(), created_mono=time.monotonic(),
        )
        self.runs[run.id] = run
        stats = self.stats
        stats.runs_created += 1
        stats.runs_by_canvas[canvas.id] += 1
        stats.runs_by_mode[request.mode] += 1
        if request.webhook_url:
            self.webhooks.schedule(run, request.webhook_url)
        return run

    def runs_snapshot(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        return [run.summary(now) for run in self.runs.values()]

    def _install_builtin_canvases(self) -> None:
        self.canvases.clear()
        self._canvases_by_app.clear()
        for canvas in builtin_canvases():
            self.add_canvas(canvas)

    def _count_webhook_attempt(self) -> None:
        self.stats.webhooks_sent += 1

    def _record_webhook(self, outcome: dict[str, Any]) -> None:
        if not outcome["ok"]:
            self.stats.webhooks_failed += 1
        self.stats.webhook_deliveries.append(outcome)
