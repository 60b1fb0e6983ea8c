"""Presigned-style file uploads and resolution of ``{"file_url": ...}`` variables."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

UPLOAD_PREFIX = "/_uploads/"
DOWNLOAD_PREFIX = "/_files/"


class FileResolutionError(ValueError):
    """A file variable cannot be resolved (unknown emulator file, bad data: URI)."""


@dataclass
class StoredFile:
    token: str
    path: Path
    upload_url: str
    download_url: str
    created_at: float
    size: int | None = None
    sha256: str | None = None
    content_type: str | None = None

    @property
    def uploaded(self) -> bool:
        return self.sha256 is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "upload_url": self.upload_url,
            "download_url": self.download_url,
            "uploaded": self.uploaded,
            "size": self.size,
            "sha256": self.sha256,
            "content_type": self.content_type,
        }


class FileStore:
    """Uploaded files live on disk in a private temp dir, never fully in memory."""

    def __init__(self) -> None:
        self._dir: Path | None = None
        self._files: dict[str, StoredFile] = {}

    def create(self, base_url: str) -> StoredFile:
        token = secrets.token_urlsafe(18)
        record = StoredFile(
            token=token,
            path=self._directory() / token,
            upload_url=f"{base_url}{UPLOAD_PREFIX}{token}",
            download_url=f"{base_url}{DOWNLOAD_PREFIX}{token}",
            created_at=time.time(),
        )
        self._files[token] = record
        return record

    def get(self, token: str) -> StoredFile | None:
        return self._files.get(token)

    async def receive(self, record: StoredFile, chunks: AsyncIterator[bytes], content_type: str | None) -> None:
        """Stream an upload to disk, hashing as it goes; replaces any previous upload."""
        digest = hashlib.sha256()
        size = 0
        # A unique part file keeps concurrent PUTs to one URL from interleaving.
        part = record.path.with_name(f"{record.token}.{uuid.uuid4().hex}.part")
        try:
            # Plain blocking writes: chunks are small and local disk is faster than an executor hop.
            with part.open("wb") as out:
                async for chunk in chunks:
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            os.replace(part, record.path)
        finally:
            part.unlink(missing_ok=True)
        record.size, record.sha256, record.content_type = size, digest.hexdigest(), content_type

    def snapshot(self) -> list[dict[str, Any]]:
        return [record.to_dict() for record in self._files.values()]

    def clear(self) -> None:
        self._files.clear()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def resolve(self, value: Mapping[str, Any]) -> dict[str, Any]:
        """Describe a file variable the way the echo canvases report it."""
        url = value["file_url"]
        resolved: dict[str, Any] = {"file_url": url}
        if url.startswith("data:"):
            data, content_type = _decode_data_uri(url)
            resolved.update(size=len(data), sha256=hashlib.sha256(data).hexdigest(), content_type=content_type)
        else:
            path = urlsplit(url).path
            if path.startswith(DOWNLOAD_PREFIX):
                resolved.update(self._describe_stored(path[len(DOWNLOAD_PREFIX):]))
        if "options" in value:
            resolved["options"] = value["options"]
        return resolved

    def _describe_stored(self, token: str) -> dict[str, Any]:
        record = self._files.get(token)
        if record is None:
            raise FileResolutionError(f"file {token!r} not found")
        if not record.uploaded:
            raise FileResolutionError(f"file {token!r} was never uploaded")
        described: dict[str, Any] = {"size": record.size, "sha256": record.sha256}
        if record.content_type:
            described["content_type"] = record.content_type
        return described

    def _directory(self) -> Path:
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="tela-emulator-files-"))
        return self._dir


def _decode_data_uri(url: str) -> tuple[bytes, str]:
    header, sep, payload = url[len("data:"):].partition(",")
    if not sep:
        raise FileResolutionError("malformed data: URI (no comma)")
    params = header.split(";")
    is_base64 = params[-1].strip().lower() == "base64"
    content_type = params[0].strip() if params[0].strip() and params[0].strip().lower() != "base64" else "text/plain"
    if not is_base64:
        return unquote_to_bytes(payload), content_type
    try:
        return base64.b64decode(payload, validate=True), content_type
    except (binascii.Error, ValueError) as exc:
        raise FileResolutionError(f"invalid base64 in data: URI ({exc})") from exc
