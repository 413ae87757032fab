"""File uploads without I/O: sources and options checked before sending, and the automatic
upload of task inputs.

``client.files`` (``inferencesh._async.files.AsyncFiles`` and its generated blocking twin)
extends the generated ``files`` resource with ``upload``: ``POST /files`` returns a record with a
presigned ``upload_url``; the bytes then go there with a streamed ``PUT`` that carries no API
headers. Files are read in chunks, so memory stays flat whatever their size.

``files.upload`` takes a path, bytes, a binary file object or a ``data:`` URI; base64 text only
when the caller says so (``encoding="base64"``), since a string is never guessed to be base64.
Options are an ``UploadFileOptions`` or the documented dict (``filename``, ``content_type``,
``public``); unknown keys are refused before anything is sent.

Automatic upload of task inputs, anywhere in nested ``input`` dicts and lists:

* ``File`` objects (``inferencesh.File``), ``pathlib.Path`` objects and ``data:`` URIs are uploaded;
* a string is uploaded only when it names an existing regular file;
* nothing else is touched: a string is never guessed to be base64, a directory is never uploaded
  (a ``Path`` to a directory is refused), and ``upload_files=False`` turns it all off.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import io
import math
import mimetypes
import os
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import IO, TYPE_CHECKING, Any, Literal, TypedDict, Union, cast

from inferencesh._errors import FileUploadError, InvalidInputError
from inferencesh._logging import logger

if TYPE_CHECKING:
    from inferencesh._generated.models import FileDTO

__all__ = [
    "InputPlan",
    "PreparedUpload",
    "ProgressCallback",
    "UploadEncoding",
    "UploadFileOptions",
    "UploadFileOptionsDict",
    "UploadItem",
    "UploadOptions",
    "UploadSource",
    "check_put",
    "counting",
    "create_request",
    "plan_input",
    "prepare_upload",
    "progress_reporter",
    "put_headers",
    "record_uri",
    "upload_failed",
    "upload_options",
    "upload_record",
]

CHUNK_SIZE = 1024 * 1024
_OCTET = "application/octet-stream"

ProgressCallback = Callable[[int, int | None], None]
"""Called as ``(bytes_sent, total_bytes_or_None)`` while an upload progresses."""

UploadSource = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes]]
"""What ``files.upload`` accepts: a path, bytes, a binary file object or a ``data:`` URI (or
base64 text with ``encoding="base64"``)."""

UploadEncoding = Literal["base64"]
"""How a ``str`` or ``bytes`` source is encoded: ``"base64"`` (standard or URL-safe alphabet)."""


@dataclass(frozen=True)
class UploadFileOptions:
    """Options of one upload: the name and content type to record, and its visibility."""

    filename: str | None = None
    content_type: str | None = None
    public: bool | None = None


class UploadFileOptionsDict(TypedDict, total=False):
    """The documented dict form of ``UploadFileOptions``: ``{"filename": "a.png", ...}``."""

    filename: str | None
    content_type: str | None
    public: bool | None


UploadOptions = UploadFileOptions | UploadFileOptionsDict
"""Upload options as ``files.upload`` takes them: the dataclass or its dict."""

_OPTION_KEYS = ("filename", "content_type", "public")
# Keys of the JS SDK's options, which users porting code bring along.
_OPTION_HINTS = {"contentType": "content_type", "fileName": "filename", "name": "filename"}


def upload_options(options: object) -> UploadFileOptions:
    """``UploadFileOptions`` from the dataclass, its documented dict or None; bad keys and values
    are refused before anything is sent."""
    if options is None:
        return UploadFileOptions()
    values: dict[Any, Any]
    if isinstance(options, UploadFileOptions):
        values = {key: getattr(options, key) for key in _OPTION_KEYS}
    elif isinstance(options, Mapping):
        values = dict(options)  # pyright: ignore[reportUnknownArgumentType]
        unknown = [key for key in values if key not in _OPTION_KEYS]
        if unknown:
            hints = [
                f"{key!r} is {_OPTION_HINTS[key]!r} here"
                for key in unknown
                if isinstance(key, str) and key in _OPTION_HINTS
            ]
            raise InvalidInputError(
                f"upload options: unknown key{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(repr(key) for key in unknown)}; allowed: "
                f"{', '.join(_OPTION_KEYS)}" + (f" ({'; '.join(hints)})" if hints else "")
            )
    else:
        raise InvalidInputError(
            "upload options must be an UploadFileOptions or a dict with "
            f"{', '.join(_OPTION_KEYS)}, got a {type(options).__name__}"
        )
    for key in ("filename", "content_type"):
        value = values.get(key)
        if value is not None and (
            not isinstance(value, str) or not value.strip() or "\r" in value or "\n" in value
        ):
            raise InvalidInputError(
                f"upload options {key} must be a non-empty string without line breaks, "
                f"got {value!r}"
            )
    public = values.get("public")
    if public is not None and not isinstance(public, bool):
        raise InvalidInputError(f"upload options public must be True or False, got {public!r}")
    return UploadFileOptions(**values)


class PreparedUpload:
    """A resolved upload: metadata plus a way to read the bytes (possibly more than once)."""

    __slots__ = ("content_type", "data", "file", "filename", "label", "path", "size")

    def __init__(
        self,
        *,
        label: str,
        filename: str,
        content_type: str,
        size: int | None,
        path: str | None = None,
        data: bytes | None = None,
        file: IO[bytes] | None = None,
    ) -> None:
        self.label = label
        self.filename = filename
        self.content_type = content_type
        self.size = size
        self.path = path
        self.data = data
        self.file = file

    def chunks(self) -> Iterator[bytes]:
        """The bytes, in chunks of ``CHUNK_SIZE``."""
        if self.data is not None:
            view = memoryview(self.data)
            for start in range(0, len(view), CHUNK_SIZE):
                yield bytes(view[start : start + CHUNK_SIZE])
            return
        if self.path is not None:
            with open(self.path, "rb") as handle:
                while chunk := handle.read(CHUNK_SIZE):
                    yield chunk
            return
        assert self.file is not None
        while chunk := self.file.read(CHUNK_SIZE):
            yield chunk


UploadItem = tuple[PreparedUpload, UploadFileOptions | None]
"""A prepared file and its upload options, as ``files.upload_many`` takes them."""


def _guess_type(filename: str) -> str:
    return mimetypes.guess_type(filename, strict=False)[0] or _OCTET


def _decode_data_uri(uri: str) -> tuple[bytes, str]:
    header, sep, payload = uri[5:].partition(",")
    if not sep:
        raise InvalidInputError("data URI has no ',' separating the header from the data")
    params = header.split(";")
    media = params[0] or "text/plain"
    if "base64" in params[1:]:
        text = payload.strip().replace("-", "+").replace("_", "/")
        text += "=" * (-len(text) % 4)
        try:
            return base64.b64decode(text, validate=True), media
        except (binascii.Error, ValueError):
            raise InvalidInputError("data URI has invalid base64 data") from None
    return urllib.parse.unquote_to_bytes(payload), media


def _shown(text: str) -> str:
    """A string for an error message: long ones (base64 data, say) cut short."""
    if len(text) <= 60:
        return repr(text)
    return f"{text[:40]!r}... ({len(text)} characters)"


_BASE64_TRANSLATION = str.maketrans("-_", "+/")


def _base64(text: str) -> bytes | None:
    """``text`` decoded as base64 (standard or URL-safe, padding optional), else None."""
    compact = "".join(text.split()).translate(_BASE64_TRANSLATION)
    compact += "=" * (-len(compact) % 4)
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None


def _decode_base64(source: Any) -> bytes:
    """The bytes of a source the caller declared base64-encoded."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        try:
            text = bytes(cast("bytes", source)).decode("ascii")
        except UnicodeDecodeError:
            raise InvalidInputError(
                'encoding="base64": the bytes are not base64 text (raw bytes need no encoding=)'
            ) from None
    elif isinstance(source, str):
        text = source
    else:
        raise InvalidInputError(
            f'encoding="base64" applies to a str or bytes of base64 text, got a '
            f"{type(source).__name__}"
        )
    if text.startswith("data:"):
        raise InvalidInputError(
            'encoding="base64": a data: URI carries its own encoding; pass it without encoding='
        )
    data = _base64(text)
    if data is None:
        raise InvalidInputError(f'encoding="base64": {_shown(text)} is not valid base64')
    return data


