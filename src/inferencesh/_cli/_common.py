"""What every client command shares: options, the client (remote or ``--local``), input parsing,
JSON output and the error that ends a command with a one-line reason."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import threading
from collections.abc import Callable, Generator
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar, cast

if TYPE_CHECKING:
    from inferencesh import Inference
    from inferencesh.local import LocalRuntime

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_TIMEOUT",
    "EXIT_USAGE",
    "SERVER_EXTRA",
    "CommandError",
    "TimedOut",
    "add_client_options",
    "add_verbose_option",
    "check_timeout",
    "connect",
    "failure_reason",
    "load_runtime",
    "one_line",
    "parse_object",
    "print_json",
    "progress_stream",
    "to_json",
    "within",
]

EXIT_FAILED = 1  # the task failed or was cancelled, or the API refused the request
EXIT_USAGE = 2  # bad arguments or configuration (argparse uses 2 as well)
EXIT_TIMEOUT = 124  # --timeout ran out, as timeout(1) reports it
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report a SIGINT

SERVER_EXTRA = "pip install 'inferencesh[server]'"

LOCAL_API_KEY = "inf_local"
MISSING_KEY = (
    "no API key: pass --api-key, or set INFERENCE_API_KEY in the environment "
    "(or use --local to run on an in-process local runtime)"
)


class CommandError(Exception):
    """Ends a command: ``message`` is printed as one line on stderr, ``code`` is the exit code.

    ``printed`` says the command already wrote its JSON document (the failed task) to stdout.
    """

    def __init__(self, message: str, code: int = EXIT_FAILED, *, printed: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.printed = printed


class TimedOut(Exception):
    """``within`` ran out of time; the work goes on in its thread until the process ends."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"timed out after {seconds:g} s")
        self.seconds = seconds


_T = TypeVar("_T")


