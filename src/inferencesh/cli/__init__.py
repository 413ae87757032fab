"""The ``inferencesh`` command: ``run``, ``upload``, ``tasks``, ``sessions``, ``apps``, ``serve``.

Plain argparse and the standard library: the ``cli`` extra is not needed. Every client command
takes ``--api-key``/``--base-url`` (or ``INFERENCE_API_KEY``/``INFERENCE_BASE_URL``), ``--local``
(an in-process local runtime, no key needed) and ``--json`` (one JSON document on stdout).
Command groups are listed in ``inferencesh.cli._main.COMMAND_GROUPS``.
"""

from __future__ import annotations

from inferencesh.cli._main import main

__all__ = ["main"]
