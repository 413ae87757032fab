"""Run every benchmark in bench/, one after the other (what `make bench` does).

``--history`` also runs ``bench_runtime_history.py`` (minutes: it seeds 100,000 tasks).

Each script prints its own figures; ratios are against a raw client (httpx, or aiohttp for the
concurrent burst) measured in the same run. Figures and how they were taken: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = [
    "bench_codegen.py",
    "bench_runtime_echo.py",
    "bench_client.py",
    "bench_first_use.py",
    "bench_stream_decode.py",
]


SLOW = ["bench_runtime_history.py"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--history", action="store_true", help="also the long-history runtime bench (slow)"
    )
    args = parser.parse_args()
    failed = []
    for script in [*SCRIPTS, *(SLOW if args.history else [])]:
        print(f"== {script}", flush=True)
        if subprocess.run([sys.executable, str(HERE / script)], check=False).returncode != 0:
            failed.append(script)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
