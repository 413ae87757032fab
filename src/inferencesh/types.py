"""Every generated wire type and enum of the inference.sh API.

``from inferencesh.types import TaskDTO, TaskStatus, ToolParamType, IntegrationProvider`` gives the
typed models the client returns (they also answer ``task["status"]``) and the open enums (an
unknown value is kept as ``UNRECOGNIZED_<value>`` instead of failing). This module loads all
models; ``import inferencesh`` alone does not.
"""

from inferencesh._generated import models as _models
from inferencesh._generated.models import *  # noqa: F403
from inferencesh._runtime.envelope import CursorListResponse

__all__ = ["CursorListResponse"]
__all__ += _models.__all__