def _prepare_bytes(data: bytes, options: UploadFileOptions) -> PreparedUpload:
    filename = options.filename or "file"
    return PreparedUpload(
        label=filename,
        filename=filename,
        content_type=options.content_type or _guess_type(filename),
        size=len(data),
        data=data,
    )


def prepare_upload(
    source: Any,
    options: UploadFileOptions | None = None,
    encoding: UploadEncoding | None = None,
) -> PreparedUpload:
    """Resolve an upload source and its metadata; refuse bad sources before any request."""
    options = options or UploadFileOptions()
    if encoding is not None:
        if encoding != "base64":
            raise InvalidInputError(f'encoding must be "base64" or None, got {encoding!r}')
        return _prepare_bytes(_decode_base64(source), options)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _prepare_bytes(bytes(cast("bytes", source)), options)
    if isinstance(source, str) and source.startswith("data:"):
        data, media = _decode_data_uri(source)
        extension = mimetypes.guess_extension(media) or ""
        filename = options.filename or f"file{extension}"
        return PreparedUpload(
            label=filename,
            filename=filename,
            content_type=options.content_type or media,
            size=len(data),
            data=data,
        )
    if isinstance(source, (str, PurePath, os.PathLike)):
        path = os.fspath(cast("str", source))
        return _prepare_path(path, options)
    if hasattr(source, "read"):
        return _prepare_file_object(source, options)
    raise InvalidInputError(
        f"cannot upload a {type(source).__name__}: expected a path, bytes, a binary file object "
        "or a data: URI"
    )


