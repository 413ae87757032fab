"""``inferencesh upload``, ``tasks get|cancel|wait``, ``sessions list|get|end`` and ``apps get``."""

from __future__ import annotations

import argparse
import contextlib
import json
from typing import TYPE_CHECKING, Any, cast

from inferencesh._cli._common import (
    EXIT_USAGE,
    CommandError,
    add_client_options,
    check_timeout,
    connect,
    print_json,
    progress_stream,
    to_json,
)
from inferencesh._cli._display import Progress, open_progress, print_table, status_name
from inferencesh._cli._run import (
    Following,
    add_wait_options,
    finish,
    follow,
    follow_or_cancel,
    print_output,
)
from inferencesh._errors import InferenceError

if TYPE_CHECKING:
    from collections.abc import Callable, Generator
    from typing import TypeVar

    from inferencesh import Inference
    from inferencesh._generated.models import AppSessionDTO, TaskDTO

    _T = TypeVar("_T")

__all__ = ["register"]


def register(commands: Any) -> None:
    """Add ``upload``, ``tasks``, ``sessions`` and ``apps`` to the command parsers."""
    upload = commands.add_parser("upload", help="upload a file and print its uri")
    upload.add_argument("file", metavar="FILE", help="the file to upload")
    add_client_options(upload)
    upload.set_defaults(handler=upload_command)

    tasks = commands.add_parser("tasks", help="get, cancel or wait for a task")
    task_commands = tasks.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, handler, text in (
        ("get", task_get, "show a task"),
        ("cancel", task_cancel, "ask the server to cancel a task"),
        ("wait", task_wait, "follow a task to its end and print its output (Ctrl-C stops waiting)"),
    ):
        parser = task_commands.add_parser(name, help=text)
        parser.add_argument("task_id", metavar="ID", help="the task id (run prints it)")
        if name == "wait":
            add_wait_options(parser, "stop waiting after SECONDS (the task keeps running)")
        add_client_options(parser)
        parser.set_defaults(handler=handler)

    sessions = commands.add_parser("sessions", help="list, show or end sessions")
    session_commands = sessions.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = session_commands.add_parser("list", help="list your sessions")
    add_client_options(listing)
    listing.set_defaults(handler=session_list)
    for name, handler, text in (
        ("get", session_get, "show a session"),
        ("end", session_end, "end a session and release its worker"),
    ):
        parser = session_commands.add_parser(name, help=text)
        parser.add_argument("session_id", metavar="ID", help="the session id (see sessions list)")
        add_client_options(parser)
        parser.set_defaults(handler=handler)

    apps = commands.add_parser("apps", help="show an app")
    app_commands = apps.add_subparsers(dest="action", required=True, metavar="ACTION")
    get = app_commands.add_parser("get", help="show an app, its input and output as tables")
    get.add_argument("ref", metavar="NAMESPACE/NAME", help="the app, e.g. infsh/echo")
    get.add_argument("--function", help="show this function's input (default: the default one)")
    add_client_options(get)
    get.set_defaults(handler=app_get)


@contextlib.contextmanager
def _client(
    args: argparse.Namespace, label: str
) -> Generator[tuple[Inference, Progress], None, None]:
    """The client, and a spinner labelled ``label`` from before the first request is sent."""
    with connect(args) as client, open_progress(progress_stream(args), args.verbose) as progress:
        progress.waiting(label)
        yield client, progress


def _quietly(progress: Progress, call: Callable[[], _T]) -> _T:
    """``call()``, with the spinner removed before anything is printed."""
    try:
        return call()
    finally:
        progress.stop()


def upload_command(args: argparse.Namespace) -> int:
    """``inferencesh upload FILE``: the uri goes to stdout, progress to the progress stream."""
    with connect(args) as client, open_progress(progress_stream(args), args.verbose) as progress:

        def report(sent: int, total: int | None) -> None:
            progress.upload(args.file, sent, total)

        progress.waiting(f"uploading {args.file}")  # asking for an upload URL comes first
        record = _quietly(progress, lambda: client.files.upload(args.file, progress=report))
        if args.json:
            print_json(to_json(record))
        else:
            print(record.get("uri"))
    return 0


