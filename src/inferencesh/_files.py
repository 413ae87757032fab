"""File uploads without I/O: sources and options checked before sending, and the uploads of
task inputs.

``client.files`` (``inferencesh._async.files.AsyncFiles`` and its generated blocking twin)
extends the generated ``files`` resource with ``upload``: ``POST /files`` returns a record with a
presigned ``upload_url``; the bytes then go there with a streamed ``PUT`` that carries no API
headers. Files are read in chunks, so memory stays flat whatever their size.

``files.upload`` takes a path, bytes, a binary file object or a ``data:`` URI; base64 text only
when the caller says so (``encoding="base64"``), since a string is never guessed to be base64.
Options are an ``UploadFileOptions`` or the documented dict (``filename``, ``content_type``,
``public``); unknown keys are refused before anything is sent.

Which files of a task's input are uploaded is decided in ``inferencesh._input_files``.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import io
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
