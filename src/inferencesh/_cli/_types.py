"""``inferencesh types APP [-o FILE] [--check]``: an app's schemas as a typed Python module.

The module holds pydantic ``Input``/``Output`` (and ``Setup``) models and ``app``, a handle that
runs the app with them (see ``inferencesh._typed_apps``). Writing over a module that changed
prints the unified diff; ``--check`` writes nothing and fails with one line when the module is
not what the app's schemas give now, for CI. Needs the ``types`` extra (the generator).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import difflib
import json
import re
import sys
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inferencesh._cli._common import (
    EXIT_FAILED,
    EXIT_USAGE,
    LOCAL_API_KEY,
    CommandError,
    add_client_options,
    connect,
    load_runtime,
)

if TYPE_CHECKING:
    from inferencesh import Inference
    from inferencesh._typegen import AppSchemas

__all__ = ["register"]

_REF = re.compile(
    r"^(?P<namespace>[\w.-]+)/(?P<name>[\w.-]+)(?:@(?P<version>[\w.-]+))?(?::(?P<function>\w+))?$"
)


def register(commands: Any) -> None:
    """Add ``types`` to the command parsers."""
    parser = commands.add_parser(
        "types",
        help="write a typed module for an app: pydantic Input/Output models and a run handle",
        description="Fetch an app's input, output and setup schemas and write a Python module "
        "with pydantic models and a typed handle: app.run(client, Input(...)).output is an "
        "Output. Needs the types extra: pip install 'inferencesh[types]'.",
    )
    parser.add_argument(
        "app", metavar="APP", help="app reference: namespace/name[@version][:function]"
    )
    parser.add_argument(
        "--version",
        dest="app_version",
        metavar="V",
        help="describe this version and run only it (default: the current version, unpinned)",
    )
    parser.add_argument("--function", help="the app function (default: the app's default one)")
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the module to FILE, printing the diff when it changes (default: stdout)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; fail with one line when FILE is not what the app's schemas give",
    )
    parser.add_argument(
        "--app",
        dest="serve_apps",
        action="append",
        default=[],
        metavar="TARGET",
        help="with --local: also serve this app (a folder with inference.py or module:Class)",
    )
    add_client_options(parser)
    parser.set_defaults(handler=types_command)


def _target(args: argparse.Namespace) -> tuple[str, str, str | None, str | None]:
    """``(namespace, name, version, function)`` of the APP argument and the options."""
    match = _REF.match(args.app)
    if match is None:
        raise CommandError(
            f"APP must be namespace/name[@version][:function] (e.g. infsh/echo), got {args.app!r}",
            EXIT_USAGE,
        )
    version, function = match["version"], match["function"]
    for option, given, flag in (
        ("version", args.app_version, "--version"),
        ("function", args.function, "--function"),
    ):
        named = version if option == "version" else function
        if given is not None and named is not None and given != named:
            raise CommandError(
                f"APP names {option} {named!r} and {flag} names {given!r}: give one", EXIT_USAGE
            )
    return (
        match["namespace"],
        match["name"],
        args.app_version or version,
        args.function or function,
    )


@contextlib.contextmanager
def _client(args: argparse.Namespace) -> Generator[Inference, None, None]:
    if not args.serve_apps:
        with connect(args) as client:
            yield client
        return
    if not args.local:
        raise CommandError("--app serves an app on the local runtime: add --local", EXIT_USAGE)
    from inferencesh import inference

    runtime_class = load_runtime()
    with (
        runtime_class(apps=args.serve_apps) as runtime,
        inference(api_key=LOCAL_API_KEY, base_url=runtime.base_url) as client,
    ):
        yield client


def _classes(source: str) -> dict[str, str]:
    """Each top-level class and assignment of a module -> its source, to name what changed."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    parts: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            parts[node.name] = ast.get_source_segment(source, node) or ""
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            parts[node.target.id] = ast.get_source_segment(source, node) or ""
    return parts


def changes(old: str, new: str) -> str:
    """What differs between two versions of a module, in a few words."""
    before, after = _classes(old), _classes(new)
    parts: list[str] = []
    for names, what in (
        ([n for n in after if n in before and before[n] != after[n]], "changed"),
        ([n for n in after if n not in before], "added"),
        ([n for n in before if n not in after], "removed"),
    ):
        if names:
            parts.append(f"{', '.join(names)} {what}")
    return "; ".join(parts) or "header changed"


def _render(client: Inference, args: argparse.Namespace) -> tuple[AppSchemas, str]:
    from inferencesh._typegen import TypegenError, render, schemas_of

    namespace, name, version, function = _target(args)
    app = client.apps.get_by_name(namespace, name)
    if version is not None:
        app = client.apps.get_version(app.id, version)
    try:
        schemas = schemas_of(app, version=version, function=function)
        return schemas, render(schemas)
    except TypegenError as exc:
        raise CommandError(str(exc), EXIT_FAILED) from None


def _note(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(text, file=sys.stderr)


def types_command(args: argparse.Namespace) -> int:
    """Generate, write or check the typed module of an app."""
    from inferencesh._typegen import TypegenError, command_of, load_generator

    if args.check and not args.output:
        raise CommandError("--check compares with a file: give it with -o FILE", EXIT_USAGE)
    try:
        load_generator()  # before any request: a missing extra is the first thing to say
    except TypegenError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    with _client(args) as client:
        schemas, source = _render(client, args)
    if not args.output:
        if args.json:
            print(json.dumps({"app": schemas.ref, "source": source}))
        else:
            sys.stdout.write(source)
        return 0
    path = Path(args.output)
    try:
        current = path.read_text(encoding="utf-8") if path.exists() else None
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}", EXIT_USAGE) from None
    again = f"`{command_of(schemas)} -o {args.output}`"
    if args.check:
        if current is None:
            raise CommandError(f"{path} does not exist: run {again}", EXIT_FAILED)
        if current != source:
            raise CommandError(
                f"{path} is out of date for {schemas.ref} ({changes(current, source)}): "
                f"run {again}",
                EXIT_FAILED,
            )
        if args.json:
            print(json.dumps({"app": schemas.ref, "output": str(path), "current": True}))
        else:
            _note(args, f"{path} is current")
        return 0
    diff = ""
    if current is not None and current != source:
        diff = "".join(
            difflib.unified_diff(
                current.splitlines(keepends=True),
                source.splitlines(keepends=True),
                f"{path} (before)",
                f"{path} (now)",
            )
        )
    if current != source:
        try:
            path.write_text(source, encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot write {path}: {exc.strerror}", EXIT_USAGE) from None
    if args.json:
        document = {"app": schemas.ref, "output": str(path), "changed": current != source}
        print(json.dumps({**document, "diff": diff}))
    elif current is None:
        _note(args, f"wrote {path} for {schemas.ref}")
    elif diff:
        sys.stdout.write(diff)
        _note(args, f"updated {path}: {changes(current, source)}")
    else:
        _note(args, f"{path} is current")
    return 0
