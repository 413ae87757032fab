"""``inferencesh run``: run an app as a task and follow it to the end."""

from __future__ import annotations

import argparse
import json
import os
import re
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import httpx

from inferencesh._errors import InferenceError, TaskFailedError
from inferencesh._status import is_terminal_status
from inferencesh.cli._common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    CommandError,
    add_client_options,
    connect,
    one_line,
    parse_object,
    print_json,
    progress_stream,
)
from inferencesh.cli._display import Progress, status_name
from inferencesh.files import UploadFileOptions, plan_input

if TYPE_CHECKING:
    # Only for annotations: the generated models take most of the command's start-up time, and
    # commands that fail early (no key, bad arguments) should not pay for them.
    from inferencesh._client import Inference
    from inferencesh._generated.models import TaskDTO

__all__ = ["add_download_option", "finish", "follow", "register"]

_CANCEL_WAIT_SECONDS = 15.0


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
            "130 interrupted (the task is cancelled)."
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
    add_download_option(parser)
    add_client_options(parser)
    parser.set_defaults(handler=run_command)


def add_download_option(parser: argparse.ArgumentParser) -> None:
    """``--download DIR``, shared by ``run`` and ``tasks wait``."""
    parser.add_argument("--download", metavar="DIR", help="save the output files into DIR")


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


def follow(client: Inference, task_id: str, progress: Progress) -> TaskDTO:
    """Stream the task's updates into ``progress`` until it ends; return its last state."""
    last: TaskDTO | None = None
    with client.tasks.stream(task_id) as updates:
        for task in updates:
            last = task
            progress.task(task)
    if last is None or not is_terminal_status(last.status):
        last = client.tasks.get(task_id)
    return last


def _cancel(client: Inference, task_id: str, progress: Progress) -> TaskDTO | None:
    progress.note(f"interrupted: cancelling task {task_id}")
    try:
        client.tasks.cancel(task_id)
        return client.tasks.wait_for_completion(task_id, timeout=_CANCEL_WAIT_SECONDS)
    except TaskFailedError as exc:
        return cast("TaskDTO", exc.task)
    except (InferenceError, KeyboardInterrupt):
        return None


def follow_or_cancel(
    client: Inference, task_id: str, progress: Progress, json_output: bool, cancel: bool = True
) -> TaskDTO:
    """``follow``; on Ctrl-C cancel the task (or, without ``cancel``, leave it running) and end
    the command with exit code 130."""
    try:
        return follow(client, task_id, progress)
    except KeyboardInterrupt:
        if not cancel:
            progress.stop()
            raise CommandError(
                f"interrupted: stopped waiting; task {task_id} keeps running", EXIT_INTERRUPTED
            ) from None
        task = _cancel(client, task_id, progress)
    progress.stop()
    status = status_name(task.status) if task is not None else "unknown"
    printed = json_output and task is not None
    if printed and task is not None:
        print_json(task.model_dump(mode="json", by_alias=True))
    if status == "cancelled":
        message = f"interrupted: task {task_id} cancelled"
    else:
        message = f"interrupted: task {task_id} is {status} (cancel was requested)"
    raise CommandError(message, EXIT_INTERRUPTED, printed=printed)


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
            print_json(task.model_dump(mode="json", by_alias=True))
        else:
            session = task.get("session_id")
            suffix = f", session {session}" if session else ""
            progress.note(f"task {task.id} completed in {progress.elapsed:.1f}s{suffix}")
            print_output(task.get("output"))
        return 0
    if args.json:
        print_json(task.model_dump(mode="json", by_alias=True))
    error = one_line(task.get("error") or "")
    repeats_status = error.lower() in (status, f"task {status}")
    reason = f": {error}" if error and not repeats_status else ""
    raise CommandError(f"task {task.id} {status}{reason}", EXIT_FAILED, printed=args.json)


def run_command(args: argparse.Namespace) -> int:
    """``inferencesh run APP ...``."""
    params = _params(args)
    with connect(args) as client, Progress(progress_stream(args)) as progress:
        _upload_inputs(client, params, progress)
        created = client.tasks.run(params, wait=False, upload_files=False)
        if args.no_wait:
            if args.json:
                print_json(created.model_dump(mode="json", by_alias=True))
            else:
                print(created.id)
            return 0
        progress.status(f"task {created.id}", status_name(created.get("status")))
        task = follow_or_cancel(client, created.id, progress, args.json)
        return finish(task, args, progress)