def _fields(rows: list[tuple[str, Any]]) -> str:
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows if value is not None)


class _AppNames:
    """``namespace/name`` of app ids, each looked up once; the id itself when the lookup fails."""

    def __init__(self, client: Inference) -> None:
        self._client = client
        self._names: dict[str, str] = {}

    def __call__(self, app_id: str) -> str:
        if not app_id:
            return ""
        if app_id not in self._names:
            try:
                app = self._client.apps.get(app_id)
                self._names[app_id] = f"{app.namespace}/{app.name}"
            except InferenceError:
                self._names[app_id] = app_id
        return self._names[app_id]


def task_get(args: argparse.Namespace) -> int:
    """``inferencesh tasks get ID``."""
    with _client(args, f"getting task {args.task_id}") as (client, progress):
        task = _quietly(progress, lambda: client.tasks.get(args.task_id))
        if args.json:
            print_json(to_json(task))
            return 0
        app = task.get("app")
        app_name = (
            f"{app.namespace}/{app.name}" if app is not None else _AppNames(client)(task.app_id)
        )
    rows: list[tuple[str, Any]] = [
        ("id", task.id),
        ("app", app_name),
        ("function", task.function or None),
        ("status", status_name(task.status)),
        ("created", task.created_at.isoformat()),
        ("updated", task.updated_at.isoformat()),
        ("session", task.get("session_id")),
        ("error", task.get("error") or None),
    ]
    print(_fields(rows))
    if task.get("output") is not None:
        print("output:")
        print_output(task.get("output"))
    return 0


def task_cancel(args: argparse.Namespace) -> int:
    """``inferencesh tasks cancel ID``."""
    with _client(args, f"cancelling task {args.task_id}") as (client, progress):
        _quietly(progress, lambda: client.tasks.cancel(args.task_id))
    if args.json:
        print_json({"id": args.task_id, "cancel_requested": True})
    else:
        print(f"cancel requested for task {args.task_id}")
    return 0


def task_wait(args: argparse.Namespace) -> int:
    """``inferencesh tasks wait ID``: like ``run`` for a task that already exists."""
    check_timeout(args.timeout)
    with connect(args) as client, open_progress(progress_stream(args), args.verbose) as progress:
        progress.waiting(f"task {args.task_id}")

        def work(state: Following) -> TaskDTO:
            return follow(client, args.task_id, progress, state)

        # Ctrl-C stops waiting only: the task may belong to another run of the command.
        state = Following(args.task_id)
        task = follow_or_cancel(client, work, args, progress, state, cancel=False)
        return finish(task, args, progress)


def _session_rows(sessions: list[AppSessionDTO], app_name: _AppNames) -> list[list[str]]:
    return [
        [
            session.id,
            str(session.status.value),
            app_name(session.app_id),
            str(session.call_count),
            session.expires_at.isoformat(timespec="seconds"),
        ]
        for session in sessions
    ]


def session_list(args: argparse.Namespace) -> int:
    """``inferencesh sessions list``."""
    with _client(args, "listing sessions") as (client, progress):
        try:
            sessions = client.sessions.list()
            if args.json:
                print_json([to_json(session) for session in sessions])
                return 0
            rows = _session_rows(sessions, _AppNames(client))
        finally:
            progress.stop()
    if not rows:
        print("no sessions")
    else:
        print_table(["id", "status", "app", "calls", "expires"], rows)
    return 0


def session_get(args: argparse.Namespace) -> int:
    """``inferencesh sessions get ID``."""
    with _client(args, f"getting session {args.session_id}") as (client, progress):
        try:
            session = client.sessions.get(args.session_id)
            if args.json:
                print_json(to_json(session))
                return 0
            app_name = _AppNames(client)(session.app_id)
        finally:
            progress.stop()
    rows: list[tuple[str, Any]] = [
        ("id", session.id),
        ("status", session.status.value),
        ("app", app_name),
        ("calls", session.call_count),
        ("idle timeout", f"{session.idle_timeout}s" if session.idle_timeout else None),
        ("expires", session.expires_at.isoformat(timespec="seconds")),
        ("ended", session.ended_at.isoformat(timespec="seconds") if session.ended_at else None),
    ]
    print(_fields(rows))
    return 0


