"""Keep httpx's command-line module out of the client's first import.

httpx imports ``httpx._main``, its ``httpx`` command, whenever click, rich and pygments are
installed (they are with our ``cli`` and ``server`` extras), which costs about as much as the rest
of httpx. While ``inferencesh`` loads one of its names, that import is refused, so httpx takes the
fallback it has for a missing CLI; ``httpx.main`` then imports the real command on first access,
so ``httpx.main`` and ``from httpx import main`` behave as before.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Callable, Generator
from types import ModuleType
from typing import Any

__all__ = ["httpx_cli_deferred"]

_CLI = "httpx._main"


@contextlib.contextmanager
def httpx_cli_deferred() -> Generator[None]:
    """Within: an import of httpx leaves out its command-line module (loaded on first use)."""
    modules: dict[str, Any] = sys.modules
    if "httpx" in modules or _CLI in modules:
        yield
        return
    modules[_CLI] = None  # an import of it raises ImportError
    try:
        yield
    finally:
        if _CLI in modules and modules[_CLI] is None:
            del modules[_CLI]
        httpx = modules.get("httpx")
        if httpx is not None and _CLI not in modules:
            _load_main_on_use(httpx)


def _load_main_on_use(httpx: ModuleType) -> None:
    """Replace the fallback ``httpx.main`` httpx took with one imported on first access."""
    namespace = vars(httpx)
    fallback = namespace.get("main")
    # Only httpx's own fallback (defined in its __init__) is replaced; an httpx that defines
    # ``main`` otherwise, or lazily itself, is left as it is.
    if getattr(fallback, "__module__", None) != "httpx":
        return
    previous: Callable[[str], Any] | None = namespace.get("__getattr__")

    def __getattr__(name: str) -> Any:
        if name != "main":
            if previous is not None:
                return previous(name)
            raise AttributeError(f"module 'httpx' has no attribute {name!r}")
        main: Any = fallback
        with contextlib.suppress(ImportError):  # click, rich or pygments missing: httpx's own
            main = importlib.import_module(_CLI).main
        namespace["main"] = main
        return main

    del namespace["main"]
    namespace["__getattr__"] = __getattr__
