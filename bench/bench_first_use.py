"""The first use of the client, in a fresh interpreter, against a fresh ``import httpx, pydantic``.

    .venv/bin/python bench/bench_first_use.py [--runs 15]

Each sample is a new interpreter (bytecode caches warm, as after any install; one warm-up run of
each side first) that times, from its first statement:

- ``result``: ``import inferencesh``, a client, and the first typed result, a ``TaskResultDTO``
  from ``tasks.run(..., wait=False)`` answered by the canned loopback server of
  ``bench/_client_server.py``;
- ``task``: the same, then ``tasks.get(...)``, the first ``TaskDTO`` (what a waiting ``run()``
  returns; the model with the most types behind it);
- ``enum``: ``from inferencesh import TaskStatus``;

and the baseline, ``import httpx, pydantic``. Interpreter start-up is outside the timing on both
sides. The sides are interleaved; each figure is the median of ``--runs`` samples (at least 7),
as a ratio to the baseline in elapsed time (``ratio``, the target's measure) and in CPU time
(``cpu_ratio``, which other load on the machine moves less). Two references are timed alike:
``floor``, the baseline plus one two-field pydantic model defined and validated (what a first
result that is a pydantic model costs at least, when httpx is imported as the baseline does),
and ``httpx_no_cli``, the baseline with httpx's command-line module kept out (httpx imports it,
with click, rich and pygments, whenever those are installed, as they are with our ``cli`` and
``server`` extras, and the baseline and the client both pay it). ``breakdown`` is
where the time of ``task`` goes, in CPU time, each step the median of the same number of fresh
interpreters. ``venv`` says which shape of environment ran it: whether httpx's command-line
module would import (click, rich and pygments all installed, as in the development venv or with
our extras) or not (the package installed alone, as most users have it), and how many
distributions pydantic's plugin loader scans. ``above_floor`` is the client's own part: the
``result`` code timed after the ``floor`` code has run in the same interpreter (so with httpx,
pydantic's model machinery and its plugin scan already paid), in milliseconds; it compares two
versions of the client more steadily than the difference of two ratios, the more so with
``--against PYTHON`` (``above_floor_against``: the same, timed with another venv's interpreter,
the samples of the two interleaved).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from bench_client import KEY, RUN, server  # noqa: E402

PY = sys.executable
BASELINE = "import httpx, pydantic"
RESULT = """
import inferencesh
client = inferencesh.inference(api_key={key!r}, base_url={base!r})
result = client.tasks.run({run!r}, wait=False)
assert type(result).__name__ == "TaskResultDTO" and result.status == 1, result
"""
TASK = (
    RESULT
    + """
task = client.tasks.get("t1")
assert type(task).__name__ == "TaskDTO" and task.status.name == "COMPLETED", task
"""
)
ENUM = """
from inferencesh import TaskStatus
assert TaskStatus(10).name == "COMPLETED"
"""
FLOOR = """
import httpx, pydantic
from pydantic import BaseModel, Field
class Created(BaseModel):
    id: str = Field(min_length=1)
    status: int
