"""Webhooks (signed, retried, bounded, loopback only) and run_at (a task that waits)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from local_helpers import assert_problem, wait

from inferencesh import Inference, TaskStatus
from inferencesh.local import LocalRuntime
from inferencesh.local._errors import ApiError
from inferencesh.local._webhooks import WebhookPolicy

KEY = "inf_hooks"


class Receiver:
    """A webhook receiver on loopback that answers with the statuses it is given, in turn."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.calls: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
                index = min(len(receiver.calls), len(receiver.statuses)) - 1
                self.send_response(receiver.statuses[index])
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def hooks_runtime() -> Iterator[LocalRuntime]:
    with LocalRuntime(webhook_backoff=0.01, webhook_attempts=3, webhook_timeout=5.0) as rt:
        yield rt


@pytest.fixture
def client(hooks_runtime: LocalRuntime) -> Iterator[Inference]:
    with Inference(api_key=KEY, base_url=hooks_runtime.base_url, strict_responses=True) as c:
        yield c


@pytest.fixture
def http(hooks_runtime: LocalRuntime) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=hooks_runtime.base_url, headers=headers) as c:
        yield c


@pytest.fixture
def runtime_log() -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("inferencesh.local")
    handler, level = Collect(logging.INFO), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield records
    logger.removeHandler(handler)
    logger.setLevel(level)


def _until(check: Any, attempts: int = 800) -> None:
    for _ in range(attempts):
        if check():
            return
        time.sleep(0.025)
    raise AssertionError("the condition never held")


def _gave_up(records: list[logging.LogRecord], task_id: str) -> bool:
    return any(task_id in r.getMessage() and "not delivered" in r.getMessage() for r in records)


def test_a_finished_task_is_posted_to_its_webhook_signed(
    client: Inference, hooks_runtime: LocalRuntime
) -> None:
    receiver = Receiver([200])
    try:
        task = client.tasks.run({"app": "infsh/echo", "input": {"a": 1}, "webhook": receiver.url})
        _until(lambda: len(receiver.calls) == 1)
    finally:
        receiver.close()
    headers, body = receiver.calls[0]
    posted = json.loads(body)
    assert posted["id"] == task.id and posted["status"] == TaskStatus.COMPLETED
    assert posted["output"] == {"a": 1} and posted["webhook"] == receiver.url
    secret = hooks_runtime.webhook_secret
    assert secret is not None
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert headers["x-inference-signature"] == f"sha256={expected}"
    assert headers["x-inference-event"] == "task.completed"
    assert headers["content-type"] == "application/json" and "authorization" not in headers


def test_a_failing_receiver_is_retried_with_the_same_delivery(client: Inference) -> None:
    receiver = Receiver([503, 502, 200])
    try:
        body = {"app": "infsh/fail", "input": {"message": "boom"}, "webhook": receiver.url}
        task = client.tasks.run(body, wait=False)
        _until(lambda: len(receiver.calls) == 3)
    finally:
        receiver.close()
    assert len({headers["x-inference-delivery"] for headers, _ in receiver.calls}) == 1
    assert {json.loads(body)["id"] for _, body in receiver.calls} == {task.id}
    assert receiver.calls[-1][0]["x-inference-event"] == "task.failed"


@pytest.mark.parametrize(("statuses", "tries"), [([500], 3), ([404], 1)])
def test_deliveries_are_bounded(
    client: Inference, runtime_log: list[logging.LogRecord], statuses: list[int], tries: int
) -> None:
    receiver = Receiver(statuses)
    try:
        body = {"app": "infsh/echo", "input": {}, "webhook": receiver.url}
        task = client.tasks.run(body)
        _until(lambda: _gave_up(runtime_log, task.id))
    finally:
        receiver.close()
    assert len(receiver.calls) == tries


def test_an_unreachable_webhook_gives_up_without_failing_the_task(
    client: Inference, runtime_log: list[logging.LogRecord]
) -> None:
    receiver = Receiver([200])
    receiver.close()  # nothing listens there any more
    task = client.tasks.run({"app": "infsh/echo", "input": {}, "webhook": receiver.url})
    _until(lambda: _gave_up(runtime_log, task.id))
    assert client.tasks.get(task.id).status == TaskStatus.COMPLETED


@pytest.mark.parametrize(
    "url",
    ["http://example.com/hook", "ftp://127.0.0.1/hook", "http://user:pw@127.0.0.1/x", "nowhere"],
)
def test_webhooks_beyond_loopback_are_refused_before_the_task_runs(
    http: httpx.Client, url: str
) -> None:
    response = http.post("/apps/run", json={"app": "infsh/echo", "input": {}, "webhook": url})
    assert assert_problem(response, 400, "validation_error")["detail"].startswith("webhook:")


def test_other_hosts_are_allowed_only_when_named() -> None:
    WebhookPolicy.of([]).check("http://localhost:9/hook")
    WebhookPolicy.of(["Hooks.Example.com"]).check("https://hooks.example.com/in")
    WebhookPolicy.of(["*"]).check("https://anything.example.org/in")
    with pytest.raises(ApiError, match="not a loopback host"):
        WebhookPolicy.of(["hooks.example.com"]).check("https://other.example.com/in")


def test_a_task_with_run_at_waits_received_until_then(client: Inference) -> None:
    run_at = datetime.now(timezone.utc) + timedelta(seconds=1.5)
    created = client.tasks.create(app="infsh/echo", input={"b": 2}, run_at=run_at)
    assert created.status == TaskStatus.RECEIVED and created.run_at == run_at
    assert client.tasks.get(created.id).status == TaskStatus.RECEIVED
    done = client.tasks.wait_for_completion(created.id)
    assert done.status == TaskStatus.COMPLETED and done.output == {"b": 2}
    queued = [e.event_time for e in done.events if e.status == TaskStatus.QUEUED]
    assert queued and queued[0] >= run_at


def test_a_waiting_task_can_be_cancelled(http: httpx.Client) -> None:
    later = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    task = http.post("/apps/run", json={"app": "infsh/echo", "input": {}, "run_at": later})
    task_id = task.json()["data"]["id"]
    assert http.post(f"/tasks/{task_id}/cancel").status_code == 200
    ended = wait(http, task_id)
    assert ended["status"] == TaskStatus.CANCELLED
    assert [e["status"] for e in ended["events"]] == [TaskStatus.RECEIVED, TaskStatus.CANCELLED]


def test_a_run_at_in_the_past_runs_now(client: Inference) -> None:
    past = datetime(2020, 1, 1, tzinfo=timezone.utc)
    task = client.tasks.run({"app": "infsh/echo", "input": {"c": 3}, "run_at": past})
    assert task.status == TaskStatus.COMPLETED and task.output == {"c": 3}
