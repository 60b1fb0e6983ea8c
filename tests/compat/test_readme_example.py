"""README's pytest example, run as written (its code block is read from README.md), on every Airflow line."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    (example,) = [block for block in blocks if "def test_my_dag(" in block]
    return example


def test_the_readme_pytest_example_passes(tela_connection_env, tmp_path):
    # The block's conftest part runs here with AIRFLOW_HOME already set (tests/conftest.py set it): it must
    # keep it and make no folder. A private temp dir makes "no new folder" exact, whatever else runs.
    home = os.environ["AIRFLOW_HOME"]
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    saved, tempfile.tempdir = tempfile.tempdir, str(private_tmp)
    try:
        namespace: dict = {}
        exec(compile(readme_example(), str(README), "exec"), namespace)  # the README's own code, as written
    finally:
        tempfile.tempdir = saved
    assert os.environ["AIRFLOW_HOME"] == home
    assert list(private_tmp.iterdir()) == []

    namespace["test_my_dag"](tela_connection_env)
    assert tela_connection_env.stats()["runs_created"] == 1
