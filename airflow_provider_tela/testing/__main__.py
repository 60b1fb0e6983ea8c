"""``python -m airflow_provider_tela.testing``: run the emulator as a standalone server."""

from .cli import main

raise SystemExit(main())
