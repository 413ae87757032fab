"""``inferencesh run``: run an app as a task and follow it to the end."""

from __future__ import annotations

import argparse
import json
import os
import re
import threading
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import httpx

from inferencesh._cli._common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_TIMEOUT,
    CommandError,
    TimedOut,
    add_client_options,
    check_timeout,
    connect,
    failure_reason,
    one_line,
    parse_object,
    print_json,
    progress_stream,
    to_json,
    within,
)
from inferencesh._cli._display import Progress, open_progress, status_name
from inferencesh._errors import InferenceError, TaskFailedError
from inferencesh._files import UploadFileOptions
from inferencesh._input_files import plan_input
from inferencesh._status import is_terminal_status

if TYPE_CHECKING:
    # Only for annotations: the generated models take most of the command's start-up time, and
    # commands that fail early (no key, bad arguments) should not pay for them.
    from inferencesh import Inference
    from inferencesh._generated.models import TaskDTO, TaskResultDTO

__all__ = ["Following", "add_wait_options", "finish", "follow", "follow_or_cancel", "register"]

_CANCEL_WAIT_SECONDS = 15.0
_T = TypeVar("_T")


def register(commands: Any) -> None:
    """Add ``run`` to the command parsers."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "run",
        help="run an app and show its progress and output",
        description="Run an app as a task, follow its progress and print its output.",
        epilog=(
            'Input: --input \'{"text": "hi"}\' or --input @input.json, then -i key=value '
            "(a string) or -i key:=json (numbers, booleans, lists). Strings naming local files "
            "are uploaded first. Exit codes: 0 completed, 1 failed or cancelled, 2 bad usage, "
            "124 --timeout ran out and 130 interrupted (the task is cancelled in both cases)."
        ),
    )
    parser.add_argument("app", metavar="APP", help="app reference: namespace/name[@version]")
    parser.add_argument(
        "--input", action="append", default=[], metavar="JSON|@FILE", help="input object"
    )
    parser.add_argument(
        "-i", dest="pairs", action="append", default=[], metavar="KEY=VALUE", help="input field"
    )
    parser.add_argument(
        "--setup", action="append", default=[], metavar="JSON|@FILE|KEY=VALUE", help="app setup"
    )
    parser.add_argument("--function", help="the app function to call (default: run)")
    parser.add_argument("--session", metavar="new|ID", help='start ("new") or continue a session')
    parser.add_argument(
        "--session-timeout", type=int, metavar="SECONDS", help='idle timeout of a "new" session'
    )
    parser.add_argument(
        "--no-wait", action="store_true", help="print the task id and return at once"
    )
    add_wait_options(parser, "give up after SECONDS and cancel the task")
    add_client_options(parser)
    parser.set_defaults(handler=run_command)


def add_wait_options(parser: argparse.ArgumentParser, timeout_help: str) -> None:
    """``--download DIR`` and ``--timeout SECONDS``, shared by ``run`` and ``tasks wait``."""
    parser.add_argument("--download", metavar="DIR", help="save the output files into DIR")
    parser.add_argument("--timeout", type=float, metavar="SECONDS", help=timeout_help)


def _setup(values: list[str]) -> dict[str, Any]:
    documents = [value for value in values if value.startswith(("{", "@"))]
    pairs = [value for value in values if not value.startswith(("{", "@"))]
    return parse_object(documents, pairs, "--setup")


def _params(args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {
        "app": args.app,
        "input": parse_object(args.input, args.pairs, "--input"),
    }
    if args.setup:
        params["setup"] = _setup(args.setup)
    if args.function:
        params["function"] = args.function
    if args.session:
        params["session"] = args.session
    if args.session_timeout is not None:
        params["session_timeout"] = args.session_timeout
    return params


def _upload_inputs(client: Inference, params: dict[str, Any], progress: Progress) -> None:
    """Upload the local files of the input first, so their progress can be shown."""
    plan = plan_input(params["input"], upload_files=True)
    if not plan.uploads:
        return
    uris: list[str] = []
    for prepared, options in plan.uploads:
        name = prepared.filename

        def report(sent: int, total: int | None, name: str = name) -> None:
            progress.upload(name, sent, total)

        report(0, prepared.size)
        source: Any = prepared.path if prepared.path is not None else prepared.data
        options = options or UploadFileOptions(
            filename=prepared.filename, content_type=prepared.content_type
        )
        record = client.files.upload(source, options, progress=report)
        uris.append(str(record.get("uri")))
    params["input"] = plan.fill(uris)


class Following:
    """What the main thread needs to know about work that may run in ``within``'s thread: the
    task once it exists, and whether the command has given up on the work."""

    def __init__(self, task_id: str | None = None) -> None:
        self.task_id = task_id
        self.abandoned = threading.Event()


def follow(client: Inference, task_id: str, progress: Progress, state: Following) -> TaskDTO:
    """Stream the task's updates into ``progress`` until it ends; return its last state."""
    last: TaskDTO | None = None
    with client.tasks.stream(task_id) as updates:
        for task in updates:
            if state.abandoned.is_set():
                break
            last = task
            progress.task(task)
    if last is None or not is_terminal_status(last.status):
        last = client.tasks.get(task_id)
    return last


def _cancel(client: Inference, task_id: str) -> TaskDTO | None:
    try:
        client.tasks.cancel(task_id)
        return client.tasks.wait_for_completion(task_id, timeout=_CANCEL_WAIT_SECONDS)
    except TaskFailedError as exc:
        return exc.task
    except (InferenceError, KeyboardInterrupt):
        return None


