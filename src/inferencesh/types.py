"""Every generated wire type and enum of the inference.sh API, and the request TypedDicts.

``from inferencesh.types import TaskDTO, TaskStatus, ToolParamType, IntegrationProvider`` gives the
typed models the client returns (they also answer ``task["status"]``) and the open enums (an
unknown value is kept as ``UNRECOGNIZED_<value>`` instead of failing). ``<Model>Params`` is a
request body as a dict and ``<Model>Args`` its fields as keyword arguments (with the per-call
options), for annotating your own code. Names load on first use: importing an enum does not
create the models, and a model brings only the types it refers to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from inferencesh._generated import models as _models
from inferencesh._generated import params as _params

if TYPE_CHECKING:
    from inferencesh._generated.models import *  # noqa: F403
    from inferencesh._generated.params import *  # noqa: F403
    from inferencesh._runtime.envelope import CursorListResponse as CursorListResponse

__all__ = ["CursorListResponse"]
__all__ += _models.__all__
__all__ += _params.__all__


def __getattr__(name: str) -> Any:
    if name == "CursorListResponse":
        from inferencesh._runtime.envelope import CursorListResponse

        value: Any = CursorListResponse
    elif name in _params.__all__:
        value = getattr(_params, name)
    elif name in _models.__all__:
        value = getattr(_models, name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
