"""The parser of the ``inferencesh`` command and the one place errors become exit codes.

Every error ends the command with one line on stderr saying what happened (and, where it helps,
what to do); ``-v`` adds the traceback and debug logs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import sys
import traceback
from collections.abc import Callable, Generator, Sequence
from typing import Any

from inferencesh import __version__
from inferencesh._cli import _chat, _resources, _run, _serve, _types
from inferencesh._cli._common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_TIMEOUT,
    EXIT_USAGE,
    CommandError,
    TimedOut,
    one_line,
)
from inferencesh._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    InferenceError,
    InvalidInputError,
    TaskFailedError,
)

__all__ = ["COMMAND_GROUPS", "main"]

# Each entry adds its sub-commands to the parser. A new group (the agents commands, say) is one
# module with a ``register(commands)`` function that sets ``handler`` defaults, listed here.
COMMAND_GROUPS: list[Callable[[Any], None]] = [
    _run.register,
    _resources.register,
    _serve.register,
    _chat.register,
    _types.register,
]

EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a reader that went away


def build_parser() -> argparse.ArgumentParser:
    """The ``inferencesh`` argument parser with every registered command."""
    parser = argparse.ArgumentParser(
        prog="inferencesh",
        description="Run inference.sh apps, manage tasks, files and sessions, or serve apps "
        "locally. Key and URL: --api-key/--base-url or INFERENCE_API_KEY/INFERENCE_BASE_URL.",
        epilog="'inferencesh COMMAND -h' shows a command's options. A failure is one line on "
        "stderr; -v adds the traceback.",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"inferencesh {__version__} (Python {platform.python_version()})",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show tracebacks and debug logs"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in COMMAND_GROUPS:
        register(commands)
    return parser


_UNREACHABLE = "is the server up, and --base-url (or INFERENCE_BASE_URL) right?"


def _reason(exc: BaseException) -> tuple[str, int]:
    """The one-line message and the exit code of an error that ends a command."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", EXIT_INTERRUPTED
    if isinstance(exc, CommandError):
        return str(exc), exc.code
    if isinstance(exc, TimedOut):
        return str(exc), EXIT_TIMEOUT
    if isinstance(exc, InvalidInputError):
        return str(exc), EXIT_USAGE
    if isinstance(exc, APITimeoutError):
        return f"the API did not answer in time: {exc}", EXIT_FAILED
    if isinstance(exc, APIConnectionError):
        return f"cannot reach the API: {exc} ({_UNREACHABLE})", EXIT_FAILED
    cause = exc.__cause__
    if isinstance(cause, APIConnectionError) and not isinstance(cause, APITimeoutError):
        return f"{exc} ({_UNREACHABLE})", EXIT_FAILED  # an upload that could not start, say
    if isinstance(exc, AuthenticationError):
        return f"{exc} (check --api-key or INFERENCE_API_KEY)", EXIT_FAILED
    if isinstance(exc, (APIError, TaskFailedError, InferenceError)):
        return str(exc), EXIT_FAILED
    return (
        f"unexpected error: {type(exc).__name__}: {exc} "
        "(run again with -v for the traceback, and please report it)",
        EXIT_FAILED,
    )


@contextlib.contextmanager
def _debug_logs(verbose: bool) -> Generator[None, None, None]:
    """The package's debug logs on stderr while the command runs, with ``-v``."""
    if not verbose:
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logger = logging.getLogger("inferencesh")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _silence_stdout() -> None:
    """The reader of stdout went away: send the rest (the final flush too) to /dev/null."""
    stdout = sys.__stdout__
    if stdout is None or sys.stdout is not stdout:
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``inferencesh`` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    verbose = bool(getattr(args, "verbose", False))
    with _debug_logs(verbose):
        return _execute(args, verbose)


def _execute(args: argparse.Namespace, verbose: bool) -> int:
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        code = handler(args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        # `inferencesh ... | head`: the reader has all it wants. Not an error worth a line.
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except (KeyboardInterrupt, Exception) as exc:
        message, code = _reason(exc)
        message = one_line(message)
        if verbose and not isinstance(exc, CommandError):  # a CommandError is its own reason
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
        printed = isinstance(exc, CommandError) and exc.printed
        try:
            if getattr(args, "json", False) and not printed:
                # --json promises one document on stdout, failures included.
                error = {"type": type(exc).__name__, "message": message, "exit_code": code}
                print(json.dumps({"error": error}), flush=True)
            print(f"inferencesh: {message}", file=sys.stderr, flush=True)
        except BrokenPipeError:
            _silence_stdout()
        return code
