"""Hand-written runtime that the generated code imports. Not public API.

Names load on first use, so importing a submodule (the transport protocol the clients need at
import time) does not import pydantic.
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

_LAZY = {
    "CursorListResponse": "inferencesh._runtime.envelope",
    "OpenIntEnum": "inferencesh._runtime.open_enum",
    "OpenStrEnum": "inferencesh._runtime.open_enum",
    "RequestModel": "inferencesh._runtime.base",
    "WireModel": "inferencesh._runtime.base",
}

__all__ = ["CursorListResponse", "OpenIntEnum", "OpenStrEnum", "RequestModel", "WireModel"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
