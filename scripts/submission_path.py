"""How long is the path of one durable submission? Prints what a real one passes through.

Runs a real DAG (``dag.test()`` on a throw-away SQLite database) with one durable
``TelaCompletionOperator`` against the local emulator, and profiles its task from the start of
``execute`` until the POST that creates the run leaves (urllib3's ``urlopen`` is called with it):

- the package's modules and functions called on the way (the emulator, ``airflow_provider_tela.testing``,
  and code run while importing a module are not counted);
- how many times the completion request was built (``CompletionRequest.build``).

    .venv/bin/python scripts/submission_path.py            # the figures
    .venv/bin/python scripts/submission_path.py --list     # and every function, in call order
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from datetime import datetime
from typing import Any

PACKAGE = "airflow_provider_tela"


class PathProfile:
    """A ``sys.setprofile`` hook: which package functions run until the run-creating POST leaves."""

    def __init__(self, build_code: Any) -> None:
        self.build_code = build_code
        self.functions: dict[tuple[str, str], None] = {}
        self.builds = 0
        self.done = False
        self._importing = 0

    def __call__(self, frame: Any, event: str, arg: Any) -> None:
        if self.done or event not in ("call", "return"):
            return
        code = frame.f_code
        if code.co_name == "<module>":  # an import: nothing under it is part of the path
            self._importing += 1 if event == "call" else -1
            return
        if event != "call" or self._importing:
            return
        if code.co_name == "urlopen" and frame.f_locals.get("method") == "POST" and \
                "/v2/chat/completions" in str(frame.f_locals.get("url", "")):
            self.done = True
            return
        if code is self.build_code:
            self.builds += 1
        module = frame.f_globals.get("__name__", "")
        if module.startswith(PACKAGE) and not module.startswith(f"{PACKAGE}.testing"):
            self.functions.setdefault((module, code.co_qualname), None)


def main() -> None:
    home = tempfile.mkdtemp(prefix="tela-path-")
    os.environ.update({
        "AIRFLOW_HOME": home, "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    })
    from airflow_provider_tela.models import CompletionRequest
    from airflow_provider_tela.operators.tela import TelaCompletionOperator
    from airflow_provider_tela.testing import TelaEmulator
    from airflow_provider_tela.testing.dags import DAG, run_dag, task_states

    profile = PathProfile(CompletionRequest.build.__func__.__code__)  # type: ignore[attr-defined]

    class Profiled(TelaCompletionOperator):
        def execute(self, context: Any) -> Any:
            sys.setprofile(profile)
            try:
                return super().execute(context)
            finally:
                sys.setprofile(None)

    with TelaEmulator(run_latency=0.1) as emulator:
        os.environ["AIRFLOW_CONN_TELA_DEFAULT"] = emulator.connection_json()
        with DAG("submission_path", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
            Profiled(task_id="canvas", canvas_id="canvas-echo", variables={"document": "d"}, durable=True,
                     poll_interval=0.5)
        states = task_states(run_dag(dag))
    modules = sorted({module for module, _ in profile.functions})
    report = {"task": states.get("canvas"), "post_seen": profile.done, "modules": len(modules),
              "functions": len(profile.functions), "request_builds": profile.builds}
    print(json.dumps(report))
    if "--list" in sys.argv:
        for module in modules:
            print(f"  {module}: " + ", ".join(name for found, name in profile.functions if found == module))
    if not profile.done or states.get("canvas") != "success":
        sys.exit(1)


if __name__ == "__main__":
    main()
