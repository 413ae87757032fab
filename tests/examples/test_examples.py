"""Every example runs against the local runtime, exits 0 and prints what it promises.

The examples run as subprocesses, concurrently, against one shared ``LocalRuntime`` (given to
them through ``INFERENCE_BASE_URL``); ``app_authoring.py`` and ``demo.py`` start their own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# What each example must print (each string on some line of its stdout).
PROMISES: dict[str, list[str]] = {
    "run_wait_stream.py": [
        "wait: output={'text': 'hello'} status=COMPLETED",
        "no-wait: later output={'n': 2}",
        "stream: final output='one two three' completed=True",
    ],
    "tasks_manage.py": [
        "get: status=",
        "stream: COMPLETED",
        "stream: result output={'slept':",
        "still running after 0.5 s",
        "cancelled=True",
    ],
    "sessions_state.py": [
        "manual: count 5 -> 7",
        "manual: session active, 2 calls",
        "manual: listed=True",
        "manual: ended, now ended",
        "context: history=[1, 2] count=1",
        "context: streamed count=11",
        "context: session ended on exit",
    ],
    "files_upload.py": [
        "path: sent 21 of 21 bytes",
        "path: notes.txt -> http://127.0.0.1:",
        "bytes: bytes.txt (20 bytes)",
        "data uri: file.txt text/plain",
        "output file: bytes-upper.txt says 'UPLOADED FROM BYTES'",
    ],
    "files_auto_upload.py": [
        "Path: uploaded, app returned 14 bytes",
        "str path: uploaded, app returned 14 bytes",
        "File: uploaded, app returned 14 bytes",
        "data URI: uploaded, app returned 16 bytes",
        "upload_files=False: sent as text=True",
    ],
    "async_client.py": [
        "run: {'text': 'async'}",
        "gather: [0, 1, 2, 3, 4]",
        "stream: 'a b c'",
        "session: count=7",
    ],
    "errors_retries.py": [
        "client: max_retries=4",
        "TaskFailedError: boom (task ",
        "NotFoundError: status=404 code=not_found",
        "InvalidInputError: session_timeout must be from 1 to 3600 seconds, got 0",
        "AuthenticationError: status=401",
    ],
    "app_authoring.py": [
        "run: Hello, Ada! Hello, Ada!",
        "run: card says 'Hello, Ada! Hello, Ada!'",
        "setup: Bonjour, Lin!",
        "spell: a-b-c",
        "invalid input: task failed (1 validation error for GreeterInput)",
    ],
    "agent_chat.py": [
        "tool call: get_weather {'city': 'Paris'}",
        'reply: get_weather returned {"city": "Paris", "sky": "sunny", "celsius": 21}. '
        "You said: Should I take an umbrella?",
        "same chat: You said: thanks",
        "run output: {'city': 'Lyon', 'days': 3}",
    ],
    "agent_async.py": [
        "tool call: get_weather {'city': 'Oslo'}",
        'reply: get_weather returned {"city": "Oslo", "sky": "cloudy", "celsius": 14}. '
        "You said: Warm enough?",
        "streamed text matches=True",
        "gather: ['You said: one', 'You said: two']",
        "run output: {'city': 'Rome', 'nights': 2}",
    ],
    "proxy_fastapi.py": [
        "signed out: 401 unauthorized",
        "run: {'text': 'via fastapi'}",
        "stream: 'a b c'",
        "elsewhere: 403 target_not_allowed",
    ],
    "proxy_flask.py": [
        "run: {'text': 'via flask'}",
        "upload: proxy_flask.py True",
        "session: count=7",
    ],
    "demo.py": [
        "== echo:",
        "== files:",
        "downloaded: ['hello-upper.txt']",
        "== session:",
        "client: session sess_",
        "== stream:",
        "client: 100% 'tokens arrive one by one'",
        "== agent:",
        '  client: [tool get_weather {"city": "Paris"}]',
        "client: the handler ran here for ['Paris']",
        """    > echo returned {"word":"hi"}. You said: bye""",
        "demo ok",
    ],
}


def test_every_example_has_promises() -> None:
    scripts = {path.name for path in EXAMPLES.glob("*.py") if not path.name.startswith("_")}
    assert scripts == set(PROMISES)


@pytest.fixture(scope="module")
def results() -> Iterator[dict[str, subprocess.CompletedProcess[str]]]:
    from inferencesh.local import LocalRuntime

    env = {key: value for key, value in os.environ.items() if not key.startswith("INFERENCE_")}
    with LocalRuntime() as runtime:
        shared = env | {"INFERENCE_BASE_URL": runtime.base_url, "INFERENCE_API_KEY": "inf_ex"}

        def run(name: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, str(EXAMPLES / name)],
                capture_output=True,
                text=True,
                env=shared,
                timeout=180,
            )

        # The longest first, so the pool finishes sooner.
        names = ["demo.py", *sorted(name for name in PROMISES if name != "demo.py")]
        with ThreadPoolExecutor(max_workers=3) as pool:
            done: dict[str, Any] = dict(zip(names, pool.map(run, names), strict=True))
        yield done


@pytest.mark.parametrize("name", sorted(PROMISES))
def test_example_runs_and_prints_its_promises(
    name: str, results: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    done = results[name]
    assert done.returncode == 0, f"{name} failed:\n{done.stdout}\n{done.stderr}"
    for promise in PROMISES[name]:
        assert promise in done.stdout, f"{name} did not print {promise!r}:\n{done.stdout}"
