"""``inferencesh serve``: the local runtime in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import math
import socket
import sys
import time
from collections.abc import Generator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from inferencesh._cli._common import (
    EXIT_FAILED,
    EXIT_USAGE,
    CommandError,
    add_verbose_option,
    load_runtime,
    one_line,
)

__all__ = ["one_line_errors", "register", "serve"]

LOCAL_KEY = "inf_local"  # any inf_ key is accepted without --api-key
DEFAULT_PORT = 8765


def _port(text: str) -> int:
    """A TCP port for argparse: 0 to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535 (0 picks a free one), got {port}")
    return port


def _positive_int(text: str) -> int:
    """A whole number > 0 for argparse."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _positive_float(text: str) -> float:
    """A finite number > 0 for argparse (``nan`` and ``inf`` parse as floats)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text}")
    return value


def register(commands: Any) -> None:
    """Add ``serve`` to the command parsers."""
    serve_parser: argparse.ArgumentParser = commands.add_parser(
        "serve",
        help="run the local runtime (the inference.sh API on loopback)",
        description="Serve the inference.sh API on loopback with the built-in apps and yours. "
        "Each request is logged on one line (-q: no request log); Ctrl-C stops it.",
    )
    serve_parser.add_argument(
        "--app",
        action="append",
        default=[],
        metavar="[REF=]TARGET",
        help="serve an app: module:Class, file.py:Class or a folder with inference.py "
        "(as REF, default <namespace>/<class or folder name>); repeatable",
    )
    serve_parser.add_argument(
        "--apps",
        action="append",
        default=[],
        metavar="FOLDER",
        help="serve every app folder (with inference.py) under FOLDER, or FOLDER itself",
    )
    serve_parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)"
    )
    serve_parser.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help=f"port (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    serve_parser.add_argument(
        "--data-dir",
        default=".local-data",
        metavar="DIR",
        help="where records and files are kept (default .local-data)",
    )
    serve_parser.add_argument(
        "--api-key", default=None, help="accept only this key (default: any inf_ key)"
    )
    serve_parser.add_argument(
        "--agents",
        action="append",
        default=[],
        metavar="FILE",
        help='template agents: a YAML/JSON file of {"namespace/name": AgentConfig}; repeatable',
    )
    serve_parser.add_argument(
        "--allow-any-key",
        action="store_true",
        help="on a non-loopback --host, accept any inf_ key instead of requiring --api-key",
    )
    serve_parser.add_argument(
        "--public-url",
        metavar="URL",
        help="the URL clients use, for upload/download URLs (default: the request's Host)",
    )
    serve_parser.add_argument(
        "--namespace",
        default="local",
        help="the namespace of app refs without one (default local)",
    )
    serve_parser.add_argument(
        "--task-timeout", type=_positive_float, metavar="S", help="seconds per task (no limit)"
    )
    serve_parser.add_argument(
        "--max-workers",
        type=_positive_int,
        default=4,
        metavar="N",
        help="worker processes (default 4)",
    )
    serve_parser.add_argument(
        "--worker-memory",
        type=_positive_int,
        metavar="MB",
        help="memory limit of each worker process (no limit)",
    )
    serve_parser.add_argument(
        "--max-output-mb",
        type=_positive_int,
        default=64,
        metavar="MB",
        help="largest task output (default 64)",
    )
    serve_parser.add_argument(
        "--keep-tasks", type=_positive_int, metavar="N", help="keep the newest N tasks (all)"
    )
    serve_parser.add_argument(
        "--keep-days",
        type=_positive_float,
        metavar="D",
        help="drop records older than D days (keep them)",
    )
    serve_parser.add_argument(
        "--webhook-host",
        action="append",
        default=[],
        metavar="HOST",
        help="a host beyond loopback that task webhooks may call ('*': any); repeatable",
    )
    serve_parser.add_argument(
        "--no-key-approvals",
        action="store_true",
        help="refuse tool approvals made with an API key (403 requires_sign_in, as the platform)",
    )
    serve_parser.add_argument(
        "-q", "--quiet", action="store_true", help="no line per request (errors still show)"
    )
    add_verbose_option(serve_parser)
    serve_parser.set_defaults(handler=serve)


def _folders(root: str) -> list[Path]:
    path = Path(root)
    if not path.is_dir():
        what = "is not a folder" if path.exists() else "does not exist"
        raise CommandError(f"--apps {root}: {what}", EXIT_USAGE)
    if (path / "inference.py").is_file():
        return [path]
    found = sorted(p for p in path.iterdir() if (p / "inference.py").is_file())
    if not found:
        raise CommandError(
            f"--apps {root}: no inference.py in it or in any folder directly under it", EXIT_USAGE
        )
    return found


def _bind_error(exc: OSError, host: str, port: int) -> CommandError:
    if exc.errno == errno.EADDRINUSE:
        return CommandError(
            f"port {port} on {host} is already in use: stop the other server, or pick another "
            "port with --port (--port 0 picks a free one)",
            EXIT_FAILED,
        )
    if exc.errno == errno.EACCES:
        return CommandError(
            f"not allowed to listen on port {port} (ports below 1024 need privileges): "
            "pick another with --port",
            EXIT_FAILED,
        )
    if exc.errno == errno.EADDRNOTAVAIL or isinstance(exc, socket.gaierror):
        return CommandError(f"cannot listen on {host}: not an address of this machine", EXIT_USAGE)
    return CommandError(f"cannot listen on {host}:{port}: {exc.strerror or exc}", EXIT_FAILED)


