"""``inferencesh upload``, ``tasks get|cancel|wait``, ``sessions list|get|end`` and ``apps get``."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any, cast

from inferencesh.cli._common import (
    EXIT_USAGE,
    CommandError,
    add_client_options,
    connect,
    print_json,
    progress_stream,
)
from inferencesh.cli._display import Progress, status_name, table
from inferencesh.cli._run import add_download_option, finish, follow_or_cancel, print_output

if TYPE_CHECKING:
    from inferencesh._client import Inference
    from inferencesh._generated.models import AppSessionDTO

__all__ = ["register"]


def register(commands: Any) -> None:
    """Add ``upload``, ``tasks``, ``sessions`` and ``apps`` to the command parsers."""
    upload = commands.add_parser("upload", help="upload a file and print its uri")
    upload.add_argument("file", metavar="FILE")
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
        parser.add_argument("task_id", metavar="ID")
        if name == "wait":
            add_download_option(parser)
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
        parser.add_argument("session_id", metavar="ID")
        add_client_options(parser)
        parser.set_defaults(handler=handler)

    apps = commands.add_parser("apps", help="show an app")
    app_commands = apps.add_subparsers(dest="action", required=True, metavar="ACTION")
    get = app_commands.add_parser("get", help="show an app and its input schema as a table")
    get.add_argument("ref", metavar="NAMESPACE/NAME")
    get.add_argument("--function", help="show this function's input (default: the default one)")
    add_client_options(get)
    get.set_defaults(handler=app_get)


def _dump(model: Any) -> Any:
    return model.model_dump(mode="json", by_alias=True)


def upload_command(args: argparse.Namespace) -> int:
    """``inferencesh upload FILE``: the uri goes to stdout, progress to the progress stream."""
    with connect(args) as client, Progress(progress_stream(args)) as progress:

        def report(sent: int, total: int | None) -> None:
            progress.upload(args.file, sent, total)

        record = client.files.upload(args.file, progress=report)
        progress.stop()
        if args.json:
            print_json(_dump(record))
        else:
            print(record.get("uri"))
    return 0


def _fields(rows: list[tuple[str, Any]]) -> str:
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows if value is not None)


def task_get(args: argparse.Namespace) -> int:
    """``inferencesh tasks get ID``."""
    with connect(args) as client:
        task = client.tasks.get(args.task_id)
    if args.json:
        print_json(_dump(task))
        return 0
    app = task.get("app")
    rows: list[tuple[str, Any]] = [
        ("id", task.id),
        ("app", f"{app.namespace}/{app.name}" if app is not None else task.app_id),
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
    with connect(args) as client:
        client.tasks.cancel(args.task_id)
    if args.json:
        print_json({"id": args.task_id, "cancel_requested": True})
    else:
        print(f"cancel requested for task {args.task_id}")
    return 0


def task_wait(args: argparse.Namespace) -> int:
    """``inferencesh tasks wait ID``: like ``run`` for a task that already exists."""
    with connect(args) as client, Progress(progress_stream(args)) as progress:
        # Ctrl-C stops waiting only: the task may belong to another run of the command.
        task = follow_or_cancel(client, args.task_id, progress, args.json, cancel=False)
        return finish(task, args, progress)


def _session_rows(sessions: list[AppSessionDTO]) -> list[list[str]]:
    return [
        [
            session.id,
            str(session.status.value),
            session.app_id,
            str(session.call_count),
            session.expires_at.isoformat(timespec="seconds"),
        ]
        for session in sessions
    ]


def session_list(args: argparse.Namespace) -> int:
    """``inferencesh sessions list``."""
    with connect(args) as client:
        sessions = client.sessions.list()
    if args.json:
        print_json([_dump(session) for session in sessions])
    elif not sessions:
        print("no sessions")
    else:
        headers = ["id", "status", "app", "calls", "expires"]
        print(table(headers, _session_rows(sessions)))
    return 0


def session_get(args: argparse.Namespace) -> int:
    """``inferencesh sessions get ID``."""
    with connect(args) as client:
        session = client.sessions.get(args.session_id)
    if args.json:
        print_json(_dump(session))
        return 0
    rows: list[tuple[str, Any]] = [
        ("id", session.id),
        ("status", session.status.value),
        ("app", session.app_id),
        ("calls", session.call_count),
        ("idle timeout", f"{session.idle_timeout}s" if session.idle_timeout else None),
        ("expires", session.expires_at.isoformat(timespec="seconds")),
        ("ended", session.ended_at.isoformat(timespec="seconds") if session.ended_at else None),
    ]
    print(_fields(rows))
    return 0


def session_end(args: argparse.Namespace) -> int:
    """``inferencesh sessions end ID``."""
    with connect(args) as client:
        client.sessions.end(args.session_id)
    if args.json:
        print_json({"id": args.session_id, "ended": True})
    else:
        print(f"ended session {args.session_id}")
    return 0


def _type(schema: dict[str, Any]) -> str:
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
    """``inferencesh apps get NAMESPACE/NAME``: the app and its input schema as a table."""
    with connect(args) as client:
        app = _app(client, args.ref)
    if args.json:
        print_json(_dump(app))
        return 0
    version = app.version
    schema: Any = version.input_schema if version is not None else None
    functions: dict[str, Any] = dict(version.functions or {}) if version is not None else {}
    function = args.function or (version.default_function if version is not None else None)
    if args.function:
        if args.function not in functions:
            known = ", ".join(sorted(functions)) or "none"
            raise CommandError(f"{args.ref} has no function {args.function!r} (has: {known})")
        schema = functions[args.function].input_schema
    print(f"{app.namespace}/{app.name}" + (f"  {app.title}" if app.title else ""))
    if app.description:
        print(app.description)
    if functions:
        print(f"functions: {', '.join(sorted(functions))}")
    print(f"\ninput{f' of {function}' if function else ''}:")
    rows = schema_rows(schema)
    headers = ["field", "type", "required", "default", "description"]
    print(table(headers, rows) if rows else "(no fields declared; any input is accepted)")
    setup_rows = schema_rows(version.setup_schema if version is not None else None)
    if setup_rows:
        print("\nsetup:")
        print(table(headers, setup_rows))
    return 0
