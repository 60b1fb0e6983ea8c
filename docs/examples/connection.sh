# The Tela connection from the environment, as docs/connection.md shows it.
# tests/examples/test_docs_examples.py reads each line and checks where the connection points.
# --8<-- [start:env]
export AIRFLOW_CONN_TELA_DEFAULT='{"conn_type": "tela", "host": "https://api.tela.com", "password": "<api key>"}'
export AIRFLOW_CONN_TELA_DEFAULT='tela://:<api key>@api.tela.com'                 # https is assumed
export AIRFLOW_CONN_TELA_DEFAULT='tela://:tela-emulator-key@127.0.0.1:8765/http'  # the local emulator, plain http
# --8<-- [end:env]
