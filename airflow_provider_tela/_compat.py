"""What differs between the Airflow lines this provider supports (2.11, 3.0 to 3.3 and later), in one place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def _airflow_version() -> tuple[int, int]:
    from airflow.providers.common.compat.version_compat import get_base_airflow_version_tuple

    major, minor, _ = get_base_airflow_version_tuple()
    return major, minor


async def aget_connection(conn_id: str, hook: Any = None) -> Any:
    """Look a connection up from a trigger without blocking or breaking the event loop, on every line.

    ``to_thread`` and the base ``aget_connection`` each break a triggerer on some line (3.0: the comms
    decoder's loop; 3.1 to 3.3.1: a synchronous masking call); common-compat knows which way is safe.
    """
    from airflow.providers.common.compat.connection import get_async_connection

    return await get_async_connection(conn_id, hook=hook)


async def off_the_loop(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn`` (which may read a connection's extras or register a secret) off the event loop.

    Both call the supervisor synchronously on Airflow 3; asgiref's thread hands those calls back to
    the loop safely, where a plain ``asyncio.to_thread`` would race the triggerer's own requests.
    """
    from asgiref.sync import sync_to_async

    return await sync_to_async(fn)(*args)


def register_secret(secret: str) -> None:
    """``mask_secret``, except under ``dag.test()`` on Airflow 3.0, whose in-process comms log every
    request (the secret included) at debug level: there the local masker is enough, as the
    "supervisor" is this very process."""
    from airflow.providers.common.compat.sdk import mask_secret

    if _airflow_version() == (3, 0) and _in_process_supervisor():
        from airflow.sdk.execution_time.secrets_masker import _secrets_masker

        _secrets_masker().add_mask(secret)
        return
    mask_secret(secret)


def hide_mask_secret_values() -> None:
    """Keep the value of Airflow 3's ``MaskSecret`` request out of its repr (and so out of logs).

    The in-process supervisor of ``dag.test()`` / ``airflow dags test`` logs every request it is sent,
    at debug level: ``Sending request msg=MaskSecret(value='<the key>')``. Airflow's own connection
    lookup sends the connection's password that way before any provider code sees the key, so
    ``register_secret`` cannot help, and the masker does not look inside a pydantic model's repr.
    3.0 prints those debug lines even at INFO; 3.1 to 3.3 at DEBUG. A real deployment's socket comms
    log nothing and its supervisor omits ``MaskSecret`` bodies. The request itself is unchanged: only
    ``repr``/``str`` leave the value out, as ``Field(repr=False)`` would. Nothing to do on 2.11.
    Runs when this module is imported (the hook module imports it before it looks anything up);
    running it again changes nothing.
    """
    try:
        from airflow.sdk.execution_time.comms import MaskSecret

        field = MaskSecret.model_fields.get("value")
    except Exception:  # noqa: BLE001 - 2.11 has no such request; never break an import over log hygiene
        return
    if field is not None:
        field.repr = False


def reschedule_date_as_datetime(ti: Any) -> None:
    """Under ``dag.test()`` on Airflow 3.0 the in-process supervisor answers a sensor's first reschedule
    date as text, and ``BaseSensorOperator`` then fails subtracting it from a datetime (every sensor in
    reschedule mode, at its second poke). Read such an answer as the datetime it names; elsewhere,
    nothing changes."""
    ask = getattr(ti, "get_first_reschedule_date", None)
    if ask is None or getattr(ask, "_tela_parsed", False):
        return

    def parsed(context: Any) -> Any:
        from datetime import datetime

        found = ask(context)
        return datetime.fromisoformat(found.replace("Z", "+00:00")) if isinstance(found, str) else found

    parsed._tela_parsed = True  # type: ignore[attr-defined]
    # (a pydantic model refuses new attributes; its instance dict still wins over the class's method)
    object.__setattr__(ti, "get_first_reschedule_date", parsed)


def _in_process_supervisor() -> bool:
    try:
        from airflow.sdk.execution_time import task_runner
        from airflow.sdk.execution_time.supervisor import InProcessSupervisorComms
    except ImportError:
        return False
    return isinstance(getattr(task_runner, "SUPERVISOR_COMMS", None), InProcessSupervisorComms)


def allow_deserialization(cls: type) -> None:
    """Let XCom deserialize ``cls`` in this process, as ``[core] allowed_deserialization_classes`` would.

    Airflow 3.3 has ``allow_class`` for this; below it, serde keeps the same process-wide set of
    extra allowed class names (``_extra_allowed``) in ``airflow.sdk.serde`` (3.2) or
    ``airflow.serialization.serde`` (2.11 to 3.1). If neither is found, add the class to that
    configuration option by hand.
    """
    import importlib

    try:
        from airflow.sdk.serde import allow_class
    except ImportError:
        pass
    else:
        allow_class(cls)
        return
    for module_name in ("airflow.sdk.serde", "airflow.serialization.serde"):
        try:
            serde = importlib.import_module(module_name)
        except ImportError:
            continue
        extra = getattr(serde, "_extra_allowed", None)
        if isinstance(extra, set):
            extra.add(f"{cls.__module__}.{cls.__qualname__}")
            return


hide_mask_secret_values()
