"""Every generated wire type and enum of the inference.sh API, and the request TypedDicts.

``from inferencesh.types import TaskDTO, TaskStatus, ToolParamType, IntegrationProvider`` gives the
typed models the client returns (they also answer ``task["status"]``) and the open enums (an
unknown value is kept as ``UNRECOGNIZED_<value>`` instead of failing). ``<Model>Params`` is a
request body as a dict and ``<Model>Args`` its fields as keyword arguments (with the per-call
options), for annotating your own code. Names load on first use: importing an enum does not
create the models, and a model brings only the types it refers to.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from inferencesh._generated import models as _models

if TYPE_CHECKING:
    from inferencesh._generated.models import *  # noqa: F403
    from inferencesh._generated.params import *  # noqa: F403
    from inferencesh._runtime.envelope import CursorListResponse as CursorListResponse

# The request TypedDicts import the request runtime (httpx, pydantic): loaded when one is asked
# for, or the whole list (``__all__``), so that an enum from here costs no more than the enum.
_PARAMS = "inferencesh._generated.params"


def __getattr__(name: str) -> Any:
    if name in _models.__all__:
        value = getattr(_models, name)
    elif name == "CursorListResponse":
        from inferencesh._runtime.envelope import CursorListResponse

        value = CursorListResponse
    elif name.startswith("__") and name != "__all__":
        # What the import system asks every module (``__path__``, ``__spec__``...).
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    else:
        params = importlib.import_module(_PARAMS)
        if name == "__all__":
            value = ["CursorListResponse", *_models.__all__, *params.__all__]
        elif name in params.__all__:
            value = getattr(params, name)
        else:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return list(__getattr__("__all__"))
