"""What a run's or a task's id is: the one check every id passes where it enters the provider.

Light on purpose (nothing but ``re`` and the errors): a trigger checks its id when the triggerer
creates it, on the triggerer's event loop.
"""

from __future__ import annotations

import re
from typing import Any

from airflow_provider_tela.errors import TelaConfigError

_PLAIN_ID = re.compile(r"[A-Za-z0-9_.:~+=@-]{1,200}")


def plain_id(value: Any, name: str = "run_id") -> str:
    """A run's or a task's id as it enters the provider (from a DAG, an XCom, a Variable, an answer):
    surrounding whitespace removed; refused, naming ``name``, when nothing is left or it is not a plain
    id (a path, a query, a space, ``.`` or ``..``), before any request is sent."""
    text = value.strip() if isinstance(value, str) else value
    if not isinstance(text, str) or not _PLAIN_ID.fullmatch(text) or not text.strip("."):
        raise TelaConfigError(
            f"{name} must be a Tela id (letters, digits and . _ : ~ + = @ -, at most 200 characters), "
            f"got {value!r:.80}"
        )
    return text
