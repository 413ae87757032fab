"""Files: records with upload URLs this runtime serves, their bytes on disk, and app outputs.

An upload URL takes one upload, within ``upload_url_ttl``. A download URL (a record's ``uri``)
is signed and expires after ``file_url_ttl``; the runtime signs it afresh whenever it hands a
record out, and a request with the API key needs no signature. A task's input may name files of
this runtime by their URI (signed or not): the worker reads those from disk, and is told no
other local path.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import re
import secrets
import shutil
import time
import urllib.parse
from pathlib import Path
from typing import Any, cast

from inferencesh._generated.models import (
    DeleteTaskFilesResponse,
    FileCreateRequest,
    FileDTO,
    TaskFileDTO,
    TaskFileRole,
)
from inferencesh._runtime import CursorListResponse
from inferencesh.local._config import RuntimeConfig
from inferencesh.local._errors import ApiError
from inferencesh.local._listing import list_query, page
from inferencesh.local._records import header, new_id, now, parse
from inferencesh.local._store import Store

__all__ = ["Files", "url_secret"]

_BAD_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")
_CONTENT_PATH = re.compile(r"^/files/(?P<id>[0-9a-f]{24})/content/")
# A download URL: the origin (with the public URL's path, if any), the file id and name.
_CONTENT_URL = re.compile(
    r"^(?P<origin>https?://(?P<host>[^/?#]+)[^?#]*?)/files/(?P<id>[0-9a-f]{24})"
    r"/content/(?P<name>[^?#]*)"
)
_SECRET_FILE = "url-secret"


def url_secret(data_dir: Path | None) -> bytes:
    """The key download URLs are signed with; kept in the data dir so URLs survive a restart."""
    if data_dir is None:
        return secrets.token_bytes(32)
    path = data_dir / _SECRET_FILE
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        key = secrets.token_bytes(32)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(key.hex())
        return key


def _strings(value: Any) -> list[str]:
    found: list[str] = []
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            pending.extend(cast(dict[str, Any], item).values())
        elif isinstance(item, list):
            entries: list[Any] = item  # pyright: ignore[reportUnknownVariableType]
            pending.extend(entries)
    return found


class Files:
    """File records and their bytes (in ``config.files_dir``)."""

    def __init__(self, store: Store, config: RuntimeConfig, secret: bytes) -> None:
        self.store = store
        self.config = config
        self._secret = secret
        self._uploading: set[str] = set()
        # Hosts this runtime answers as: URLs naming one of them are its own.
        self.hosts = {urllib.parse.urlsplit(config.base_url).netloc.lower()}
        if config.public_url:
            self.hosts.add(urllib.parse.urlsplit(config.public_url).netloc.lower())
        config.files_dir.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ URLs

    def _signature(self, file_id: str, expires: int) -> str:
        message = f"{file_id}:{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]

    def _signed(self, origin: str, file_id: str, filename: str) -> str:
        expires = int(time.time() + self.config.file_url_ttl)
        name = urllib.parse.quote(filename or "file")
        query = urllib.parse.urlencode(
            {"expires": expires, "signature": self._signature(file_id, expires)}
        )
        return f"{origin}/files/{file_id}/content/{name}?{query}"

    def signature_ok(self, path: str, query: str) -> bool:
        """Whether a download request carries a valid, unexpired signature."""
        match = _CONTENT_PATH.match(path)
        params = urllib.parse.parse_qs(query)
        expires = (params.get("expires") or [""])[0]
        signature = (params.get("signature") or [""])[0]
        if match is None or not expires.isdigit() or int(expires) < time.time():
            return False
        expected = self._signature(match["id"], int(expires))
        return hmac.compare_digest(expected.encode(), signature.encode())

    def note_origin(self, origin: str) -> None:
        """Remember that callers reach this runtime at ``origin`` (its URLs name it)."""
        self.hosts.add(urllib.parse.urlsplit(origin).netloc.lower())

    def _own(self, uri: str) -> re.Match[str] | None:
        """The parts of ``uri`` when it is a download URL of this runtime."""
        match = _CONTENT_URL.match(uri)
        return match if match is not None and match["host"].lower() in self.hosts else None

    def present(self, dto: FileDTO) -> FileDTO:
        """The record as clients get it: its ``uri`` signed afresh."""
        match = _CONTENT_URL.match(dto.uri)
        if match is None:
            return dto
        uri = self._signed(match["origin"], dto.id, dto.filename)
        return dto.model_copy(update={"uri": uri})

    def refresh_uris(self, value: Any) -> Any:
        """``value`` with every download URL of this runtime in it signed afresh."""
        if isinstance(value, str):
            match = self._own(value)
            if match is None:
                return value
            name = urllib.parse.unquote(match["name"])
            return self._signed(match["origin"], match["id"], name)
        if isinstance(value, dict):
            items = cast(dict[str, Any], value)
            return {key: self.refresh_uris(item) for key, item in items.items()}
        if isinstance(value, list):
            entries: list[Any] = value  # pyright: ignore[reportUnknownVariableType]
            return [self.refresh_uris(item) for item in entries]
        return value

    def uploads_in(self, value: Any) -> dict[str, dict[str, Any]]:
        """The files of this runtime that ``value`` names by URI, and where their bytes are."""
        found: dict[str, dict[str, Any]] = {}
        for text in _strings(value):
            match = self._own(text)
            if match is None or text in found:
                continue
            file_id = match["id"]
            data = self.store.get("files", file_id)
            path = self.config.files_dir / file_id
            if data is None or not path.is_file():
                continue
            dto = FileDTO.model_validate(data["dto"])
            found[text] = {
                "path": str(path),
                "filename": dto.filename,
                "content_type": dto.content_type,
                "size": dto.size,
            }
        return found

    def task_files(self, input_: Any, output: Any, role: TaskFileRole | None) -> list[TaskFileDTO]:
        """The files of this runtime a task's input and output name (each once per role)."""
        found: list[TaskFileDTO] = []
        for kind, value in ((TaskFileRole.INPUT, input_), (TaskFileRole.OUTPUT, output)):
            if role is not None and kind != role:
                continue
            seen: set[str] = set()
            for text in _strings(value):
                match = self._own(text)
                if match is None or match["id"] in seen:
                    continue
                seen.add(match["id"])
                data = self.store.get("files", match["id"])
                if data is None:
                    continue
                dto = self.present(FileDTO.model_validate(data["dto"]))
                found.append(
                    TaskFileDTO(
                        id=dto.id,
                        created_at=dto.created_at,
                        role=kind,
                        uri=dto.uri,
                        filename=dto.filename,
                        content_type=dto.content_type,
                        size=dto.size,
                    )
                )
        return found

    def delete_all(self, files: list[TaskFileDTO]) -> DeleteTaskFilesResponse:
        """Delete these files (a file named twice, once per role, is deleted once)."""
        deleted: list[str] = []
        for entry in files:
            if entry.id and entry.id not in deleted:
                self._path(entry.id).unlink(missing_ok=True)
                self.store.delete("files", entry.id)
                deleted.append(entry.id)
        return DeleteTaskFilesResponse(deleted=deleted, skipped=[])

    def list_page(self, body: Any) -> CursorListResponse[FileDTO]:
        """``POST /files/list``: one page of file records, newest first."""
        query = list_query(body)
        batch = 64 if query.selective else query.limit + 1
        rows = self.store.rows("files", after=query.after, ascending=query.ascending, batch=batch)
        records = ((position, dict(data["dto"])) for position, data in rows)

        def build(record: dict[str, Any]) -> FileDTO:
            return self.present(FileDTO.model_validate(record))

        return page(records, query, build, ("id", "filename", "content_type", "category"))

    # ------------------------------------------------------------------ records

    def _path(self, file_id: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{24}", file_id):
            raise ApiError(404, "not_found", "file not found")
        return self.config.files_dir / file_id

    def _save(self, dto: FileDTO, token: str, expires: float = 0.0) -> None:
        data = dto.model_dump(mode="json", exclude_unset=True)
        self.store.put("files", dto.id, {"dto": data, "token": token, "expires": expires})

    def create(self, body: Any, origin: str) -> list[FileDTO]:
        """File records with upload URLs (under ``origin``) that this runtime serves."""
        request = parse(FileCreateRequest, body)
        entries = request.files or []
        if not entries:
            raise ApiError(400, "validation_error", "files: at least one file is required")
        if len(entries) > 100:
            raise ApiError(400, "validation_error", "files: at most 100 files per request")
        self.note_origin(origin)
        records: list[FileDTO] = []
        for entry in entries:
            filename = entry.filename or os.path.basename(entry.path or "") or "file"
            if _BAD_NAME.search(filename) or filename in (".", "..") or len(filename) > 255:
                raise ApiError(
                    400, "validation_error", f"filename {filename!r} is not a plain file name"
                )
            if entry.size is not None and entry.size > self.config.max_upload_bytes:
                raise ApiError(
                    413, "payload_too_large", f"{filename} is larger than the upload limit"
                )
            file_id = new_id()
            token = secrets.token_urlsafe(24)
            dto = FileDTO.model_validate(
                {
                    **header(file_id),
                    "category": request.category or "uploads",
                    "content_type": entry.content_type or "application/octet-stream",
                    "filename": filename,
                    "path": entry.path or "",
                    "rating": "unrated",
                    "remote_path": file_id,
                    "size": entry.size or 0,
                    "upload_url": f"{origin}/files/{file_id}/upload/{token}",
                    "uri": f"{origin}/files/{file_id}/content/{urllib.parse.quote(filename)}",
                }
            )
            self._save(dto, token, time.time() + self.config.upload_url_ttl)
            records.append(self.present(dto))
        return records

    def _record(self, file_id: str) -> tuple[FileDTO, dict[str, Any]]:
        self._path(file_id)
        data = self.store.get("files", file_id)
        if data is None:
            raise ApiError(404, "not_found", "file not found")
        return FileDTO.model_validate(data["dto"]), data

    def get(self, file_id: str) -> FileDTO:
        """A file record."""
        return self.present(self._record(file_id)[0])

    def delete(self, file_id: str) -> None:
        """Delete a file record and its bytes."""
        self._record(file_id)
        self._path(file_id).unlink(missing_ok=True)
        self.store.delete("files", file_id)

    def forget(self, file_ids: list[str]) -> None:
        """Remove the bytes of records the store no longer has (retention)."""
        for file_id in file_ids:
            self._path(file_id).unlink(missing_ok=True)

    def content(self, file_id: str) -> tuple[Path, FileDTO]:
        """Where a file's bytes are, for download."""
        dto, _ = self._record(file_id)
        path = self._path(file_id)
        if not path.is_file():
            raise ApiError(404, "not_found", "the file has not been uploaded")
        return path, dto

    def begin_upload(self, file_id: str, token: str) -> tuple[FileDTO, Path]:
        """Check an upload URL; returns the record and the temporary path to write to."""
        dto, data = self._record(file_id)
        expected = str(data.get("token") or "")
        if not expected:
            if self._path(file_id).is_file() and dto.upload_url.endswith(f"/{token}"):
                raise ApiError(403, "forbidden", "this upload URL has already been used")
            raise ApiError(403, "forbidden", "invalid upload URL")
        if not hmac.compare_digest(expected.encode(), token.encode()):
            raise ApiError(403, "forbidden", "invalid upload URL")
        if float(data.get("expires") or 0) < time.time():
            raise ApiError(403, "forbidden", "this upload URL has expired; create the file again")
        if file_id in self._uploading:
            raise ApiError(409, "conflict", "an upload to this URL is already in progress")
        self._uploading.add(file_id)
        return dto, self.config.files_dir / f".{file_id}.{new_id()}.part"

    def end_upload(self, file_id: str) -> None:
        """An upload has ended (stored or failed)."""
        self._uploading.discard(file_id)

    def finish_upload(
        self, dto: FileDTO, part: Path, size: int, content_type: str | None
    ) -> FileDTO:
        """Move an uploaded file into place, record its size and spend the upload URL."""
        os.replace(part, self._path(dto.id))
        dto.size = size
        if content_type and dto.content_type == "application/octet-stream":
            dto.content_type = content_type.split(";")[0].strip()
        dto.updated_at = now()
        self._save(dto, "")
        return dto

    async def store_outputs(self, output: Any, paths: set[str], origin: str) -> Any:
        """Copy the files an app returned into the file store and point their ``uri`` at it."""
        stored: dict[str, str] = {}

        async def visit(value: Any) -> Any:
            if isinstance(value, dict):
                mapping = cast(dict[str, Any], value)
                items: dict[str, Any] = {str(k): await visit(v) for k, v in mapping.items()}
                path = items.get("path")
                if isinstance(path, str) and path in paths and os.path.isfile(path):
                    if path not in stored:
                        stored[path] = await self._store_output(path, items, origin)
                    items["uri"] = stored[path]
                return items
            if isinstance(value, list):
                entries: list[Any] = value  # pyright: ignore[reportUnknownVariableType]
                return [await visit(item) for item in entries]
            return value

        return await visit(output)

    async def _store_output(self, path: str, meta: dict[str, Any], origin: str) -> str:
        file_id = new_id()
        await asyncio.to_thread(shutil.copyfile, path, self._path(file_id))
        filename = str(meta.get("filename") or os.path.basename(path))
        dto = FileDTO.model_validate(
            {
                **header(file_id),
                "category": "outputs",
                "content_type": str(meta.get("content_type") or "application/octet-stream"),
                "filename": filename,
                "path": path,
                "rating": "unrated",
                "remote_path": file_id,
                "size": os.path.getsize(path),
                "upload_url": "",
                "uri": f"{origin}/files/{file_id}/content/{urllib.parse.quote(filename)}",
            }
        )
        self._save(dto, "")
        return self.present(dto).uri
