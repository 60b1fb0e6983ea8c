"""TelaFile: a document for a canvas, from a local path, a URL, a data: URI, bytes or object storage.

URLs and data: URIs are handed to Tela as they are; everything else is uploaded (``POST /v2/file``,
then a streamed ``PUT``) when the task submits its run. This module imports nothing heavy: DAG files
import it at every parse.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePath
from typing import IO, Any, ClassVar

from airflow_provider_tela._storage import is_object_storage_path
from airflow_provider_tela.errors import TelaConfigError

REMOTE_SCHEMES = ("http://", "https://")
DATA_SCHEME = "data:"


def is_file_value(value: Any) -> bool:
    """Whether a variable value is a file. Plain strings are always text."""
    return isinstance(value, (TelaFile, PurePath)) or is_object_storage_path(value)


def as_tela_file(value: Any) -> TelaFile:
    return value if isinstance(value, TelaFile) else TelaFile(value)


class TelaFile:
    """A file to give a canvas as a variable (or in a message).

    :param source: a local path (str or Path), an ``http(s)://`` URL, a ``data:`` URI (base64), bytes,
        or an object-storage URL / ``ObjectStoragePath`` (``file://``, ``s3://``, ``gs://`` ...,
        read through Airflow's ObjectStorage with the connection ``conn_id`` names).
    :param options: Tela's file options, e.g. ``{"range": [0, 1], "parser_type": "..."}``
        (``parserType``, tela-client's spelling, is sent as ``parser_type``).
    :param conn_id: the storage connection for an object-storage URL given as a string.
    :param content_type: the MIME type to upload with; guessed from the name when not given.
    :param name: the file name Tela sees; taken from the source when not given.
    """

    template_fields: ClassVar[tuple[str, ...]] = ("source",)
    __version__: ClassVar[int] = 1

    def __init__(
        self,
        source: str | os.PathLike | bytes | Any,
        options: dict[str, Any] | None = None,
        *,
        conn_id: str | None = None,
        content_type: str | None = None,
        name: str | None = None,
    ) -> None:
        if isinstance(source, bytearray):
            source = bytes(source)
        if not isinstance(source, (str, bytes, PurePath)) and not is_object_storage_path(source):
            raise TelaConfigError(
                f"TelaFile source must be a path, URL, data: URI, bytes or ObjectStoragePath, "
                f"got {type(source).__name__}"
            )
        if isinstance(source, str) and not source.strip():
            raise TelaConfigError("TelaFile source is empty: give a path, URL, data: URI or bytes")
        if options is not None and not isinstance(options, dict):
            raise TelaConfigError(f"TelaFile options must be a dict such as {{'range': [0, 1]}}, got {options!r}")
        self.source: Any = source
        self.options = options
        self.conn_id = conn_id
        self.content_type = content_type
        self.name = name

    # --- what kind of source ---------------------------------------------------------------------

    @property
    def kind(self) -> str:
        """One of ``url``, ``data``, ``bytes``, ``local``, ``object_storage``."""
        source = self.source
        if isinstance(source, bytes):
            return "bytes"
        if is_object_storage_path(source):  # first: on Airflow 2.11 it is a pathlib.Path too
            return "object_storage"
        if isinstance(source, PurePath):
            return "local"
        if source.startswith(REMOTE_SCHEMES):
            return "url"
        if source.startswith(DATA_SCHEME):
            return "data"
        if "://" in source:
            return "object_storage"
        return "local"

    @property
    def needs_upload(self) -> bool:
        return self.kind not in ("url", "data")

    @property
    def display_name(self) -> str:
        if self.name:
            return self.name
        if self.kind == "bytes":
            return "bytes"
        if self.kind == "data":
            return "data-uri"
        return PurePath(str(self.source).split("?", 1)[0]).name or str(self.source)

    def mime_type(self) -> str:
        return self.content_type or mimetypes.guess_type(self.display_name)[0] or "application/octet-stream"

    def _storage_path(self) -> Any:
        if is_object_storage_path(self.source):
            return self.source
        from airflow.providers.common.compat.sdk import ObjectStoragePath

        return ObjectStoragePath(str(self.source), conn_id=self.conn_id)

    # --- checks and reading --------------------------------------------------------------------

    def size(self) -> int | None:
        """The size in bytes, checking the source exists and can be read; None for URLs."""
        kind = self.kind
        try:
            if kind == "url":
                return None
            if kind == "bytes":
                size = len(self.source)
            elif kind == "data":
                size = len(self._decode_data_uri())
            elif kind == "local":
                path = Path(self.source)
                if not path.is_file():
                    raise TelaConfigError(f"TelaFile {str(path)!r} does not exist or is not a file")
                if not os.access(path, os.R_OK):
                    raise TelaConfigError(f"TelaFile {str(path)!r} is not readable by this worker's user")
                size = path.stat().st_size
            else:
                path = self._storage_path()
                if not path.is_file():
                    raise TelaConfigError(f"TelaFile {str(path)!r} does not exist in object storage")
                size = path.stat().st_size
        except TelaConfigError:
            raise
        except Exception as exc:  # storage backends raise their own errors (credentials, network)
            raise TelaConfigError(
                f"{self!r} cannot be read: {type(exc).__name__}: {exc}. Check the path and the "
                "storage connection (conn_id)."
            ) from exc
        if size == 0:
            raise TelaConfigError(f"{self!r} is empty: Tela cannot read an empty document")
        return size

    def _decode_data_uri(self) -> bytes:
        header, sep, payload = str(self.source).partition(",")
        if not sep or ";base64" not in header:
            raise TelaConfigError(
                "TelaFile data: URI must look like 'data:application/pdf;base64,<base64 bytes>'"
            )
        try:
            return base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise TelaConfigError("TelaFile data: URI does not hold valid base64") from None

    @contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        """A binary stream of the content, read lazily so that big files need little memory."""
        kind = self.kind
        if kind == "bytes":
            import io

            yield io.BytesIO(self.source)
        elif kind == "local":
            with open(self.source, "rb") as stream:
                yield stream
        elif kind == "object_storage":
            with self._storage_path().open("rb") as stream:
                yield stream
        else:
            raise TelaConfigError(f"TelaFile {self!r} is sent as a URL and is not uploaded")

    def to_variable(self, file_url: str | None = None) -> dict[str, Any]:
        """The API's file variable: ``{"file_url": ..., "options": ...}``."""
        variable: dict[str, Any] = {"file_url": file_url or str(self.source)}
        if self.options:
            variable["options"] = self.options
        return variable

    # --- Airflow serialization (XCom) and display ----------------------------------------------

    def serialize(self) -> dict[str, Any]:
        source = self.source
        if isinstance(source, bytes):
            source = {"bytes": base64.b64encode(source).decode()}
        elif not isinstance(source, str):
            source = str(source)
        return {"source": source, "options": self.options, "conn_id": self.conn_id,
                "content_type": self.content_type, "name": self.name}

    @staticmethod
    def deserialize(data: dict[str, Any], version: int) -> TelaFile:
        if version > TelaFile.__version__:
            raise TypeError(f"TelaFile version {version} is newer than this provider's ({TelaFile.__version__})")
        source = data["source"]
        if isinstance(source, dict):
            source = base64.b64decode(source["bytes"])
        return TelaFile(source, data.get("options"), conn_id=data.get("conn_id"),
                        content_type=data.get("content_type"), name=data.get("name"))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TelaFile) and self.serialize() == other.serialize()

    def __hash__(self) -> int:
        return hash(repr(self))

    def __repr__(self) -> str:
        if isinstance(self.source, bytes):
            shown = f"<{len(self.source)} bytes>"
        elif isinstance(self.source, str) and self.source.startswith(DATA_SCHEME):
            shown = repr(self.source[:40] + "...") if len(self.source) > 40 else repr(self.source)
        else:
            shown = repr(str(self.source))
        options = f", options={self.options!r}" if self.options else ""
        return f"TelaFile({shown}{options})"


def _allow_in_xcom() -> None:
    from airflow_provider_tela._compat import allow_deserialization

    allow_deserialization(TelaFile)


_allow_in_xcom()
