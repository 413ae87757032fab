"""Typed client for the inference.sh API.

Names are imported lazily: ``import inferencesh`` loads neither the generated models, the
app-authoring layer nor the local runtime until one of their names is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY: dict[str, str] = {
    "TaskStatus": "inferencesh._generated.models",
}

if TYPE_CHECKING:
    from inferencesh._generated.models import TaskStatus as TaskStatus

# kept equal to the names above by tests/test_package.py
__all__ = [
    "TaskStatus",
    "__version__",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'inferencesh' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
