"""Where a batch's records come from, read one at a time: never the whole input in memory.

A record is a JSON object (a JSONL line, a CSV row, a dict of an inline list) whose keys are canvas
variables. Records are numbered from 0 in input order; blank JSONL lines are not records. The same
input always yields the same numbering, which is what the ledger's indexes refer to.

JSONL lines end at ``\n`` only (a ``\r`` is whitespace to JSON, so ``\r\n`` endings work and a lone
``\r`` inside a line is no line break). CSV is read strictly (RFC 4180 quoting): a quoted cell never
closed, or text after a closing quote, is refused naming its line, never read as fewer records. A
JSONL line or a CSV cell holds at most ``RECORD_LIMIT`` characters (64 Mi).

Sources: an inline list (or an XCom value), or a file in JSONL or CSV at a local path, an
object-storage URL (``s3://...``, ``file://...``) or an ``ObjectStoragePath``. Reading blocks; the
engine pulls records in chunks through ``asyncio.to_thread``.

``scan`` reads the whole input once before anything is sent: it validates every record (the same
``build_request`` a submission uses), counts them, and hashes them into the digest the batch's
fingerprint binds, so a retry whose input changed never resumes the old batch.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_tela._storage import Location, is_object_storage_path
from airflow_provider_tela.errors import TelaConfigError

FORMATS = ("jsonl", "csv")
# The most characters a JSONL line or a CSV cell may hold (documented in docs/batch.md, Records).
# A record is held in memory while it is checked and sent; Tela does not document a body limit.
RECORD_LIMIT = 64 * 1024 * 1024
_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}


@dataclass(frozen=True, slots=True)
class Record:
    index: int
    variables: dict[str, Any]
    line: int | None  # where it is in its file (for error messages), None for inline records


@dataclass(frozen=True)
class RecordFile:
    """A file of records, as stored in a plan: its URI (with the storage connection) and format."""

    uri: str
    format: str

    def to_json(self) -> dict[str, str]:
        return {"uri": self.uri, "format": self.format}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RecordFile:
        return cls(uri=str(data["uri"]), format=str(data["format"]))


Source = RecordFile | Iterable[Mapping[str, Any]]


def describe(records: Any, records_format: str | None = None, conn_id: str | None = None) -> Source:
    """The source the operator's ``records`` names, checked without reading it."""
    if isinstance(records, str):
        text = records.strip()
        if text.startswith(("[", "{")):
            raise TelaConfigError(
                "records looks like JSON text, not a path: pass the XComArg itself (records=task.output) or "
                "set render_template_as_native_obj=True on the DAG, or write the records to a JSONL file."
            )
    if isinstance(records, (str, Location)) or is_object_storage_path(records) or hasattr(records, "__fspath__"):
        location = absolute(Location.parse(records, conn_id))
        return RecordFile(location.uri, _format_of(location.name, records_format))
    if isinstance(records, (Mapping, bytes, bytearray)) or not isinstance(records, Iterable):
        raise TelaConfigError(
            f"records must be a list of dicts (one per record), an XComArg returning one, or the path or URL "
            f"of a JSONL or CSV file; got {type(records).__name__}."
        )
    return records


def absolute(location: Location) -> Location:
    """A local path made absolute where it is given (the worker): the plan it goes into is read by a
    triggerer, or a retry's worker, whose working directory may be another."""
    return Location.parse(os.path.abspath(location.uri)) if location.is_local else location


def _format_of(name: str, records_format: str | None) -> str:
    if records_format is not None:
        if records_format not in FORMATS:
            raise TelaConfigError(f"records_format must be one of {FORMATS}, got {records_format!r}")
        return records_format
    lowered = name.lower()
    for suffix, found in _SUFFIXES.items():
        if lowered.endswith(suffix):
            return found
    raise TelaConfigError(
        f"Cannot tell the format of records file {name!r} from its name: name it *.jsonl or *.csv, or pass "
        "records_format='jsonl' or 'csv'. (A JSON array file cannot be streamed: write one object per line.)"
    )


