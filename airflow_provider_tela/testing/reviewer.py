"""``TelaReviewer``: a DAG test plays the person who reviews Workstation tasks in Tela.

``dag.test()`` blocks the test's thread until the DAG run ends, so a reviewer cannot act "while the DAG
waits" from that thread. Two ways work, both deterministic:

- decide before the run: ``approve_when_ready`` (or ``fail_when_ready``, ``script``, ``decide``) sets a rule
  the emulator applies to each task of an app a fixed time after its canvas run ended, whenever the task
  is read next; no thread, no sleep, no race;
- act from another thread: ``wait_for`` returns once a task reaches a status, then ``approve`` (or
  ``edit``, ``revoke``, ``fail``, ``cancel``) acts at once.

Example (``tela_reviewer`` is the pytest fixture)::

    def test_reviewed_pipeline(tela_connection_env, tela_reviewer):
        tela_reviewer.approve_when_ready("app-review", output={"text": "approved by a person"})
        dag_run = run_dag(dag)  # a task of app-review: running -> validating -> completed (edited)
        assert tela_reviewer.tasks()[0]["outputContent"]["content"]["text"] == "approved by a person"

    def test_an_approval_revoked_is_not_an_approval(tela_connection_env, tela_reviewer):
        tela_reviewer.script("app-review", [
            {"after": 0.0, "action": "approve"},
            {"after": 0.3, "action": "revoke"},
            {"after": 0.6, "action": "approve", "output": {"total": 42}},
        ])
        ...
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .tasks import DEFAULT_REJECTION, DEFAULT_REVIEWER

if TYPE_CHECKING:
    from .emulator import TelaEmulator

POLL_INTERVAL = 0.01


class TelaReviewer:
    """The reviewer of an emulator's Workstation tasks (see the module's docstring)."""

    def __init__(self, emulator: TelaEmulator) -> None:
        self.emulator = emulator

    # ----------------------------------------------------------------- decided before the DAG runs

    def approve_when_ready(self, app_id: str = "*", *, output: Any = None, after: float = 0.0,
                           by: str = DEFAULT_REVIEWER) -> None:
        """Approve every task of ``app_id`` (``"*"``: of every app) ``after`` seconds after its run ended,
        first merging ``output`` (a value, or a callable given the task) into its output."""
        self.script(app_id, [{"after": after, "action": "approve", "output": output, "by": by}])

    def fail_when_ready(self, app_id: str = "*", *, reason: str = DEFAULT_REJECTION, after: float = 0.0) -> None:
        """Fail every task of ``app_id`` ``after`` seconds after its run ended (a rejected review)."""
        self.script(app_id, [{"after": after, "action": "fail", "reason": reason}])

    def cancel_when_ready(self, app_id: str = "*", *, after: float = 0.0) -> None:
        self.script(app_id, [{"after": after, "action": "cancel"}])

    def decide(self, app_id: str, decision: Callable[[dict[str, Any]], Any], *, after: float = 0.0) -> None:
        """Call ``decision(task)`` for each task of ``app_id`` once reviewable; it returns None (leave it in
        validating), ``"approve"`` / ``"fail"`` / ``"cancel"``, or ``{"action", "output"?, "reason"?}``."""
        self.script(app_id, [{"after": after, "action": decision}])

    def script(self, app_id: str, steps: Sequence[Mapping[str, Any]]) -> None:
        """Review steps for the tasks of ``app_id`` created from now on, each ``{"after": seconds after the
        run ended, "action": ..., "output"?, "reason"?, "by"?}``; replaces the app's previous rule."""
        self.emulator.configure(auto_review={app_id: list(steps)})

    def stop(self, app_id: str = "*") -> None:
        """No more automatic review for the tasks of ``app_id`` created from now on."""
        self.emulator.configure(auto_review={app_id: []})

    # ----------------------------------------------------------------- acting now

    def tasks(self, *, app_id: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
        return [task for task in self.emulator.tasks()
                if app_id in (None, task["promptApplicationId"]) and status in (None, task["status"])]

    def pending(self, app_id: str | None = None) -> list[dict[str, Any]]:
        """The tasks awaiting review (``validating``)."""
        return self.tasks(app_id=app_id, status="validating")

    def wait_for(self, status: str = "validating", *, app_id: str | None = None, count: int = 1,
                 timeout: float = 10.0) -> list[dict[str, Any]]:
        """Poll until ``count`` tasks (of ``app_id``) are in ``status``; ``TimeoutError`` naming what it saw."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.tasks(app_id=app_id, status=status)
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                seen = [(task["id"], task["status"]) for task in self.tasks(app_id=app_id)]
                raise TimeoutError(f"{count} task(s) in {status} expected within {timeout} s; tasks seen: {seen}")
            time.sleep(POLL_INTERVAL)

    def approve(self, task_id: str | None = None, *, output: Any = None, by: str = DEFAULT_REVIEWER) -> dict[str, Any]:
        """Approve ``task_id`` (default: the one task in validating), merging ``output`` first if given."""
        return self.emulator.approve_task(task_id or self._only("validating"), output=output, by=by)

    def edit(self, output: Any, task_id: str | None = None, *, by: str = DEFAULT_REVIEWER) -> dict[str, Any]:
        return self.emulator.edit_task_output(task_id or self._only("validating"), output, by=by)

    def revoke(self, task_id: str | None = None) -> dict[str, Any]:
        """Revoke the approval of ``task_id`` (default: the one approved task)."""
        if task_id is None:
            task_id = self._only("completed", approved=True)
        return self.emulator.revoke_approval(task_id)

    def fail(self, task_id: str | None = None, *, reason: str = DEFAULT_REJECTION) -> dict[str, Any]:
        return self.emulator.fail_task(task_id or self._only("validating"), reason)

    def cancel(self, task_id: str | None = None) -> dict[str, Any]:
        return self.emulator.cancel_task(task_id or self._only("validating"))

    def _only(self, status: str, *, approved: bool = False) -> str:
        found = [task for task in self.tasks(status=status) if not approved or task["approvedAt"] is not None]
        if len(found) != 1:
            what = f"approved {status}" if approved else status
            raise ValueError(f"expected exactly one task in {what}, found {len(found)}: name the task_id")
        return str(found[0]["id"])
