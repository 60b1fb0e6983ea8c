"""Real Airflow components and the Tela emulator as separate processes, and reading their state back.

Every process started here carries the environment variable ``TELA_E2E_MARKER=<id>``; task processes
inherit it, even those that left their parent's process group (Airflow gives each task its own) or were
orphaned by a killed worker. Teardown kills process groups first, then any process left with the marker.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import psutil
import requests

MARKER = "TELA_E2E_MARKER"
PYTHON = sys.executable
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check: Callable[[], T], timeout: float, what: str, interval: float = 0.5) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:.0f} s waiting for {what} (last: {result!r})")
        time.sleep(interval)


class Process:
    """One command in a session (process group) of its own, its output in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name, self.argv, self.env = name, argv, env
        self.log_path = log_dir / f"{name}.log"
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== starting {self.name}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(
                self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return self

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL the process, its group and every descendant at once, as an OOM kill would."""
        if self.popen is None:
            return
        descendants = _descendants(self.popen.pid)  # some leave the group: Airflow gives tasks their own
        _signal_group(self.popen.pid, signal.SIGKILL)
        for proc in descendants:
            _kill(proc)
        self.popen.wait(timeout=30)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM to the group, then SIGKILL to whatever is left after ``grace`` seconds."""
        if self.popen is None:
            return
        descendants = _descendants(self.popen.pid)
        if self.alive:
            _signal_group(self.popen.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=grace)
        self.kill()
        for proc in descendants:
            _kill(proc)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def _kill(proc: psutil.Process) -> None:
    with contextlib.suppress(psutil.Error):
        proc.kill()


def kill_marked(marker: str) -> list[int]:
    """SIGKILL every process whose environment holds ``TELA_E2E_MARKER=marker``; return their pids."""
    killed = []
    for proc in psutil.process_iter():
        try:
            if proc.pid != os.getpid() and proc.environ().get(MARKER) == marker:
                proc.kill()
                killed.append(proc.pid)
        except psutil.Error:
            continue
    return killed


class EmulatorProcess:
    """The Tela emulator's CLI as a process on a fixed port, driven through its ``/_emulator/`` API."""

    def __init__(self, root: Path, port: int, api_key: str, marker: str) -> None:
        self.port, self.api_key = port, api_key
        self.url = f"http://127.0.0.1:{port}"
        self.ready_file = root / "emulator.ready"
        env = {**base_env(), MARKER: marker}
        argv = [PYTHON, "-m", "airflow_provider_tela.testing", "--port", str(port), "--api-key", api_key,
                "--ready-file", str(self.ready_file)]
        self.process = Process("emulator", argv, env, root)

    def start(self) -> EmulatorProcess:
        self.ready_file.unlink(missing_ok=True)
        self.process.start()
        wait_until(lambda: self.ready_file.exists() or not self.process.alive, 30, "the emulator to listen")
        if not self.process.alive:
            raise RuntimeError(f"the emulator did not start:\n{self.process.output()[-3000:]}")
        return self

    def stop(self) -> None:
        self.process.stop()

    def connection(self, **extra: Any) -> str:
        """An Airflow connection (JSON form) to this emulator."""
        return json.dumps({"conn_type": "tela", "host": self.url, "password": self.api_key, "extra": extra})

    def _admin(self, method: str, path: str, body: Any = None) -> Any:
        response = requests.request(method, f"{self.url}/_emulator/{path}", json=body, timeout=10)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self._admin("POST", "reset")

    def configure(self, **settings: Any) -> None:
        self._admin("POST", "config", settings)

    def add_faults(self, *rules: dict[str, Any]) -> None:
        self._admin("POST", "faults", list(rules))

    def clear_faults(self) -> None:
        self._admin("DELETE", "faults")

    def add_canvas(self, canvas_id: str, **spec: Any) -> None:
        self._admin("POST", "canvases", {"canvas_id": canvas_id, **spec})

    def stats(self) -> dict[str, Any]:
        return self._admin("GET", "stats")

    def runs(self) -> list[dict[str, Any]]:
        return self._admin("GET", "runs")


def base_env() -> dict[str, str]:
    """A clean environment: nothing of the test session's own Airflow settings leaks in."""
    keep = ("HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env["PATH"] = f"{Path(PYTHON).parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"
    env["PYTHONUNBUFFERED"] = "1"
    return env


COMPONENTS = ("scheduler", "dag-processor", "triggerer", "api-server")


class Airflow:
    """Scheduler, DAG processor, triggerer and API server on a throw-away AIRFLOW_HOME with SQLite."""

    def __init__(self, root: Path, dags_folder: Path, connections: dict[str, str], marker: str,
                 extra_env: dict[str, str] | None = None) -> None:
        from cryptography.fernet import Fernet

        self.root, self.home = root, root / "airflow-home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.db_path = self.home / "airflow.db"
        self.api_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.fernet_key = Fernet.generate_key().decode()
        self.env = {
            **base_env(),
            MARKER: marker,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.db_path}",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__CORE__FERNET_KEY": self.fernet_key,
            "AIRFLOW__CORE__AUTH_MANAGER":
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__BASE_URL": self.api_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": uuid.uuid4().hex,
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            # Fast enough for tests: the scheduler loop, parsing, and the detection of dead components.
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "15",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "2",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "6",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            **{f"AIRFLOW_CONN_{conn_id.upper()}": value for conn_id, value in connections.items()},
            **(extra_env or {}),
        }
        self.components: dict[str, Process] = {}
        self._token: str | None = None
        # Triggers are deleted once they fired: what trigger_kwargs() saw is kept for the secrets scan.
        self.seen_trigger_kwargs: list[dict[str, Any]] = []

    # --- processes ------------------------------------------------------------------------------

    def airflow(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([PYTHON, "-m", "airflow", *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=True)

    def start(self) -> Airflow:
        self.airflow("db", "migrate")
        for name in COMPONENTS:
            self.start_component(name)
        wait_until(self._healthy, 120, "scheduler, triggerer and DAG processor to report healthy", interval=1)
        return self

    def start_component(self, name: str) -> Process:
        process = Process(name, [PYTHON, "-m", "airflow", name], self.env, self.root).start()
        self.components[name] = process
        return process

    def kill_component(self, name: str) -> None:
        self.components[name].kill()

    def stop(self) -> None:
        for name in reversed(COMPONENTS):
            if name in self.components:
                self.components[name].stop()

    def _healthy(self) -> bool:
        dead = [name for name, process in self.components.items() if not process.alive]
        if dead:
            raise RuntimeError(f"{dead} exited:\n" + "\n".join(self.components[n].output()[-3000:] for n in dead))
        try:
            health = requests.get(f"{self.api_url}/api/v2/monitor/health", timeout=5).json()
        except (requests.RequestException, ValueError):
            return False
        return all(health.get(part, {}).get("status") == "healthy"
                   for part in ("metadatabase", "scheduler", "triggerer", "dag_processor"))

    # --- REST API -------------------------------------------------------------------------------

    def api(self, method: str, path: str, body: Any = None) -> Any:
        if self._token is None:
            self._token = requests.get(f"{self.api_url}/auth/token", timeout=10).json()["access_token"]
        response = requests.request(method, f"{self.api_url}/api/v2/{path}", json=body, timeout=30,
                                    headers={"Authorization": f"Bearer {self._token}"})
        if response.status_code >= 400:
            raise RuntimeError(f"{method} /api/v2/{path} answered {response.status_code}: {response.text[:500]}")
        return response.json()

    def wait_for_dags(self, *dag_ids: str, timeout: float = 120) -> None:
        def parsed() -> bool:
            rows = self.query("SELECT dag_id FROM dag WHERE is_stale = 0")
            return set(dag_ids) <= {row["dag_id"] for row in rows}

        wait_until(parsed, timeout, f"DAGs {dag_ids} to be parsed", interval=1)
        errors = self.query("SELECT filename, stacktrace FROM import_error")
        assert not errors, f"DAG import errors: {errors}"

    def trigger(self, dag_id: str) -> str:
        """Start a DAG run through the REST API; return its run id."""
        return self.api("POST", f"dags/{dag_id}/dagRuns", {"logical_date": None})["dag_run_id"]

    # --- metadata database ----------------------------------------------------------------------

    def query(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        """A short read of the metadata database (short, so that Airflow's writers are not held up)."""
        if not self.db_path.exists():
            return []
        with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30) as db:
            db.row_factory = sqlite3.Row
            return [dict(row) for row in db.execute(sql, params).fetchall()]

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        rows = self.query("SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?", dag_id, run_id)
        return rows[0]["state"] if rows else None

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float) -> str:
        return wait_until(lambda: self._finished_state(dag_id, run_id), timeout,
                          f"DAG run {dag_id}/{run_id} to end (logs under {self.root})")

    def _finished_state(self, dag_id: str, run_id: str) -> str | None:
        state = self.run_state(dag_id, run_id)
        return state if state in ("success", "failed") else None

    def task_instances(self, dag_id: str, run_id: str) -> dict[tuple[str, int], dict[str, Any]]:
        rows = self.query(
            "SELECT task_id, map_index, state, try_number, id FROM task_instance WHERE dag_id = ? AND run_id = ?",
            dag_id, run_id,
        )
        return {(row["task_id"], row["map_index"]): row for row in rows}

    def states(self, dag_id: str, run_id: str) -> dict[tuple[str, int], str | None]:
        return {key: row["state"] for key, row in self.task_instances(dag_id, run_id).items()}

    def wait_for_states(self, dag_id: str, run_id: str, wanted: set[str], count: int, timeout: float,
                        task_id: str | None = None) -> dict[tuple[str, int], str | None]:
        """Wait until ``count`` task instances (of ``task_id``, if given) are in one of the ``wanted`` states."""
        def reached() -> dict[tuple[str, int], str | None] | None:
            states = {k: s for k, s in self.states(dag_id, run_id).items() if task_id in (None, k[0])}
            return states if sum(state in wanted for state in states.values()) >= count else None

        return wait_until(reached, timeout, f"{count} task(s) of {dag_id}/{run_id} in {sorted(wanted)}")

    def xcoms(self, dag_id: str, run_id: str) -> dict[tuple[str, int, str], Any]:
        rows = self.query("SELECT task_id, map_index, key, value FROM xcom WHERE dag_id = ? AND run_id = ?",
                          dag_id, run_id)
        return {(row["task_id"], row["map_index"], row["key"]): json.loads(row["value"]) for row in rows}

    def trigger_kwargs(self) -> list[dict[str, Any]]:
        """The kwargs of every trigger now in the database, decrypted as the triggerer does."""
        from cryptography.fernet import Fernet

        fernet = Fernet(self.fernet_key.encode())
        stored = [row["kwargs"] for row in self.query("SELECT kwargs FROM trigger")]
        # Airflow stores them encrypted or, on some paths, as plain JSON (its reader accepts both).
        kwargs = [json.loads(raw if raw.startswith("{") else fernet.decrypt(raw.encode())) for raw in stored]
        self.seen_trigger_kwargs += kwargs
        return kwargs

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> str:
        path = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        if map_index >= 0:
            path /= f"map_index={map_index}"
        path /= f"attempt={try_number}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stored_texts(self) -> Iterator[tuple[str, str]]:
        """Everything this deployment wrote down, as (where, text): log files (task, trigger, DAG processor),
        the components' output, every row of every table, the raw database file, and trigger kwargs."""
        for path in sorted((self.home / "logs").rglob("*")):
            if path.is_file():
                yield str(path.relative_to(self.home)), path.read_text(errors="replace")
        for name, process in self.components.items():
            yield f"{name} output", process.output()
        for table in [row["name"] for row in self.query("SELECT name FROM sqlite_master WHERE type = 'table'")]:
            for row in self.query(f'SELECT * FROM "{table}"'):
                yield f"table {table}", " ".join(_text(value) for value in row.values())
        for path in self.home.glob("airflow.db*"):
            yield f"raw {path.name}", path.read_bytes().decode("latin-1")
        yield "trigger kwargs", json.dumps(self.seen_trigger_kwargs)


def _text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)
