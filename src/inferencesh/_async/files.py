"""``client.files``: the generated ``files`` resource plus ``upload``.

Sources and options are checked before anything is sent (``inferencesh._files``); then
``POST /files`` returns a record with a presigned ``upload_url`` and the bytes are streamed there
with a ``PUT`` that carries no API headers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from inferencesh._concurrency import AsyncConcurrency
from inferencesh._errors import FileUploadError, InferenceError
from inferencesh._files import (
    PreparedUpload,
    ProgressCallback,
    UploadEncoding,
    UploadFileOptions,
    UploadItem,
    UploadOptions,
    UploadSource,
    check_put,
    counting,
    create_request,
    prepare_upload,
    progress_reporter,
    put_headers,
    record_uri,
    upload_failed,
    upload_options,
    upload_record,
)
from inferencesh._generated.resources.files import AsyncFilesResource

if TYPE_CHECKING:
    from inferencesh._async.transport import AsyncTransport
    from inferencesh._generated.models import FileDTO

__all__ = ["AsyncFiles"]


class AsyncFiles(AsyncFilesResource):
    """``client.files``: upload files and get back their records (use ``record["uri"]``), and
    every generated file operation."""

    def __init__(self, transport: AsyncTransport) -> None:
        super().__init__(transport)
        self._http = transport

    async def upload(
        self,
        data: UploadSource,
        options: UploadOptions | None = None,
        *,
        encoding: UploadEncoding | None = None,
        progress: ProgressCallback | bool | None = None,
    ) -> FileDTO:
        """Upload a path, bytes, a binary file object or a ``data:`` URI.

        ``options``: an ``UploadFileOptions`` or a dict with ``filename``, ``content_type``,
        ``public``. ``encoding="base64"``: ``data`` is base64 text (a string is otherwise a
        path). ``progress`` is a ``(sent, total)`` callback, or ``True`` for a tqdm bar when
        tqdm is installed. Example: ``(await client.files.upload("photo.png"))["uri"]``.
        """
        checked = upload_options(options)
        return await self._upload(prepare_upload(data, checked, encoding), checked, progress)

    async def upload_many(self, items: list[UploadItem]) -> list[str]:
        """Upload several prepared files, a few at a time; their URIs, in order."""
        return await AsyncConcurrency.map(self._upload_item, items)

    async def _upload_item(self, item: UploadItem) -> str:
        prepared, options = item
        return record_uri(await self._upload(prepared, options), prepared)

    async def _upload(
        self,
        prepared: PreparedUpload,
        options: UploadFileOptions | None,
        progress: ProgressCallback | bool | None = None,
    ) -> FileDTO:
        try:
            records = await self.create(create_request(prepared, options))
            record = upload_record(records, prepared)
            callback, close = progress_reporter(progress, prepared)
            try:
                response = await self._http.put_upload(
                    record.upload_url,
                    AsyncConcurrency.chunks(counting(prepared.chunks(), callback, prepared.size)),
                    put_headers(prepared),
                )
            finally:
                close()
            check_put(prepared, response.status_code, response.text)
        except FileUploadError:
            raise
        except (InferenceError, OSError) as exc:
            raise upload_failed(prepared, exc) from exc
        return record
