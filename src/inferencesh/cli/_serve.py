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
        "--allow-any-key",
        action="store_true",
        help="on a non-loopback --host, accept any inf_ key instead of requiring --api-key",
    )
    serve_parser.add_argument(
        "--public-url", help="the URL clients use, for upload/download URLs (default: Host)"
    )
    serve_parser.add_argument(
        "--namespace", default="local", help="the namespace of app refs without one"
    )
    serve_parser.add_argument("--task-timeout", type=float, metavar="S", help="seconds per task")
    serve_parser.add_argument(
        "--max-workers", type=int, default=4, metavar="N", help="worker processes (default 4)"
    )
    serve_parser.add_argument(
        "--worker-memory", type=int, metavar="MB", help="memory limit of each worker process"
    )
    serve_parser.add_argument(
        "--max-output-mb", type=int, default=64, metavar="MB", help="largest task output"
    )
    serve_parser.add_argument("--keep-tasks", type=int, metavar="N", help="keep the newest N")
    serve_parser.add_argument(
        "--keep-days", type=float, metavar="D", help="drop records older than D days"
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
    try:
        runtime = LocalRuntime(
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
        ).start()
    except (ValueError, RuntimeError, OSError) as exc:
        print(f"inferencesh serve: {exc}", file=sys.stderr)
        return 2
    print(f"inference.sh local runtime on {runtime.base_url}", flush=True)
    print(f"  {runtime.storage}", flush=True)
    for ref in runtime.registry.refs():
        print(f"  app {ref}", flush=True)
    runtime.wait()
    return 0
