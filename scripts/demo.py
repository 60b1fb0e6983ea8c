"""The demo: start the local Tela emulator, run an example DAG with `airflow dags test`, show the output.

Run it with `make demo` (which creates the virtualenv first). No network and no API key needed:
Airflow uses its embedded SQLite database in .demo/airflow, and the connection points at the emulator.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DAG_ID = "tela_canvas_step"


def start_emulator(env: dict[str, str], ready: Path) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_tela.testing", "--port", "0", "--run-latency", "2",
         "--ready-file", str(ready)],
        env=env,
    )
    deadline = time.monotonic() + 30
    while not (ready.exists() and ready.read_text().strip()):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the Tela emulator did not start")
        time.sleep(0.1)
    return process, ready.read_text().strip()


def main() -> int:
    home = REPO / ".demo" / "airflow"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    emulator, url = start_emulator(env, REPO / ".demo" / "emulator-url")
    print(f"Tela emulator at {url}")
    try:
        env["AIRFLOW_CONN_TELA_DEFAULT"] = json.dumps(
            {"conn_type": "tela", "host": url, "password": "tela-emulator-key"}
        )
        subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True)
        result = subprocess.run(
            [str(BIN / "airflow"), "dags", "test", DAG_ID], env=env, capture_output=True, text=True, check=False
        )
        output = result.stdout + result.stderr
        (REPO / ".demo" / "dags-test.log").write_text(output)
        shown = [line for line in output.splitlines() if "Loaded canvas output" in line or "Canvas usage" in line
                 or "DagRun Finished" in line or "Tela run" in line]
        print("\n".join(shown))
        if result.returncode != 0:
            print(f"airflow dags test failed (exit {result.returncode}); full log in .demo/dags-test.log")
            return result.returncode
        print("Demo finished: full log in .demo/dags-test.log")
        return 0
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
