"""Hand-written runtime that the generated code imports. Not public API.

Names load on first use, so importing a submodule (the transport protocol the clients need at
import time) does not import pydantic, and a generated resource that reads its page classes from
here (``_runtime.SyncPage``) does not create them until a list call.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inferencesh._runtime.base import RequestModel as RequestModel
    from inferencesh._runtime.base import WireModel as WireModel
    from inferencesh._runtime.envelope import CursorListResponse as CursorListResponse
    from inferencesh._runtime.open_enum import OpenIntEnum as OpenIntEnum
    from inferencesh._runtime.open_enum import OpenStrEnum as OpenStrEnum
    from inferencesh._runtime.pagination import AsyncPage as AsyncPage
    from inferencesh._runtime.pagination import AsyncPager as AsyncPager
    from inferencesh._runtime.pagination import SyncPage as SyncPage
    from inferencesh._runtime.pagination import async_page as async_page
    from inferencesh._runtime.pagination import async_page_raw as async_page_raw
    from inferencesh._runtime.pagination import sync_page as sync_page
    from inferencesh._runtime.pagination import sync_page_raw as sync_page_raw

_PAGES = "inferencesh._runtime.pagination"
_LAZY = {
    "AsyncPage": _PAGES,
    "AsyncPager": _PAGES,
    "CursorListResponse": "inferencesh._runtime.envelope",
    "OpenIntEnum": "inferencesh._runtime.open_enum",
    "OpenStrEnum": "inferencesh._runtime.open_enum",
    "RequestModel": "inferencesh._runtime.base",
    "SyncPage": _PAGES,
    "WireModel": "inferencesh._runtime.base",
    "async_page": _PAGES,
    "async_page_raw": _PAGES,
    "sync_page": _PAGES,
    "sync_page_raw": _PAGES,
}

__all__ = [
    "AsyncPage",
    "AsyncPager",
    "CursorListResponse",
    "OpenIntEnum",
    "OpenStrEnum",
    "RequestModel",
    "SyncPage",
    "WireModel",
    "async_page",
    "async_page_raw",
    "sync_page",
    "sync_page_raw",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