def session_end(args: argparse.Namespace) -> int:
    """``inferencesh sessions end ID``."""
    with _client(args, f"ending session {args.session_id}") as (client, progress):
        _quietly(progress, lambda: client.sessions.end(args.session_id))
    if args.json:
        print_json({"id": args.session_id, "ended": True})
    else:
        print(f"ended session {args.session_id}")
    return 0


_FILE_HINT = "file: a local path (uploaded first) or an http(s) URL"


def _is_file(schema: dict[str, Any]) -> bool:
    ref = str(schema.get("$ref") or "")
    return schema.get("format") == "file" or ref.rsplit("/", 1)[-1] == "File"


def _type(schema: dict[str, Any]) -> str:
    if _is_file(schema):
        return "file"
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "enum" in schema:
        return " | ".join(json.dumps(value) for value in cast(list[Any], schema["enum"]))
    options = cast(list[dict[str, Any]], schema.get("anyOf") or schema.get("oneOf") or [])
    if options:
        return " | ".join(_type(option) for option in options)
    kind = schema.get("type", "any")
    if kind == "array" and isinstance(schema.get("items"), dict):
        return f"list[{_type(cast(dict[str, Any], schema['items']))}]"
    return " | ".join(cast(list[str], kind)) if isinstance(kind, list) else str(kind)


def schema_rows(schema: Any) -> list[list[str]]:
    """One row per property of a JSON schema: name, type, required, default, description."""
    if not isinstance(schema, dict):
        return []
    values = cast(dict[str, Any], schema)
    properties = cast(dict[str, dict[str, Any]], values.get("properties") or {})
    required = set(cast(list[str], values.get("required") or []))
    rows: list[list[str]] = []
    for name, prop in properties.items():
        default = json.dumps(prop["default"]) if "default" in prop else ""
        description = " ".join(str(prop.get("description") or "").split())
        rows.append([name, _type(prop), "yes" if name in required else "", default, description])
    return rows


def _app(client: Inference, ref: str) -> Any:
    namespace, sep, name = ref.partition("/")
    if not sep or not namespace or not name or "/" in name:
        raise CommandError(f"an app is NAMESPACE/NAME, not {ref!r}", EXIT_USAGE)
    return client.apps.get_by_name(namespace, name.split("@", 1)[0])


def app_get(args: argparse.Namespace) -> int:
    """``inferencesh apps get NAMESPACE/NAME``: the app, its input (and setup) and its output
    as tables."""
    with _client(args, f"getting app {args.ref}") as (client, progress):
        app = _quietly(progress, lambda: _app(client, args.ref))
    if args.json:
        print_json(to_json(app))
        return 0
    version = app.version
    schema: Any = version.input_schema if version is not None else None
    output_schema: Any = version.output_schema if version is not None else None
    functions: dict[str, Any] = dict(version.functions or {}) if version is not None else {}
    function = args.function or (version.default_function if version is not None else None)
    if args.function:
        if args.function not in functions:
            known = ", ".join(sorted(functions)) or "none"
            raise CommandError(f"{args.ref} has no function {args.function!r} (has: {known})")
        schema = functions[args.function].input_schema
        output_schema = functions[args.function].output_schema
    print(f"{app.namespace}/{app.name}" + (f"  {app.title}" if app.title else ""))
    if app.description:
        print(app.description)
    if functions:
        print(f"functions: {', '.join(sorted(functions))}")
    print(f"\ninput{f' of {function}' if function else ''}:")
    rows = schema_rows(schema)
    headers = ["field", "type", "required", "default", "description"]
    if rows:
        print_table(headers, rows)
    else:
        print("(no fields declared; any input is accepted)")
    setup_rows = schema_rows(version.setup_schema if version is not None else None)
    if setup_rows:
        print("\nsetup:")
        print_table(headers, setup_rows)
    if any(row[1].startswith(("file", "list[file]")) for row in rows + setup_rows):
        print(f"\n{_FILE_HINT}")
    output_rows = schema_rows(output_schema)
    if output_rows:  # what a finished task's output holds
        print(f"\noutput{f' of {function}' if function else ''}:")
        print_table(["field", "type", "description"], [[r[0], r[1], r[4]] for r in output_rows])
    return 0
