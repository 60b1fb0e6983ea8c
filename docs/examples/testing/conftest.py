# conftest.py, before anything imports Airflow: a throw-away metadata database
import os
import tempfile

if "AIRFLOW_HOME" not in os.environ:
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp()
