"""``File``: a file an app takes or returns, by local path, URL or ``data:`` URI."""

from __future__ import annotations

import base64
import binascii
import hashlib
import mimetypes
import os
import re
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import httpx
from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from inferencesh._errors import FileTooLargeError

__all__ = ["File", "FileTooLargeError"]

DEFAULT_MAX_DOWNLOAD_BYTES = 1 << 30
_CHUNK = 1 << 16
_DATA_URI = re.compile(r"^data:([^;,]*)((?:;[^;,]*)*),(.*)$", re.DOTALL)


def _cache_dir() -> Path:
    configured = os.environ.get("FILE_CACHE_DIR")
    root = Path(configured) if configured else Path.home() / ".cache" / "inferencesh" / "files"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _max_download_bytes() -> int:
    value = os.environ.get("INFERENCESH_MAX_DOWNLOAD_BYTES")
    return int(value) if value else DEFAULT_MAX_DOWNLOAD_BYTES


def _is_url(value: str) -> bool:
    return urllib.parse.urlsplit(value).scheme in ("http", "https")


class File:
    """A file given by ``path``, by ``uri`` (URL, ``data:`` URI or local path), or both.

    Metadata (``content_type``, ``size``, ``filename``) is filled from the file when it is local.
    ``names_local_path`` is True when it was given as a path on this machine (a path, a
    ``file://`` URI or a bare path) rather than a URL or a ``data:`` URI.
    A URL is not fetched on construction: ``await file.download()`` (the runtime does it for app
    inputs before ``run``) streams it into the cache folder without blocking the event loop.

    >>> f = File.from_path("README.md")
    >>> f.filename
    'README.md'
    """

    def __init__(
        self,
        initializer: str | os.PathLike[str] | dict[str, Any] | File | None = None,
        *,
        uri: str | None = None,
        path: str | os.PathLike[str] | None = None,
        content_type: str | None = None,
        size: int | None = None,
        filename: str | None = None,
    ) -> None:
        self.uri: str | None
        self.names_local_path = False
        self.content_type: str | None
        self.size: int | None
        self.filename: str | None
        if isinstance(initializer, File):
            uri, path = uri or initializer.uri, path or initializer.path
            content_type = content_type or initializer.content_type
            size = size if size is not None else initializer.size
            filename = filename or initializer.filename
        elif isinstance(initializer, dict):
            uri = uri or initializer.get("uri") or None
            path = path or initializer.get("path") or None
            content_type = content_type or initializer.get("content_type")
            size = size if size is not None else initializer.get("size")
            filename = filename or initializer.get("filename")
        elif initializer is not None:
            uri = uri or os.fspath(initializer)
        if not uri and not path:
            raise ValueError("File needs a 'uri' or a 'path'")
        self.uri = uri
        self.content_type = content_type
        self.size = size
        self.filename = filename
        self._path: str | None = None
        if isinstance(initializer, File) and path == initializer.path:
            # A copy keeps where the original's path came from.
            self._path = initializer.path
            self.names_local_path = initializer.names_local_path
        elif path:
            self._path = os.path.abspath(os.fspath(path))
            self.names_local_path = True
        elif uri and uri.startswith("data:"):
            self._path = self._decode_data_uri(uri)
        elif uri and uri.startswith("file://"):
            self._path = os.path.abspath(urllib.parse.unquote(urllib.parse.urlsplit(uri).path))
            self.names_local_path = True
        elif uri and not _is_url(uri):
            self._path = os.path.abspath(uri)
            self.names_local_path = True
        self._fill_metadata()

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> File:
        """A ``File`` for a local path, with its metadata read from disk."""
        return cls(uri=os.fspath(path))

    @property
    def path(self) -> str | None:
        """The local path, or None while a URL is not downloaded yet."""
        return self._path

    @path.setter
    def path(self, value: str | None) -> None:
        self._path = value

    def exists(self) -> bool:
        """True if the file is on the local disk."""
        return self._path is not None and os.path.isfile(self._path)

    def is_local(self) -> bool:
        """Alias of :meth:`exists`, as older apps call it."""
        return self.exists()

    def is_resolved(self) -> bool:
        """True once the file has a local path (always, except for a URL not downloaded)."""
        return self._path is not None

    def refresh_metadata(self) -> None:
        """Re-read content type, size and filename from the local file."""
        if self.exists():
            assert self._path is not None
            self.content_type = mimetypes.guess_type(self._path)[0] or self.content_type
            self.size = os.path.getsize(self._path)
            self.filename = os.path.basename(self._path)

    def to_dict(self) -> dict[str, Any]:
        """The serialised form ``{uri, path, content_type, size, filename}`` without unset keys."""
        values = {
            "uri": self.uri,
            "path": self._path,
            "content_type": self.content_type,
            "size": self.size,
            "filename": self.filename,
        }
        return {key: value for key, value in values.items() if value is not None}

    def __repr__(self) -> str:
        return f"File({self.to_dict()!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, File) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((self.uri, self._path))

    async def download(
        self, *, max_bytes: int | None = None, client: httpx.AsyncClient | None = None
    ) -> str:
        """Fetch a URL into the cache folder (reused when present); returns the local path."""
        if self._path is not None:
            return self._path
        assert self.uri is not None
        limit = _max_download_bytes() if max_bytes is None else max_bytes
        target = self._cache_path(self.uri)
        if target.is_file():
            target.touch()
        else:
            if client is None:
                async with httpx.AsyncClient(follow_redirects=True, timeout=120) as own:
                    await self._fetch(own, target, limit)
            else:
                await self._fetch(client, target, limit)
        self._path = str(target)
        self._fill_metadata()
        return self._path

    async def _fetch(self, client: httpx.AsyncClient, target: Path, limit: int) -> None:
        assert self.uri is not None
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        try:
            async with client.stream("GET", self.uri) as response:
                response.raise_for_status()
                declared = response.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > limit:
                    raise FileTooLargeError(f"{self.uri} is larger than {limit} bytes")
                if not self.content_type:
                    header = response.headers.get("content-type", "")
                    self.content_type = header.split(";")[0].strip() or None
                received = 0
                with tmp.open("wb") as out:
                    async for chunk in response.aiter_bytes(_CHUNK):
                        received += len(chunk)
                        if received > limit:
                            raise FileTooLargeError(f"{self.uri} is larger than {limit} bytes")
                        out.write(chunk)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)

    def download_sync(self, *, max_bytes: int | None = None) -> str:
        """Blocking twin of :meth:`download`, for code that has no event loop."""
        import asyncio

        return asyncio.run(self.download(max_bytes=max_bytes))

    @staticmethod
    def _cache_path(url: str) -> Path:
        parts = urllib.parse.urlsplit(url)
        digest = hashlib.sha256(f"{parts.netloc}{parts.path}?{parts.query}".encode()).hexdigest()
        name = os.path.basename(urllib.parse.unquote(parts.path)) or "download"
        folder = _cache_dir() / digest[:16]
        folder.mkdir(parents=True, exist_ok=True)
        return folder / name

    def _decode_data_uri(self, uri: str) -> str:
        match = _DATA_URI.match(uri)
        if match is None:
            raise ValueError("invalid data URI")
        media_type = match.group(1) or "text/plain"
        payload = match.group(3)
        if ";base64" in match.group(2):
            text = payload.replace("-", "+").replace("_", "/")
            try:
                data = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
            except binascii.Error as exc:
                raise ValueError(f"invalid base64 in data URI: {exc}") from None
        else:
            data = urllib.parse.unquote_to_bytes(payload)
        if not self.content_type:
            self.content_type = media_type
        extension = mimetypes.guess_extension(media_type) or ""
        folder = _cache_dir() / "data_uri" / hashlib.sha256(uri.encode()).hexdigest()[:16]
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"file{extension}"
        if not target.is_file():
            tmp = folder / f".file.{uuid.uuid4().hex}.part"
            tmp.write_bytes(data)
            os.replace(tmp, target)
        return str(target)

    def _fill_metadata(self) -> None:
        if not self.exists():
            return
        assert self._path is not None
        if not self.content_type:
            self.content_type = mimetypes.guess_type(self._path)[0]
        if self.size is None:
            self.size = os.path.getsize(self._path)
        if not self.filename:
            self.filename = os.path.basename(self._path)

    # pydantic integration: a custom type, validated from a str, dict or File.
    @classmethod
    def __get_pydantic_core_schema__(
        cls, source_type: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls._validate,
            serialization=core_schema.plain_serializer_function_ser_schema(
                cls.to_dict, when_used="always"
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "format": "file"}

    @classmethod
    def _validate(cls, value: Any) -> File | None:
        if value is None or value == "" or value == {}:
            return None
        if isinstance(value, File):
            return value
        if isinstance(value, (str, dict, os.PathLike)):
            return cls(value)  # pyright: ignore[reportUnknownArgumentType]
        raise ValueError(f"a File is a URI, a path or a dict, not {type(value).__name__}")