def iter_records(source: Source) -> Iterator[Record]:
    """The records of ``source`` in order, read lazily (blocking)."""
    if isinstance(source, RecordFile):
        yield from _iter_file(source)
        return
    for index, item in enumerate(source):
        if not isinstance(item, Mapping):
            raise TelaConfigError(
                f"record {index} must be a dict of variables, got {type(item).__name__}: e.g. {{'text': '...'}}"
            )
        yield Record(index, dict(item), None)


def _iter_file(source: RecordFile) -> Iterator[Record]:
    location = Location.parse(source.uri)
    try:
        opened = location.open_read()
        stream = opened.__enter__()
    except FileNotFoundError:
        raise TelaConfigError(f"records file {source.uri} does not exist") from None
    except Exception as exc:  # storage backends raise their own errors (credentials, network)
        raise TelaConfigError(
            f"records file {source.uri} cannot be read: {type(exc).__name__}: {exc}. Check the path and the "
            "storage connection."
        ) from exc
    try:
        # CSV: newline="", csv reads quoted cells spanning lines itself. JSONL: lines end at \n only; a
        # \r is JSON whitespace (newline="" would also end a line at a lone \r, cutting a valid record)
        newline = "\n" if source.format == "jsonl" else ""
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="strict", newline=newline)
        try:
            yield from (_iter_jsonl(text, source.uri) if source.format == "jsonl" else _iter_csv(text, source.uri))
        except UnicodeDecodeError as exc:
            raise TelaConfigError(f"records file {source.uri} is not UTF-8 text ({exc.reason})") from None
        except OSError as exc:  # the storage failed part-way: never fewer records, silently
            raise TelaConfigError(
                f"records file {source.uri} could not be read to its end: {type(exc).__name__}: {exc}. Check the "
                "path and the storage connection."
            ) from None
        finally:
            text.detach()
    finally:
        opened.__exit__(None, None, None)


def _too_long(where: str) -> TelaConfigError:
    return TelaConfigError(
        f"{where}: a record's text is longer than {RECORD_LIMIT:,} characters, the most a JSONL line or a CSV "
        "cell may hold; give the document as a file URL variable ({'file_url': 'https://...'}) instead."
    )


def _iter_jsonl(text: io.TextIOWrapper, uri: str) -> Iterator[Record]:
    index = 0
    limit = RECORD_LIMIT
    lines = iter(lambda: text.readline(limit + 2), "")  # at most the limit and its \r\n: memory stays bounded
    for line_number, line in enumerate(lines, start=1):
        if len(line.rstrip("\r\n")) > limit or (len(line) == limit + 2 and not line.endswith("\n")):
            raise _too_long(f"line {line_number} of {uri}")
        if not line.strip():
            continue
        error = None
        try:
            value = json.loads(line)
        except (ValueError, RecursionError) as exc:
            error = f"line {line_number} of {uri} is not valid JSON ({exc})"
        else:
            if not isinstance(value, dict):
                error = (f"line {line_number} of {uri} must be a JSON object of variables, got "
                         f"{type(value).__name__}: e.g. {{\"text\": \"...\"}}")
        if error is not None:
            raise TelaConfigError(error)
        yield Record(index, value, line_number)
        index += 1


def _iter_csv(text: Iterable[str], uri: str) -> Iterator[Record]:
    # csv's limit is one for the whole process: raised (never lowered) to let cells up to RECORD_LIMIT
    # through; the limit a record is held to is checked here, whatever another module set.
    csv.field_size_limit(max(csv.field_size_limit(), RECORD_LIMIT + 1))
    reader = csv.DictReader(text, strict=True)
    start = 1
    try:
        fieldnames = reader.fieldnames
        if fieldnames is None:
            return
        if len(set(fieldnames)) != len(fieldnames) or any(not name for name in fieldnames):
            raise TelaConfigError(f"the header of {uri} must name each column once: {fieldnames}")
        index = 0
        while True:
            start = reader.line_num + 1
            row = next(reader, None)
            if row is None:
                return
            if None in row or any(value is None for value in row.values()):
                raise TelaConfigError(
                    f"line {reader.line_num} of {uri} has {'more' if None in row else 'fewer'} cells than the header "
                    f"({len(fieldnames)} columns)"
                )
            if any(len(value) > RECORD_LIMIT for value in row.values()):
                raise _too_long(f"line {start} of {uri}")
            yield Record(index, dict(row), reader.line_num)
            index += 1
    except csv.Error as exc:
        raise _csv_error(exc, uri, start) from None