def within(seconds: float | None, work: Callable[[], _T]) -> _T:
    """``work()``, or ``TimedOut`` once ``seconds`` have passed (``None``: no limit).

    The work runs in a daemon thread so that a request the server never answers cannot hold the
    command past its time; Ctrl-C still reaches the main thread while it waits.
    """
    if seconds is None:
        return work()
    results: list[_T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            results.append(work())
        except BaseException as exc:  # handed to the main thread below
            errors.append(exc)

    thread = threading.Thread(target=target, name="inferencesh-command", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise TimedOut(seconds)
    if errors:
        raise errors[0]
    return results[0]


def check_timeout(seconds: float | None) -> None:
    """Refuse a ``--timeout`` that is not a positive number of seconds a thread can wait
    (``nan`` and ``inf`` parse as floats too)."""
    if seconds is None:
        return
    if not 0 < seconds <= threading.TIMEOUT_MAX:
        raise CommandError(
            f"--timeout must be a number of seconds > 0 and at most {threading.TIMEOUT_MAX:.0f} "
            f"(leave it out to wait without a limit), got {seconds:g}",
            EXIT_USAGE,
        )


def one_line(text: object, limit: int = 300) -> str:
    """``text`` on one line: its lines joined, links to docs dropped, cut at ``limit``."""
    lines = [line.strip() for line in str(text).splitlines()]
    kept = [line for line in lines if line and not line.startswith("For further information")]
    joined = "; ".join(kept)
    return joined if len(joined) <= limit else joined[: limit - 3] + "..."


_VALIDATION_HEAD = re.compile(r"\d+ validation errors? for \S+")
_VALIDATION_DETAIL = re.compile(
    r"(?P<message>.*?) \[type=(?P<type>\w+)(?:, input_value=(?P<value>.*?))?"
    r"(?:, input_type=\w+)?\]"
)
_SHOWN_VALUE = 60  # longer input values (a whole object, say) are left out of the reason


def failure_reason(text: object) -> str:
    """A task's or a run's error on one line; pydantic's validation report (the usual reason
    an input is refused) as ``field: message (got value)`` for each field."""
    lines = [line.rstrip() for line in str(text).strip().splitlines()]
    if not lines or _VALIDATION_HEAD.fullmatch(lines[0]) is None:
        return one_line(text)
    parts: list[str] = []
    field: str | None = None
    for line in lines[1:]:
        if not line.strip() or line.strip().startswith("For further information"):
            continue
        if not line.startswith(" "):
            if field is not None:
                break  # a field without its message: not the layout this reads
            field = line
            continue
        detail = _VALIDATION_DETAIL.fullmatch(line.strip())
        if detail is None or field is None:
            break
        value = detail["value"]
        shown = value is not None and detail["type"] != "missing" and len(value) <= _SHOWN_VALUE
        parts.append(f"{field}: {detail['message']}" + (f" (got {value})" if shown else ""))
        field = None
    else:
        if parts and field is None:
            return one_line(f"{lines[0]}: {'; '.join(parts)}")
    return one_line(text)  # not pydantic's layout after all: the text as it is


def add_verbose_option(parser: argparse.ArgumentParser) -> None:
    """``-v``: tracebacks and debug logs. SUPPRESS keeps a ``-v`` given before the command."""
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show tracebacks and debug logs",
    )


def add_client_options(parser: argparse.ArgumentParser) -> None:
    """The options of every command that talks to the API."""
    group = parser.add_argument_group("connection")
    group.add_argument("--api-key", help="API key (default: $INFERENCE_API_KEY)")
    group.add_argument(
        "--base-url", help="API base URL (default: $INFERENCE_BASE_URL or https://api.inference.sh)"
    )
    group.add_argument(
        "--local",
        action="store_true",
        help="start an in-process local runtime and use it (no key, no server needed)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print exactly one JSON document on stdout"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    add_verbose_option(parser)


def load_runtime() -> type[LocalRuntime]:
    """The ``LocalRuntime`` class, or a ``CommandError`` saying how to install it."""
    try:
        from inferencesh.local import LocalRuntime
    except ImportError as exc:  # the server extra is missing
        missing = f"no module named {exc.name!r}" if exc.name else str(exc)
        raise CommandError(
            f"the local runtime needs the server extra: {SERVER_EXTRA} ({missing})", EXIT_USAGE
        ) from None
    return LocalRuntime


def _check_base_url(args: argparse.Namespace) -> None:
    """Refuse a base URL that is not an http(s) URL, naming where it came from."""
    import httpx

    text = args.base_url or os.environ.get("INFERENCE_BASE_URL")
    if not text:
        return
    where = "--base-url" if args.base_url else "INFERENCE_BASE_URL"
    try:
        url = httpx.URL(text)
        good = url.scheme in ("http", "https") and bool(url.host)
        good = good and (url.port is None or 0 < url.port <= 65535)
    except (httpx.InvalidURL, ValueError):
        good = False
    if not good:
        raise CommandError(
            f"{where} must be an http(s) URL such as https://api.inference.sh or "
            f"http://127.0.0.1:8765, got {text!r}",
            EXIT_USAGE,
        )


@contextlib.contextmanager
def connect(args: argparse.Namespace) -> Generator[Inference, None, None]:
    """The client the command uses; with ``--local``, on a runtime that lives as long as it."""
    from inferencesh import inference

    if not args.local:
        key = args.api_key or os.environ.get("INFERENCE_API_KEY")
        if not key or not key.strip():
            raise CommandError(MISSING_KEY, EXIT_USAGE)
        _check_base_url(args)
        with inference(api_key=key, base_url=args.base_url) as client:
            yield client
        return
    local_runtime = load_runtime()
    # The user's own key is never sent to the throwaway runtime.
    with (
        local_runtime() as runtime,
        inference(api_key=LOCAL_API_KEY, base_url=runtime.base_url) as client,
    ):
        yield client


def progress_stream(args: argparse.Namespace) -> TextIO | None:
    """Where progress goes: stdout on a terminal, else stderr (always stderr with ``--json``)."""
    if getattr(args, "quiet", False):
        return None
    if not args.json and sys.stdout.isatty():
        return sys.stdout
    return sys.stderr


def _load_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(f"{what} is not valid JSON: {exc}", EXIT_USAGE) from None


def _read_document(arg: str, what: str) -> dict[str, Any]:
    if arg.startswith("@"):
        path = Path(arg[1:])
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"{what}: cannot read {path}: {exc.strerror}", EXIT_USAGE) from None
        value = _load_json(text, f"{what} file {path}")
    else:
        value = _load_json(arg, what)
    if not isinstance(value, dict):
        raise CommandError(f"{what} must be a JSON object, got {type(value).__name__}", EXIT_USAGE)
    return cast(dict[str, Any], value)


def parse_object(documents: list[str], pairs: list[str], what: str) -> dict[str, Any]:
    """Merge JSON documents (``'{...}'`` or ``@file.json``), then ``key=value`` pairs.

    ``key=value`` sets a string; ``key:=value`` sets a JSON value (number, bool, list, ...).
    """
    result: dict[str, Any] = {}
    for document in documents:
        result.update(_read_document(document, what))
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key or key == ":":
            raise CommandError(
                f"{what} {pair!r}: expected key=value (a string) or key:=json", EXIT_USAGE
            )
        if key.endswith(":"):
            name = key[:-1]
            try:
                result[name] = json.loads(value)
            except json.JSONDecodeError as exc:
                raise CommandError(
                    f"{what} {pair!r}: the value after := is not JSON ({exc}); "
                    f"for a string, write {name}={value}",
                    EXIT_USAGE,
                ) from None
        else:
            result[key] = value
    return result


def _with_names(value: Any, data: Any) -> Any:
    """``data`` (the JSON dump of ``value``) with ``<key>_name`` after every int enum field."""
    from pydantic import BaseModel

    if isinstance(value, BaseModel) and isinstance(data, dict):
        fields = type(value).model_fields
        names = {field.alias or name: name for name, field in fields.items()}
        result: dict[str, Any] = {}
        for key, item in cast(dict[str, Any], data).items():
            attribute = getattr(value, names[key]) if key in names else None
            result[key] = _with_names(attribute, item)
            if isinstance(attribute, IntEnum):
                result[f"{key}_name"] = attribute.name.lower()
        return result
    if isinstance(value, (list, tuple)) and isinstance(data, list):
        items, dumped = cast(list[Any], value), cast(list[Any], data)  # type: ignore[redundant-cast]
        return [_with_names(v, d) for v, d in zip(items, dumped, strict=False)]
    if isinstance(value, dict) and isinstance(data, dict):
        mapping = cast(dict[Any, Any], value)  # type: ignore[redundant-cast]
        return {k: _with_names(mapping.get(k), d) for k, d in cast(dict[str, Any], data).items()}
    return data


def to_json(model: Any) -> Any:
    """A model as the command prints it: the wire JSON, plus ``status_name`` next to ``status``
    (and the same for every numbered enum), so scripts need not know the numbers."""
    return _with_names(model, model.model_dump(mode="json", by_alias=True))


def print_json(value: Any) -> None:
    """One indented JSON document on stdout."""
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))
