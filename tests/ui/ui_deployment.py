"""What the browser tests' deployment holds: the emulator's key, a wrong one, and the DAG run with the connection
the form makes."""

from __future__ import annotations

import secrets

# Distinctive and long, so that finding either anywhere is meaningful.
API_KEY = f"tela-ui-key-{secrets.token_hex(24)}"
WRONG_KEY = f"tela-ui-wrong-{secrets.token_hex(24)}"
DAG_ID = "tela_ui_connection"
# The connection the form makes, and the DAG that runs a task with it.
CONN_ID = "tela_default"
DAG_FILE = f'''
from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_tela.operators.tela import TelaCompletionOperator

with DAG("{DAG_ID}", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    TelaCompletionOperator(task_id="complete", canvas_id="canvas-echo", variables={{"document": "from the form"}},
                           tela_conn_id="{CONN_ID}", deferrable=False, poll_interval=0.5)
'''
