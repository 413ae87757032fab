"""The files ``tasks.run`` uploads from a task's input before sending it, found without I/O
(beyond a stat). The uploads themselves are ``inferencesh._files``', imported when a file is found.

Anywhere in nested ``input`` dicts and lists:

* ``File`` objects (``inferencesh.File``), ``pathlib.Path`` objects and ``data:`` URIs are uploaded;
* a string is uploaded only when it names an existing regular file;
* nothing else is touched: a string is never guessed to be base64, a directory is never uploaded
  (a ``Path`` to a directory is refused), and ``upload_files=False`` turns it all off.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, cast

from inferencesh._errors import InvalidInputError

if TYPE_CHECKING:
    from inferencesh._files import UploadFileOptions, UploadItem

__all__ = ["InputPlan", "plan_input"]


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
    from inferencesh._files import UploadFileOptions

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
        from inferencesh._files import prepare_upload

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
