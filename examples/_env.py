"""Where the examples run: the API named by the environment, or a local runtime started here.

With ``INFERENCE_BASE_URL`` or ``INFERENCE_API_KEY`` set, the examples use that server (for
``inferencesh serve``, any ``inf_`` key works). With neither, each example starts a
``LocalRuntime`` in-process (needs the ``server`` extra) and stops it at the end.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Generator

LOCAL_KEY = "inf_local_examples"


@contextlib.contextmanager
def api() -> Generator[tuple[str, str], None, None]:
    """``(base_url, api_key)`` for the examples to use."""
    base_url = os.environ.get("INFERENCE_BASE_URL")
    key = os.environ.get("INFERENCE_API_KEY")
    if base_url or key:
        yield base_url or "https://api.inference.sh", key or LOCAL_KEY
        return
    from inferencesh.local import LocalRuntime

    with LocalRuntime() as runtime:
        yield runtime.base_url, LOCAL_KEY