def _csv_error(exc: csv.Error, uri: str, start: int) -> TelaConfigError:
    """``start``: the line the record (or the header) that could not be read begins on."""
    reason = str(exc)
    if "field larger than field limit" in reason:
        return _too_long(f"line {start} of {uri}")
    if "unexpected end of data" in reason:
        return TelaConfigError(
            f"line {start} of {uri} opens a quoted cell that is never closed (the file ends inside it): close the "
            'quote, and double any quote inside a quoted cell ("" for ").'
        )
    return TelaConfigError(
        f"line {start} of {uri} is not valid CSV ({reason}): quote a cell holding a comma, a quote or a line break, "
        'and double any quote inside it ("" for ").'
    )


@dataclass(frozen=True)
class Scan:
    total: int
    digest: str


Check = Callable[[Record], None]


def scan(source: Source, check: Check) -> Scan:
    """Read every record once: ``check`` each (raising TelaConfigError), count them, hash them."""
    digest = hashlib.sha256()
    total = 0
    for record in iter_records(source):
        try:
            check(record)
            digest.update(_standard(record.variables))
        except TelaConfigError as exc:
            where = f" (line {record.line})" if record.line is not None else ""
            raise TelaConfigError(f"record {record.index}{where}: {exc}") from None
        digest.update(b"\n")
        total += 1
    return Scan(total=total, digest=digest.hexdigest())


def _text(variables: Mapping[str, Any], *, allow_nan: bool = True) -> str:
    return json.dumps(variables, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str,
                      allow_nan=allow_nan)


def canonical(variables: Mapping[str, Any]) -> bytes:
    """A record as the digest hashes it and ``write_jsonl`` writes it: UTF-8 JSON. (What ``scan``
    refuses, a lone surrogate or NaN, is hashed here without an error: surrogatepass bytes, ``NaN``.)"""
    return _text(variables).encode("utf-8", "surrogatepass")


def _standard(variables: Mapping[str, Any]) -> bytes:
    """``canonical``, refusing what standard JSON in UTF-8 cannot hold: NaN or Infinity (Python's reader
    takes them in a JSONL line), or a lone UTF-16 surrogate (half a character)."""
    try:
        return _text(variables, allow_nan=False).encode()
    except (ValueError, UnicodeEncodeError):
        pass
    for name, value in variables.items():
        try:
            _text({name: value}, allow_nan=False).encode()
        except UnicodeEncodeError:
            raise TelaConfigError(
                f"variable {name!r} holds a lone UTF-16 surrogate (half of a character, such as an emoji cut in "
                "two by a JavaScript string slice): it cannot be sent or written as UTF-8 text. Fix the text "
                "where it is produced, or drop the broken character."
            ) from None
        except ValueError:
            raise TelaConfigError(
                f"variable {name!r} holds NaN or Infinity, which JSON cannot carry (it would be sent as null): "
                "give a finite number, as text, or leave the value out."
            ) from None
    raise AssertionError("unreachable: one variable fails alone")  # pragma: no cover


def write_jsonl(target: Location, source: Source) -> RecordFile:
    """Copy inline records into a JSONL file (for a trigger, which cannot receive them in its kwargs)."""
    with target.open_write() as stream:
        for record in iter_records(source):
            stream.write(canonical(record.variables) + b"\n")
    return RecordFile(target.uri, "jsonl")