assert Created.model_validate({"id": "t1", "status": 1}).status == 1
"""
HTTPX_NO_CLI = "import sys\nsys.modules['httpx._main'] = None\nimport httpx, pydantic"
# Steps of TASK, each timed on its own (CPU time); the rows of the breakdown.
STEPS = [
    ("import inferencesh", "import inferencesh"),
    ("import httpx, pydantic", "import httpx, pydantic"),
    (
        "pydantic's model machinery",
        "from pydantic import BaseModel, Field\nimport pydantic.plugin._loader",
    ),
    ("a client", "client = inferencesh.inference(api_key={key!r}, base_url={base!r})"),
    ("client.tasks", "client.tasks"),
    ("first result (TaskResultDTO)", "result = client.tasks.run({run!r}, wait=False)"),
    ("first TaskDTO", "task = client.tasks.get('t1')"),
]
TARGET = 1.3


def sample(code: str, setup: str = "", python: str = PY) -> tuple[float, float]:
    """Seconds ``code`` takes in a fresh interpreter (after ``setup``, untimed), timed from its
    first statement: elapsed and CPU time."""
    script = (
        f"{setup}\nimport time\n_t, _c = time.perf_counter(), time.process_time()\n"
        f"{code}\nprint(time.perf_counter() - _t, time.process_time() - _c)"
    )
    # With bytecode caches, as after any install: an editable checkout run with
    # PYTHONDONTWRITEBYTECODE would otherwise compile our sources in every sample.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    out = subprocess.run(
        [python, "-c", script], capture_output=True, text=True, check=True, env=env
    )
    elapsed, cpu = out.stdout.strip().splitlines()[-1].split()
    return float(elapsed), float(cpu)


def steps_sample(base: str) -> list[float]:
    """CPU seconds of each step of STEPS, in one fresh interpreter."""
    lines = ["import time", "_marks = [time.process_time()]"]
    for _, code in STEPS:
        lines.append(code.format(key=KEY, base=base, run=RUN))
        lines.append("_marks.append(time.process_time())")
    lines.append("print([b - a for a, b in zip(_marks, _marks[1:])])")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    out = subprocess.run(
        [PY, "-c", "\n".join(lines)], capture_output=True, text=True, check=True, env=env
    )
    return [float(x) for x in json.loads(out.stdout.strip().splitlines()[-1])]


def venv_shape() -> dict[str, Any]:
    """The environment the samples ran in (this interpreter's)."""
    cli = [name for name in ("click", "rich", "pygments") if importlib.util.find_spec(name)]
    return {
        "development_venv": (HERE.parent / ".venv").resolve() == Path(sys.prefix).resolve(),
        "httpx_imports_its_cli": len(cli) == 3,
        "cli_libraries_installed": cli,
        "distributions": sum(1 for _ in importlib.metadata.distributions()),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument(
        "--against",
        metavar="PYTHON",
        help="also time above_floor with this interpreter (another venv: an earlier version of "
        "the client), its samples interleaved with this one's",
    )
    args = parser.parse_args()
    runs = max(7, args.runs)
    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
        "python": platform.python_version(),
        "runs_per_figure": runs,
        "venv": venv_shape(),
        # Other work on the machine moves both sides of a ratio, but not always alike.
        "load_average_at_start": os.getloadavg()[0],
    }
    with server() as base:
        codes = {
            "baseline": BASELINE,
            "result": RESULT.format(key=KEY, base=base, run=RUN),
            "task": TASK.format(key=KEY, base=base, run=RUN),
            "enum": ENUM,
            "floor": FLOOR,
            "httpx_no_cli": HTTPX_NO_CLI,
        }
        # The client's own part: the first result, timed once the floor has run in the same
        # interpreter (what the result costs beyond one pydantic model).
        setups = {"above_floor": FLOOR, "above_floor_against": FLOOR}
        codes["above_floor"] = codes["result"]
        pythons = {name: PY for name in codes}
        if args.against:
            codes["above_floor_against"] = codes["result"]
            pythons["above_floor_against"] = args.against
        for name, code in codes.items():  # warm-up: bytecode caches, page cache
            sample(code, setups.get(name, ""), pythons[name])
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in codes}
        for _ in range(runs):
            for name, code in codes.items():
                times[name].append(sample(code, setups.get(name, ""), pythons[name]))
        baseline = statistics.median(t for t, _ in times["baseline"])
        baseline_cpu = statistics.median(c for _, c in times["baseline"])
        results["baseline_ms"] = round(baseline * 1e3, 1)
        results["baseline_cpu_ms"] = round(baseline_cpu * 1e3, 1)
        for name in ("result", "task", "enum", "floor", "httpx_no_cli"):
            median = statistics.median(t for t, _ in times[name])
            cpu = statistics.median(c for _, c in times[name])
            results[name] = {
                "ms": round(median * 1e3, 1),
                "ratio": round(median / baseline, 2),
                # CPU time: what other load on the machine moves least.
                "cpu_ratio": round(cpu / baseline_cpu, 2),
            }
        for name in ("above_floor", "above_floor_against"):
            if name in times:
                results[name] = {
                    "ms": round(statistics.median(t for t, _ in times[name]) * 1e3, 1),
                    "cpu_ms": round(statistics.median(c for _, c in times[name]) * 1e3, 1),
                }
        if args.against:
            results["above_floor_against"]["python"] = args.against
        results["result"]["target"] = f"<= {TARGET}"
        results["result"]["met"] = results["result"]["ratio"] <= TARGET
        steps = [steps_sample(base) for _ in range(runs)]
        results["breakdown_cpu_ms"] = {
            label: round(statistics.median(s[i] for s in steps) * 1e3, 1)
            for i, (label, _) in enumerate(STEPS)
        }
    results["load_average_at_end"] = os.getloadavg()[0]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