def follow_or_cancel(
    client: Inference,
    work: Callable[[Following], _T],
    args: argparse.Namespace,
    progress: Progress,
    state: Following,
    cancel: bool = True,
) -> _T:
    """``work`` (which follows a task), within ``args.timeout`` seconds. On Ctrl-C or when time
    runs out, cancel the task (or, without ``cancel``, leave it running) and end the command
    with exit code 130 or 124."""
    try:
        return within(getattr(args, "timeout", None), lambda: work(state))
    except (KeyboardInterrupt, TimedOut) as exc:
        state.abandoned.set()
        why, code = (
            ("interrupted", EXIT_INTERRUPTED)
            if isinstance(exc, KeyboardInterrupt)
            else (str(exc), EXIT_TIMEOUT)
        )
        stopped = exc
    task_id = state.task_id
    if task_id is None:
        progress.stop()
        if isinstance(stopped, TimedOut):
            raise CommandError(f"{why} before the API confirmed the task", code) from None
        raise CommandError(why, code) from None
    if not cancel:
        progress.stop()
        raise CommandError(f"{why}: stopped waiting; task {task_id} keeps running", code) from None
    progress.note(f"{why}: cancelling task {task_id}")
    task = _cancel(client, task_id)
    progress.stop()
    status = status_name(task.status) if task is not None else "unknown"
    printed = args.json and task is not None
    if printed and task is not None:
        print_json(to_json(task))
    if status == "cancelled":
        message = f"{why}: task {task_id} cancelled"
    else:
        message = f"{why}: task {task_id} is {status} (cancel was requested)"
    raise CommandError(message, code, printed=printed)


def _files(value: Any) -> list[dict[str, Any]]:
    """The file objects (dicts with an http(s) ``uri``) anywhere in an output."""
    found: list[dict[str, Any]] = []
    if isinstance(value, dict):
        item = cast(dict[str, Any], value)
        uri = item.get("uri")
        if isinstance(uri, str) and uri.startswith(("http://", "https://")):
            found.append(item)
        else:
            for child in item.values():
                found += _files(child)
    elif isinstance(value, list):
        items = cast(list[Any], value)  # type: ignore[redundant-cast]
        for child in items:
            found += _files(child)
    return found


def _file_name(item: dict[str, Any], taken: set[str]) -> str:
    name = item.get("filename")
    if not isinstance(name, str) or not name:
        name = urllib.parse.unquote(urllib.parse.urlsplit(str(item["uri"])).path.rsplit("/")[-1])
    name = re.sub(r"[^\w.+-]", "_", os.path.basename(name)) or "file"
    stem, extension = os.path.splitext(name)
    candidate, index = name, 1
    while candidate in taken:
        index += 1
        candidate = f"{stem}-{index}{extension}"
    taken.add(candidate)
    return candidate


def download(output: Any, folder: str, note: Callable[[str], None]) -> list[Path]:
    """Save every output file into ``folder``; no API key is sent to file URLs."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    taken: set[str] = set()
    with httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0), follow_redirects=True) as http:
        for item in _files(output):
            path = target / _file_name(item, taken)
            try:
                with http.stream("GET", str(item["uri"])) as response:
                    response.raise_for_status()
                    with path.open("wb") as handle:
                        for chunk in response.iter_bytes():
                            handle.write(chunk)
            except (httpx.HTTPError, OSError) as exc:
                raise CommandError(f"downloading {item['uri']} failed: {one_line(exc)}") from None
            note(f"saved {path}")
            saved.append(path)
    return saved


def print_output(output: Any) -> None:
    """The output on stdout: a string as it is, anything else as indented JSON."""
    if isinstance(output, str):
        print(output)
    else:
        print(json.dumps(output, indent=2, ensure_ascii=False))


def finish(task: TaskDTO, args: argparse.Namespace, progress: Progress) -> int:
    """Print a finished task and return the exit code (raise on failure)."""
    progress.stop()
    status = status_name(task.status)
    if status == "completed":
        if args.download:
            download(task.get("output"), args.download, progress.note)
        if args.json:
            print_json(to_json(task))
        else:
            session = task.get("session_id")
            suffix = f", session {session}" if session else ""
            progress.note(f"task {task.id} completed in {progress.elapsed:.1f}s{suffix}")
            print_output(task.get("output"))
        return 0
    if args.json:
        print_json(to_json(task))
    error = failure_reason(task.get("error") or "")
    repeats_status = error.lower() in (status, f"task {status}")
    reason = f": {error}" if error and not repeats_status else ""
    raise CommandError(f"task {task.id} {status}{reason}", EXIT_FAILED, printed=args.json)


def run_command(args: argparse.Namespace) -> int:
    """``inferencesh run APP ...``."""
    params = _params(args)
    check_timeout(args.timeout)
    with connect(args) as client, open_progress(progress_stream(args), args.verbose) as progress:
        created: list[TaskResultDTO] = []

        def work(state: Following) -> TaskDTO | None:
            _upload_inputs(client, params, progress)
            progress.waiting(f"starting {args.app}")
            task = client.tasks.run(params, wait=False, upload_files=False)
            state.task_id = task.id
            created.append(task)
            if args.no_wait:
                return None
            progress.status(f"task {task.id}", status_name(task.get("status")))
            return follow(client, task.id, progress, state)

        finished = follow_or_cancel(client, work, args, progress, Following())
        if finished is None:  # --no-wait
            progress.stop()
            if args.json:
                print_json(to_json(created[0]))
            else:
                print(created[0].id)
            return 0
        return finish(finished, args, progress)
