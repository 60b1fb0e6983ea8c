"""docs/testing.md's pytest example (docs/examples/testing/), run as written on every Airflow line."""

from __future__ import annotations

import os
import runpy
import tempfile
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "testing"


def test_the_docs_pytest_example_passes(tela_connection_env, tmp_path):
    # The conftest runs here with AIRFLOW_HOME already set (tests/conftest.py set it): it must keep it and
    # make no folder. A private temp dir makes "no new folder" exact, whatever else runs.
    home = os.environ["AIRFLOW_HOME"]
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    saved, tempfile.tempdir = tempfile.tempdir, str(private_tmp)
    try:
        runpy.run_path(str(EXAMPLE / "conftest.py"))
    finally:
        tempfile.tempdir = saved
    assert os.environ["AIRFLOW_HOME"] == home
    assert list(private_tmp.iterdir()) == []

    runpy.run_path(str(EXAMPLE / "test_my_dag.py"))["test_my_dag"](tela_connection_env)
    assert tela_connection_env.stats()["runs_created"] == 1


def test_the_conftest_makes_a_home_when_none_is_set(monkeypatch, tmp_path):
    monkeypatch.delenv("AIRFLOW_HOME")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    runpy.run_path(str(EXAMPLE / "conftest.py"))
    assert Path(os.environ["AIRFLOW_HOME"]).parent == tmp_path
