"""Files: records with upload URLs this runtime serves, their bytes on disk, and app outputs."""

from __future__ import annotations

import asyncio
import hmac
import os
import re
import secrets
import shutil
import urllib.parse
from pathlib import Path
from typing import Any, cast

from inferencesh._generated.models import FileCreateRequest, FileDTO
from inferencesh.local._config import RuntimeConfig
from inferencesh.local._errors import ApiError
from inferencesh.local._records import header, new_id, now, parse
from inferencesh.local._store import Store

__all__ = ["Files"]

_BAD_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")


class Files:
    """File records and their bytes (in ``config.files_dir``)."""

    def __init__(self, store: Store, config: RuntimeConfig) -> None:
        self.store = store
        self.config = config
        config.files_dir.mkdir(parents=True, exist_ok=True)

    def _uri(self, file_id: str, filename: str) -> str:
        name = urllib.parse.quote(filename or "file")
        return f"{self.config.base_url}/files/{file_id}/content/{name}"

    def _path(self, file_id: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{24}", file_id):
            raise ApiError(404, "not_found", "file not found")
        return self.config.files_dir / file_id

    def _save(self, dto: FileDTO, token: str) -> None:
        self.store.put(
            "files",
            dto.id,
            {"dto": dto.model_dump(mode="json", exclude_unset=True), "token": token},
        )

    def create(self, body: Any) -> list[FileDTO]:
        """File records with upload URLs that this runtime serves."""
        request = parse(FileCreateRequest, body)
        entries = request.files or []
        if not entries:
            raise ApiError(400, "validation_error", "files: at least one file is required")
        if len(entries) > 100:
            raise ApiError(400, "validation_error", "files: at most 100 files per request")
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
                    "upload_url": f"{self.config.base_url}/files/{file_id}/upload/{token}",
                    "uri": self._uri(file_id, filename),
                }
            )
            self._save(dto, token)
            records.append(dto)
        return records

    def _record(self, file_id: str) -> tuple[FileDTO, str]:
        self._path(file_id)
        data = self.store.get("files", file_id)
        if data is None:
            raise ApiError(404, "not_found", "file not found")
        return FileDTO.model_validate(data["dto"]), str(data.get("token") or "")

    def get(self, file_id: str) -> FileDTO:
        """A file record."""
        return self._record(file_id)[0]

    def delete(self, file_id: str) -> None:
        """Delete a file record and its bytes."""
        self._record(file_id)
        self._path(file_id).unlink(missing_ok=True)
        self.store.delete("files", file_id)

    def content(self, file_id: str) -> tuple[Path, FileDTO]:
        """Where a file's bytes are, for download."""
        dto, _ = self._record(file_id)
        path = self._path(file_id)
        if not path.is_file():
            raise ApiError(404, "not_found", "the file has not been uploaded")
        return path, dto

    def begin_upload(self, file_id: str, token: str) -> tuple[FileDTO, Path]:
        """Check an upload URL; returns the record and the temporary path to write to."""
        dto, expected = self._record(file_id)
        if not expected or not hmac.compare_digest(expected.encode(), token.encode()):
            raise ApiError(403, "forbidden", "invalid upload URL")
        return dto, self.config.files_dir / f".{file_id}.{new_id()}.part"

    def finish_upload(
        self, dto: FileDTO, part: Path, size: int, content_type: str | None
    ) -> FileDTO:
        """Move an uploaded file into place and record its size."""
        os.replace(part, self._path(dto.id))
        dto.size = size
        if content_type and dto.content_type == "application/octet-stream":
            dto.content_type = content_type.split(";")[0].strip()
        dto.updated_at = now()
        data = self.store.get("files", dto.id) or {}
        self.store.put(
            "files", dto.id, {**data, "dto": dto.model_dump(mode="json", exclude_unset=True)}
        )
        return dto

    async def store_outputs(self, output: Any, paths: set[str]) -> Any:
        """Copy the files an app returned into the file store and point their ``uri`` at it."""
        stored: dict[str, str] = {}

        async def visit(value: Any) -> Any:
            if isinstance(value, dict):
                mapping = cast(dict[str, Any], value)
                items: dict[str, Any] = {str(k): await visit(v) for k, v in mapping.items()}
                path = items.get("path")
                if isinstance(path, str) and path in paths and os.path.isfile(path):
                    if path not in stored:
                        stored[path] = await self._store_output(path, items)
                    items["uri"] = stored[path]
                return items
            if isinstance(value, list):
                entries: list[Any] = value  # pyright: ignore[reportUnknownVariableType]
                return [await visit(item) for item in entries]
            return value

        return await visit(output)

    async def _store_output(self, path: str, meta: dict[str, Any]) -> str:
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
                "uri": self._uri(file_id, filename),
            }
        )
        self._save(dto, "")
        return dto.uri