# What uvicorn logs when it cancels the requests still open at shutdown.
_UVICORN_CANCELLING = "Cancel %s running task(s), timeout graceful shutdown exceeded"


class _AccessLine(logging.Formatter):
    """uvicorn's access record as ``HH:MM:SS  POST /apps/run  200``."""

    def format(self, record: logging.LogRecord) -> str:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            _client, method, path, _version, status = args
            stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
            return f"{stamp}  {method} {path}  {status}"
        return super().format(record)


class _OneLineErrors(logging.Filter):
    """A request handler's exception as one line in the server log (the traceback with -v).

    On the way out, requests still open (a client following a task, say) are cut: one line
    says so, where uvicorn logs an error for the cut and another for each request.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == _UVICORN_CANCELLING:
            record.msg = "stopping: %s request(s) still open were closed (clients following tasks)"
            record.levelno, record.levelname = logging.INFO, "INFO"
            return True
        if not record.exc_info or record.exc_info[1] is None:
            return True
        error = record.exc_info[1]
        if isinstance(error, asyncio.CancelledError):  # one of those cut requests
            return False
        if _disconnected(error):
            record.msg = (
                "a client disconnected before its request was read; the request was dropped"
            )
        else:
            record.msg = (
                f"a request failed: {type(error).__name__}: {one_line(error)} "
                "(serve -v shows the traceback)"
            )
        record.args = ()
        record.exc_info = None
        record.exc_text = None
        return True


def _disconnected(error: BaseException) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if type(seen).__name__ == "ClientDisconnect":
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@contextmanager
def one_line_errors(verbose: bool) -> Generator[None, None, None]:
    """Request handlers' exceptions as one line each, unless ``verbose``."""
    errors = logging.getLogger("uvicorn.error")  # where uvicorn logs them, with a traceback
    one_line_errors = _OneLineErrors()
    if not verbose:
        errors.addFilter(one_line_errors)
    try:
        yield
    finally:
        errors.removeFilter(one_line_errors)


@contextmanager
def _request_log(quiet: bool) -> Generator[None, None, None]:
    """A line per request on stdout (unless ``quiet``), from uvicorn's access records."""
    # uvicorn writes them once "uvicorn.access" has a handler; the runtime's start() reset it.
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_AccessLine())
    access = logging.getLogger("uvicorn.access")
    level = access.level
    if not quiet:
        access.addHandler(handler)
        access.setLevel(logging.INFO)
    try:
        yield
    finally:
        access.removeHandler(handler)
        access.setLevel(level)


def serve(args: argparse.Namespace) -> int:
    """Run the runtime in the foreground until interrupted."""
    local_runtime = load_runtime()
    apps: list[str] = list(args.app)
    for root in args.apps:
        apps += [str(folder) for folder in _folders(root)]
    try:
        runtime = local_runtime(
            port=args.port,
            data_dir=args.data_dir,
            api_key=args.api_key,
            apps=apps,
            host=args.host,
            public_url=args.public_url,
            allow_any_key=args.allow_any_key,
            namespace=args.namespace,
            max_workers=args.max_workers,
            task_timeout=args.task_timeout,
            worker_memory_mb=args.worker_memory,
            max_output_bytes=args.max_output_mb * 1024 * 1024,
            keep_tasks=args.keep_tasks,
            keep_days=args.keep_days,
            check_apps=True,
            agents=list(args.agents),
            allow_key_approvals=not args.no_key_approvals,
            webhook_hosts=list(args.webhook_host),
        )
    except (ValueError, OSError, ImportError) as exc:  # a bad app, agents file, ref or limit
        raise CommandError(f"cannot serve: {one_line(exc)}", EXIT_USAGE) from None
    with one_line_errors(bool(getattr(args, "verbose", False))):
        try:
            runtime.start()
        except OSError as exc:
            if exc.filename is not None:  # the data dir (or its lock), not the socket
                raise CommandError(
                    f"cannot serve: {exc.filename}: {exc.strerror or exc} (see --data-dir)",
                    EXIT_USAGE,
                ) from None
            raise _bind_error(exc, args.host, args.port) from None
        except (ValueError, RuntimeError) as exc:  # an app that cannot load, a data dir in use
            raise CommandError(f"cannot serve: {one_line(exc)}", EXIT_USAGE) from None
        print(f"inference.sh local runtime on {runtime.base_url}", flush=True)
        print(f"  {runtime.storage}", flush=True)
        for ref in runtime.registry.refs():
            print(f"  app {ref}", flush=True)
        if args.api_key:  # never printed: the user knows it
            print("Point the client and the command at it (with your --api-key):", flush=True)
            print(f"  export INFERENCE_BASE_URL={runtime.base_url}", flush=True)
        else:
            print("Point the client and the command at it:", flush=True)
            export = f"INFERENCE_BASE_URL={runtime.base_url} INFERENCE_API_KEY={LOCAL_KEY}"
            print(f"  export {export}", flush=True)
        with _request_log(args.quiet):
            runtime.wait()
    return 0
