"""Hand-written runtime that the generated code imports. Not public API."""

from inferencesh._runtime.base import RequestModel, WireModel
from inferencesh._runtime.envelope import CursorListResponse
from inferencesh._runtime.open_enum import OpenIntEnum, OpenStrEnum

__all__ = ["CursorListResponse", "OpenIntEnum", "OpenStrEnum", "RequestModel", "WireModel"]