def _prepare_path(path: str, options: UploadFileOptions) -> PreparedUpload:
    if os.path.isdir(path):
        raise InvalidInputError(f"{path!r} is a directory; only regular files can be uploaded")
    if not os.path.isfile(path):
        hint = ""
        if _base64(path) is not None:
            hint = (
                '; if it is base64 data, pass encoding="base64" (a string is never guessed to '
                "be base64)"
            )
        raise InvalidInputError(f"{_shown(path)}: no such file{hint}")
    filename = options.filename or os.path.basename(path)
    return PreparedUpload(
        label=path,
        filename=filename,
        content_type=options.content_type or _guess_type(filename),
        size=os.path.getsize(path),
        path=path,
    )


def _prepare_file_object(handle: Any, options: UploadFileOptions) -> PreparedUpload:
    if isinstance(handle, io.TextIOBase):
        raise InvalidInputError("file objects must be opened in binary mode ('rb')")
    name = getattr(handle, "name", None)
    filename = options.filename or (os.path.basename(name) if isinstance(name, str) else "file")
    size: int | None = None
    try:
        if handle.seekable():
            position = handle.tell()
            size = handle.seek(0, os.SEEK_END) - position
            handle.seek(position)
    except (AttributeError, OSError, ValueError):
        size = None
    return PreparedUpload(
        label=name if isinstance(name, str) else filename,
        filename=filename,
        content_type=options.content_type or _guess_type(filename),
        size=size,
        file=handle,
    )


def create_request(prepared: PreparedUpload, options: UploadFileOptions | None) -> Any:
    """The ``POST /files`` body that asks for the record (and upload URL) of one file."""
    from inferencesh._generated.models import FileCreateRequest, PartialFile

    partial: dict[str, Any] = {
        "uri": "",
        "filename": prepared.filename,
        "content_type": prepared.content_type,
    }
    if prepared.size is not None:
        partial["size"] = prepared.size
    if options is not None and options.public is not None:
        partial["public"] = options.public
    return FileCreateRequest.model_validate({"files": [PartialFile.model_validate(partial)]})


