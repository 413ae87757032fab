"""The parser of the ``inferencesh`` command and the one place errors become exit codes."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from inferencesh._errors import (
    APIConnectionError,
    APIError,
    InferenceError,
    InvalidInputError,
    TaskFailedError,
)
from inferencesh.cli import _chat, _resources, _run, _serve
from inferencesh.cli._common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CommandError,
    one_line,
)

__all__ = ["COMMAND_GROUPS", "main"]

# Each entry adds its sub-commands to the parser. A new group (the agents commands, say) is one
# module with a ``register(commands)`` function that sets ``handler`` defaults, listed here.
COMMAND_GROUPS: list[Callable[[Any], None]] = [
    _run.register,
    _resources.register,
    _serve.register,
    _chat.register,
]


def build_parser() -> argparse.ArgumentParser:
    """The ``inferencesh`` argument parser with every registered command."""
    parser = argparse.ArgumentParser(
        prog="inferencesh",
        description="Run inference.sh apps, manage tasks, files and sessions, or serve apps "
        "locally. Key and URL: --api-key/--base-url or INFERENCE_API_KEY/INFERENCE_BASE_URL.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in COMMAND_GROUPS:
        register(commands)
    return parser


def _reason(exc: BaseException) -> tuple[str, int]:
    """The one-line message and the exit code of an error that ends a command."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", EXIT_INTERRUPTED
    if isinstance(exc, CommandError):
        return str(exc), exc.code
    if isinstance(exc, InvalidInputError):
        return str(exc), EXIT_USAGE
    if isinstance(exc, APIConnectionError):
        return f"cannot reach the API: {exc}", EXIT_FAILED
    if isinstance(exc, (APIError, TaskFailedError)):
        return str(exc), EXIT_FAILED
    return f"{type(exc).__name__}: {exc}", EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``inferencesh`` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except (KeyboardInterrupt, CommandError, InferenceError) as exc:
        message, code = _reason(exc)
        message = one_line(message)
        printed = isinstance(exc, CommandError) and exc.printed
        if getattr(args, "json", False) and not printed:
            # --json promises one document on stdout, failures included.
            error = {"type": type(exc).__name__, "message": message, "exit_code": code}
            print(json.dumps({"error": error}))
        print(f"inferencesh: {message}", file=sys.stderr)
        return code
