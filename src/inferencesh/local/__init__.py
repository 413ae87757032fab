"""The local runtime: the inference.sh HTTP API served on loopback, with apps in worker processes.

Needs the ``server`` extra (starlette, uvicorn). From a shell::

    inferencesh serve --app mypkg.apps:MyApp --apps ./my-apps --port 8765

In-process (tests, scripts)::

    from inferencesh.local import LocalRuntime

    with LocalRuntime(apps=[("me/my-app", MyApp)]) as rt:
        client = inference(api_key="inf_local", base_url=rt.base_url)
        client.tasks.run({"app": "me/my-app", "input": {...}})

Built-in apps: ``infsh/echo``, ``infsh/stream``, ``infsh/file``, ``infsh/slow``, ``infsh/fail``,
``infsh/counter``, ``infsh/scripted-llm``.

Agents (``POST /agents/run``, ``/chats/...``, ``/tools/...``) are answered by a deterministic
scripted model, whatever ``core_app`` they name (the runtime has no real LLM); its rules are in
``inferencesh.local._scripted``. Template agents come from ``LocalRuntime(agents="agents.yaml")``
(``{"namespace/name": AgentConfig}``) or ``POST /agents``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inferencesh.local._registry import AppSpec as AppSpec
    from inferencesh.local._runtime import DataDirInUseError as DataDirInUseError
    from inferencesh.local._runtime import LocalRuntime as LocalRuntime

__all__ = ["AppSpec", "DataDirInUseError", "LocalRuntime"]

# Worker processes import this package for the built-in apps; they must not pay for the server.
_LAZY = {
    "LocalRuntime": "inferencesh.local._runtime",
    "DataDirInUseError": "inferencesh.local._runtime",
    "AppSpec": "inferencesh.local._registry",
}
# The top-level modules of the server extra's packages (pyyaml is `yaml`).
_SERVER_EXTRA = frozenset({"starlette", "uvicorn", "yaml"})


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'inferencesh.local' has no attribute {name!r}")
    try:
        loaded = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in _SERVER_EXTRA:
            raise
        raise ModuleNotFoundError(
            f"the local runtime needs the server extra: pip install 'inferencesh[server]' ({exc})",
            name=exc.name,
        ) from None
    return getattr(loaded, name)
