"""Where the provider reads and writes files: a local path, or any ObjectStoragePath (``s3://``, ``gs://``,
``file://`` ...), behind one small interface.

Every method blocks (object storage is network I/O): code running in an event loop calls them through
``asyncio.to_thread``. Local paths get what only they can do well: appending to a file, and atomic
replacement (write a temporary file, then rename). Object storage has neither; callers that need an
append-only log write small objects instead (see ``batch.ledger``).
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path, PurePath
from typing import IO, Any

from airflow_provider_tela.errors import TelaConfigError


class _Iterable:
    """An object-storage stream whose iteration (by line) works on every Airflow line: 2.11 wraps the
    file in an object with ``__getitem__`` and no ``__iter__``, so a ``for`` loop over it indexes it."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._stream.readline, b"")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def is_object_storage_path(value: Any) -> bool:
    # By name, so that importing this module does not import Airflow's ObjectStoragePath.
    return any(cls.__name__ == "ObjectStoragePath" for cls in type(value).__mro__)


class Location:
    """A file or folder. ``uri`` round-trips through ``Location.parse`` (the storage connection id is
    part of an ObjectStoragePath's string form), so a location can be stored in a plan file."""

    __slots__ = ("_path",)

    def __init__(self, path: Path | Any) -> None:
        self._path = path

    @classmethod
    def parse(cls, value: str | PurePath | Any, conn_id: str | None = None) -> Location:
        """A local path (str or Path), an object-storage URL (``scheme://...``) or an ObjectStoragePath."""
        if isinstance(value, Location):
            return value
        if is_object_storage_path(value):
            return cls(value)
        if isinstance(value, PurePath):
            return cls(Path(value))
        if not isinstance(value, str) or not value.strip():
            raise TelaConfigError(f"expected a path or URL, got {value!r}")
        if "://" in value:
            from airflow.providers.common.compat.sdk import ObjectStoragePath

            return cls(ObjectStoragePath(value, conn_id=conn_id))
        return cls(Path(value).expanduser())

    @property
    def is_local(self) -> bool:
        """A plain local path (which can be appended to and renamed atomically).

        (On Airflow 2.11 an ObjectStoragePath is also a ``pathlib.Path``: it is not a local path.)
        """
        return isinstance(self._path, Path) and not is_object_storage_path(self._path)

    @property
    def uri(self) -> str:
        return str(self._path)

    @property
    def name(self) -> str:
        return self._path.name

    def child(self, *names: str) -> Location:
        path = self._path
        for name in names:
            path = path / name
        return Location(path)

    def __repr__(self) -> str:
        return f"Location({self.uri!r})"

    # --- reading ------------------------------------------------------------------------------

    def exists(self) -> bool:
        return self._path.exists()

    @contextmanager
    def open_read(self) -> Iterator[IO[bytes]]:
        with self._path.open("rb") as stream:
            yield stream if self.is_local else _Iterable(stream)  # type: ignore[misc]

    def read_bytes(self) -> bytes:
        with self.open_read() as stream:
            return stream.read()

    def children(self) -> list[Location]:
        """The entries of a folder, sorted by name; none when the folder does not exist."""
        try:
            entries = list(self._path.iterdir())
        except (FileNotFoundError, NotADirectoryError):  # object storage says the latter for a missing folder
            if self._path.exists():
                raise
            return []
        return sorted((Location(entry) for entry in entries), key=lambda loc: loc.name)

    # --- writing ------------------------------------------------------------------------------

    def make_parents(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def open_write(self) -> Iterator[IO[bytes]]:
        """Write the whole file; readers see the old content or the new one, never a part of it.

        Local: a temporary file beside it, renamed over it on success. Object storage: one upload
        (multipart for big files), which becomes visible only when it completes.
        """
        self.make_parents()
        if not self.is_local:
            with self._path.open("wb") as stream:
                yield stream
            return
        fd, temporary = tempfile.mkstemp(prefix=f".{self.name}.", dir=self._path.parent)
        try:
            with os.fdopen(fd, "wb") as stream:
                yield stream
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, self._path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def write_bytes(self, data: bytes) -> None:
        with self.open_write() as stream:
            stream.write(data)

    def append(self, data: bytes) -> None:
        """Append and make durable (local paths only: object storage cannot append)."""
        if not self.is_local:
            raise TypeError(f"{self.uri} is in object storage, which cannot append")
        self.make_parents()
        with open(self._path, "ab") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())

    def delete(self) -> None:
        with suppress(FileNotFoundError):
            self._path.unlink()


def json_bytes(value: Any, **options: Any) -> bytes:
    """``value`` as standard JSON in UTF-8, whatever Tela answered: NaN and +/-Infinity (which Python's and
    pydantic's readers accept) are written as null, as JavaScript's ``JSON.stringify`` writes them, and
    text holding a lone UTF-16 surrogate (half an emoji, valid in JSON, not encodable as UTF-8) is
    written with ``\\u`` escapes. Other values are written as they are; ``options`` go to ``json.dumps``."""
    import json

    options.setdefault("default", str)
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, **options)
    except ValueError:  # a float out of JSON's range somewhere
        value = _finite(value)
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, **options)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return json.dumps(value, ensure_ascii=True, allow_nan=False, **options).encode()


def plain_json(value: Any) -> tuple[Any, int]:
    """``value`` as any JSON store takes it (XCom, a trigger event: Airflow's metadata database, which on
    PostgreSQL refuses NaN and a lone UTF-16 surrogate), and how many values had to change: NaN and
    +/-Infinity become null, a lone surrogate (half an emoji) U+FFFD. What Tela answered is kept as is
    otherwise, and nothing is copied when nothing needs changing (the common case)."""
    import json

    try:
        json.dumps(value, ensure_ascii=False, allow_nan=False).encode()
        return value, 0
    except (ValueError, UnicodeEncodeError, TypeError):
        pass
    changed = [0]

    def mend(item: Any) -> Any:
        if isinstance(item, float) and not math.isfinite(item):
            changed[0] += 1
            return None
        if isinstance(item, str):
            try:
                item.encode()
            except UnicodeEncodeError:
                changed[0] += 1
                return "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in item)
            return item
        if isinstance(item, dict):
            return {mend(key): mend(entry) for key, entry in item.items()}
        if isinstance(item, (list, tuple)):
            return [mend(entry) for entry in item]
        return item

    return mend(value), changed[0]


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def write_json_output(target: str | PurePath | Any, content: Any, conn_id: str | None = None) -> str:
    """Write ``content`` as a JSON file at ``target``; return the file's URI (what goes to XCom instead)."""
    location = Location.parse(target, conn_id)
    location.write_bytes(json_bytes(content))
    return location.uri