def put_headers(prepared: PreparedUpload) -> dict[str, str]:
    """The headers of the ``PUT`` to the upload URL."""
    headers = {"Content-Type": prepared.content_type}
    if prepared.size is not None:
        # Presigned object-store URLs refuse chunked uploads: send the length up front.
        headers["Content-Length"] = str(prepared.size)
    return headers


def upload_record(records: list[FileDTO], prepared: PreparedUpload) -> FileDTO:
    """The one record ``POST /files`` returned, with its upload URL."""
    if not records:
        raise FileUploadError(
            f"uploading {prepared.label!r}: the server returned no file record",
            filename=prepared.label,
        )
    record = records[0]
    if not record.upload_url:
        raise FileUploadError(
            f"uploading {prepared.label!r}: the server returned no upload URL",
            filename=prepared.label,
        )
    return record


def progress_reporter(
    progress: ProgressCallback | bool | None, prepared: PreparedUpload
) -> tuple[ProgressCallback | None, Callable[[], None]]:
    """The callback to call per chunk, and a closer (for the optional tqdm bar)."""
    if progress is True:
        try:
            tqdm: Any = importlib.import_module("tqdm").tqdm
        except ImportError:
            logger.info("progress=True needs tqdm (pip install tqdm); uploading without a bar")
            return None, lambda: None
        bar: Any = tqdm(total=prepared.size, unit="B", unit_scale=True, desc=prepared.filename)
        state = {"sent": 0}

        def update(sent: int, total: int | None) -> None:
            bar.update(sent - state["sent"])
            state["sent"] = sent

        return update, bar.close
    if callable(progress):
        return progress, lambda: None
    return None, lambda: None


def counting(
    chunks: Iterator[bytes], callback: ProgressCallback | None, total: int | None
) -> Iterator[bytes]:
    """``chunks``, reporting the bytes sent so far to ``callback`` after each."""
    sent = 0
    for chunk in chunks:
        sent += len(chunk)
        yield chunk
        if callback is not None:
            callback(sent, total)


def upload_failed(prepared: PreparedUpload, exc: BaseException) -> FileUploadError:
    """The error of an upload that failed on the way (``exc`` is its cause)."""
    return FileUploadError(f"uploading {prepared.label!r} failed: {exc}", filename=prepared.label)


def check_put(prepared: PreparedUpload, status: int, text: str) -> None:
    """Refuse the storage's answer to the ``PUT`` unless it is a success."""
    if status >= 300:
        snippet = " ".join(text.split())[:200]
        raise FileUploadError(
            f"uploading {prepared.label!r} failed: the storage answered HTTP {status} {snippet}",
            filename=prepared.label,
        )


def record_uri(record: FileDTO, prepared: PreparedUpload) -> str:
    """The ``uri`` of an uploaded file's record, which task inputs use."""
    uri = record.uri
    if not uri:
        raise FileUploadError(
            f"uploading {prepared.label!r}: the server returned no uri", filename=prepared.label
        )
    return uri


# Automatic upload of task inputs.


