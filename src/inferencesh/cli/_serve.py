"""``inferencesh serve``: the local runtime in the foreground."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["register", "serve"]


def register(commands: Any) -> None:
    """Add ``serve`` to the command parsers."""
    serve_parser: argparse.ArgumentParser = commands.add_parser(
        "serve", help="run the local runtime (the inference.sh API on loopback)"
    )
    serve_parser.add_argument(
        "--app",
        action="append",
        default=[],
        metavar="[REF=]MODULE:CLASS",
        help="serve a BaseApp class (as REF, default local/<class>); repeatable",
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
    serve_parser.add_argument("--port", type=int, default=8765, help="port (0 picks a free one)")
    serve_parser.add_argument(
        "--data-dir", default=".local-data", help="where records and files are kept"
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
        "--no-key-approvals",
        action="store_true",
        help="refuse tool approvals made with an API key (403 requires_sign_in, as the platform)",
    )
    serve_parser.set_defaults(handler=serve)


def _folders(root: str) -> list[Path]:
    path = Path(root)
    if (path / "inference.py").is_file():
        return [path]
    return sorted(p for p in path.iterdir() if (p / "inference.py").is_file())


def serve(args: argparse.Namespace) -> int:
    """Run the runtime in the foreground until interrupted."""
    try:
        from inferencesh.local import LocalRuntime
    except ImportError as exc:  # the server extra is missing
        print(f"the local runtime needs 'inferencesh[server]': {exc}", file=sys.stderr)
        return 2
    apps: list[str] = list(args.app)
    for root in args.apps:
        apps += [str(folder) for folder in _folders(root)]
    runtime = LocalRuntime(
        port=args.port,
        data_dir=args.data_dir,
        api_key=args.api_key,
        apps=apps,
        host=args.host,
        agents=list(args.agents),
        allow_key_approvals=not args.no_key_approvals,
    )
    runtime.start()
    print(f"inference.sh local runtime on {runtime.base_url}", flush=True)
    for ref in runtime.registry.refs():
        print(f"  app {ref}", flush=True)
    runtime.wait()
    return 0
