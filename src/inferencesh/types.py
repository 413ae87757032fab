"""Every generated wire type and enum of the inference.sh API, and the request TypedDicts.

``from inferencesh.types import TaskDTO, TaskStatus, ToolParamType, IntegrationProvider`` gives the
typed models the client returns (they also answer ``task["status"]``) and the open enums (an
unknown value is kept as ``UNRECOGNIZED_<value>`` instead of failing). ``<Model>Params`` is a
request body as a dict and ``<Model>Args`` its fields as keyword arguments (with the per-call
options), for annotating your own code. This module loads all models; ``import inferencesh``
alone does not.
"""

from inferencesh._generated import models as _models
from inferencesh._generated import params as _params
from inferencesh._generated.models import *  # noqa: F403
from inferencesh._generated.params import *  # noqa: F403
from inferencesh._runtime.envelope import CursorListResponse

__all__ = ["CursorListResponse"]
__all__ += _models.__all__
__all__ += _params.__all__
