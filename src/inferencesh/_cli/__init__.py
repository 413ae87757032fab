"""The ``inferencesh`` command: ``run``, ``upload``, ``tasks``, ``sessions``, ``apps``, ``serve``.

argparse and the standard library; with the ``cli`` extra (rich) installed, the status line and
tables on a terminal are drawn by rich. Every client command takes ``--api-key``/``--base-url``
(or ``INFERENCE_API_KEY``/``INFERENCE_BASE_URL``), ``--local`` (an in-process local runtime, no
key needed), ``--json`` (one JSON document on stdout) and ``-v`` (tracebacks and debug logs).
Command groups are listed in ``inferencesh._cli._main.COMMAND_GROUPS``.
"""

from __future__ import annotations

from inferencesh._cli._main import main

__all__ = ["main"]