class _Upload:
    """A placeholder for a value that will be replaced by the URI of its upload."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


class InputPlan:
    """Task input with upload targets replaced by placeholders; validated as JSON."""

    def __init__(self, value: Any, uploads: list[UploadItem]):
        self.value = value
        self.uploads = uploads

    def fill(self, uris: list[str]) -> Any:
        """The input with every placeholder replaced by its URI."""
        return _fill(self.value, uris) if self.uploads else self.value


def plan_input(value: Any, *, upload_files: bool, where: str = "input") -> InputPlan:
    """Check that ``value`` is JSON and find the files to upload; raise before any request."""
    uploads: list[UploadItem] = []
    seen: dict[str, int] = {}
    planned = _plan(value, where, upload_files, uploads, seen, 0)
    return InputPlan(planned, uploads)


_MAX_DEPTH = 64


def _plan(
    value: Any,
    where: str,
    upload: bool,
    uploads: list[UploadItem],
    seen: dict[str, int],
    depth: int,
) -> Any:
    if depth > _MAX_DEPTH:
        raise InvalidInputError(f"{where}: nested deeper than {_MAX_DEPTH} levels")
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(f"{where}: {value!r} is not valid JSON")
        return value
    if isinstance(value, str):
        if upload and _is_upload_string(value):
            return _target(value, value, None, uploads, seen)
        return value
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for key, item in value.items():  # pyright: ignore[reportUnknownVariableType]
            if not isinstance(key, str):
                raise InvalidInputError(f"{where}: keys must be strings, got {key!r}")
            result[key] = _plan(item, f"{where}.{key}", upload, uploads, seen, depth + 1)
        return result
    if isinstance(value, (list, tuple)):
        return [
            _plan(item, f"{where}[{index}]", upload, uploads, seen, depth + 1)
            for index, item in enumerate(cast("list[Any]", value))
        ]
    if upload and isinstance(value, PurePath):
        path = str(value)
        if os.path.isdir(path):
            raise InvalidInputError(
                f"{where}: {path!r} is a directory; only regular files can be uploaded"
            )
        if not os.path.isfile(path):
            raise InvalidInputError(f"{where}: {path!r}: no such file")
        return _target(path, path, None, uploads, seen)
    if upload and _is_app_file(value):
        return _plan_app_file(value, where, uploads, seen)
    if hasattr(value, "model_dump"):
        return _plan(value.model_dump(mode="python"), where, upload, uploads, seen, depth + 1)
    hint = " (upload_files=False keeps paths and files from being uploaded)" if not upload else ""
    raise InvalidInputError(
        f"{where}: a {type(value).__name__} is not JSON serialisable"
        f"{hint if isinstance(value, PurePath) or _is_app_file(value) else ''}"
    )


def _is_upload_string(value: str) -> bool:
    if value.startswith("data:"):
        return True
    # Cheap filters first: most strings are not paths, and a stat per string is not free.
    if not value or len(value) > 4096 or "\n" in value or "\x00" in value or "://" in value:
        return False
    try:
        return os.path.isfile(value)
    except (OSError, ValueError):
        return False


def _is_app_file(value: Any) -> bool:
    cls = cast("type[object]", type(value))
    return cls.__name__ == "File" and cls.__module__.startswith("inferencesh")


def _plan_app_file(
    value: Any,
    where: str,
    uploads: list[UploadItem],
    seen: dict[str, int],
) -> Any:
    path = getattr(value, "path", None)
    uri = getattr(value, "uri", None)
    options = UploadFileOptions(
        filename=getattr(value, "filename", None), content_type=getattr(value, "content_type", None)
    )
    if isinstance(path, str) and path:
        if os.path.isdir(path):
            raise InvalidInputError(f"{where}: File path {path!r} is a directory")
        if os.path.isfile(path):
            return _target(path, path, options, uploads, seen)
    if isinstance(uri, str) and uri:
        if uri.startswith("data:"):
            return _target(uri, uri, options, uploads, seen)
        if "://" in uri:
            return uri
        if os.path.isfile(uri):
            return _target(uri, uri, options, uploads, seen)
    raise InvalidInputError(f"{where}: File has no existing local path and no remote uri")


def _target(
    key: str,
    source: str,
    options: UploadFileOptions | None,
    uploads: list[UploadItem],
    seen: dict[str, int],
) -> _Upload:
    index = seen.get(key)
    if index is None:
        index = len(uploads)
        uploads.append((prepare_upload(source, options), options))
        seen[key] = index
    return _Upload(index)


def _fill(value: Any, uris: list[str]) -> Any:
    if isinstance(value, _Upload):
        return uris[value.index]
    if isinstance(value, dict):
        return {key: _fill(item, uris) for key, item in value.items()}  # pyright: ignore
    if isinstance(value, list):
        return [_fill(item, uris) for item in value]  # pyright: ignore
    return value
