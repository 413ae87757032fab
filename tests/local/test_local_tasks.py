"""Tasks over raw HTTP: run, get, status, streams (NDJSON and SSE), cancel, errors."""

from __future__ import annotations

import httpx
from local_helpers import (
    assert_problem,
    log_text,
    run,
    run_and_wait,
    stream_lines,
    wait,
    wait_status,
)

from inferencesh.local import LocalRuntime

RECEIVED, QUEUED, DISPATCHED, RUNNING, CANCELLING = 1, 2, 3, 7, 8
COMPLETED, FAILED, CANCELLED = 10, 11, 12


def test_requests_without_an_inf_key_are_refused(runtime: LocalRuntime) -> None:
    for headers in ({}, {"Authorization": "Bearer sk_not_ours"}, {"Authorization": "inf_x"}):
        response = httpx.get(f"{runtime.base_url}/sessions", headers=headers)
        assert_problem(response, 401, "unauthorized")


def test_a_configured_api_key_is_the_only_one_accepted() -> None:
    with LocalRuntime(api_key="inf_secret_one") as rt:
        good = httpx.get(
            f"{rt.base_url}/sessions", headers={"Authorization": "Bearer inf_secret_one"}
        )
        bad = httpx.get(f"{rt.base_url}/sessions", headers={"Authorization": "Bearer inf_other"})
    assert good.status_code == 200 and good.json() == {"data": [], "messages": []}
    body = assert_problem(bad, 401, "unauthorized")
    assert "inf_secret_one" not in bad.text and "inf_secret_one" not in str(body)


def test_echo_runs_through_the_whole_lifecycle(client: httpx.Client) -> None:
    body = {"app": "infsh/echo", "input": {"key": "value"}, "infra": "cloud", "variant": "default"}
    response = client.post("/apps/run", json=body)
    assert response.status_code == 200
    envelope = response.json()
    assert envelope["messages"] == []
    created = envelope["data"]
    assert created["status"] == RECEIVED and created["status_text"] == "received"
    assert created["id"] and created["short_id"] and created["created_at"].endswith("Z")
    task = wait(client, created["id"])
    assert task["status"] == COMPLETED and task["error"] is None
    assert task["output"] == {"key": "value"} and task["input"] == {"key": "value"}
    assert task["function"] == "run" and task["infra"] == "cloud"
    statuses = [event["status"] for event in task["events"]]
    assert statuses[:3] == [RECEIVED, QUEUED, DISPATCHED]
    assert statuses[-2:] == [RUNNING, COMPLETED]
    assert statuses == sorted(statuses)
    times = [event["event_time"] for event in task["events"]]
    assert times == sorted(times) and task["updated_at"] >= task["created_at"]
    status = client.get(f"/tasks/{created['id']}/status").json()["data"]
    assert status == {"id": created["id"], "status": COMPLETED, "updated_at": task["updated_at"]}


def test_unknown_task_app_and_route_are_problems(client: httpx.Client) -> None:
    assert_problem(client.get("/tasks/nope"), 404, "not_found")
    assert_problem(client.get("/tasks/nope/stream"), 404, "not_found")
    assert_problem(client.post("/tasks/nope/cancel"), 404, "not_found")
    response = client.post("/apps/run", json={"app": "nobody/nothing", "input": {}})
    assert_problem(response, 404, "not_found")
    assert_problem(client.get("/no/such/route"), 404, "not_found")
    assert_problem(client.put("/sessions"), 405, "method_not_allowed")


def test_bad_run_requests_are_refused_before_a_task_exists(client: httpx.Client) -> None:
    bad_json = client.post(
        "/apps/run", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert_problem(bad_json, 400, "invalid_request")
    assert_problem(client.post("/apps/run", json=[1]), 400, "invalid_request")
    nan = b'{"app": "infsh/echo", "input": {"x": NaN}}'
    response = client.post("/apps/run", content=nan, headers={"Content-Type": "application/json"})
    assert_problem(response, 400, "invalid_request")
    assert_problem(client.post("/apps/run", json={"input": {}}), 400, "validation_error")
    for timeout in (0, 3601):
        body = {"app": "infsh/echo", "session": "new", "session_timeout": timeout}
        problem = assert_problem(client.post("/apps/run", json=body), 400, "validation_error")
        assert "session_timeout" in problem["detail"]
    body = {"app": "infsh/echo", "session_timeout": 10}
    problem = assert_problem(client.post("/apps/run", json=body), 400, "validation_error")
    assert '"new"' in problem["detail"]
    body = {"app": "infsh/echo", "input": {}, "session_timeout": "soon"}
    assert_problem(client.post("/apps/run", json=body), 400, "validation_error")


def test_missing_secret_is_a_412_with_requirement_errors(client: httpx.Client) -> None:
    response = client.post("/apps/run", json={"app": "tests/needs-secret", "input": {}})
    body = assert_problem(response, 412, "requirements_not_met")
    assert body["errors"] == [
        {
            "type": "secret",
            "key": "INFSH_TEST_MISSING_SECRET",
            "message": body["errors"][0]["message"],
            "action": {"type": "add_secret", "secrets": ["INFSH_TEST_MISSING_SECRET"]},
        }
    ]
    assert "INFSH_TEST_MISSING_SECRET" in body["detail"]


def test_failing_app_fails_the_task_with_its_message(client: httpx.Client) -> None:
    task = run_and_wait(client, {"app": "infsh/fail", "input": {"message": "boom: bad input"}})
    assert task["status"] == FAILED and task["error"] == "boom: bad input"
    assert "about to fail" in log_text(task) and "RuntimeError" in log_text(task)


def test_output_that_is_not_json_fails_the_task(client: httpx.Client) -> None:
    task = run_and_wait(client, {"app": "tests/nan", "input": {}})
    assert task["status"] == FAILED and "invalid output" in task["error"]


def test_invalid_input_and_unknown_function_fail_the_task(client: httpx.Client) -> None:
    task = run_and_wait(client, {"app": "infsh/slow", "input": {"seconds": "long"}})
    assert task["status"] == FAILED and "seconds" in task["error"]
    task = run_and_wait(client, {"app": "infsh/counter", "function": "nope", "input": {}})
    assert task["status"] == FAILED and "nope" in task["error"] and "process" in task["error"]


def test_functions_are_selected_by_field_or_ref_suffix(client: httpx.Client) -> None:
    body = {"app": "tests/greeter", "function": "shout", "input": {"name": "ada"}}
    assert run_and_wait(client, body)["output"]["greeting"] == "HELLO, ADA!"
    body = {"app": "tests/greeter@latest:shout", "input": {"name": "bob"}}
    task = run_and_wait(client, body)
    assert task["output"]["greeting"] == "HELLO, BOB!" and task["function"] == "shout"
    task = run_and_wait(client, {"app": "tests/greeter", "input": {"name": "cy"}})
    assert task["output"]["greeting"] == "Hello, cy!"
    assert task["output"]["worker_id"] == task["worker_id"]


def test_ndjson_stream_starts_with_a_snapshot_then_partial_updates(client: httpx.Client) -> None:
    created = run(client, {"app": "infsh/slow", "input": {"seconds": 0.6}})
    messages = stream_lines(client, created["id"])
    snapshot = messages[0]
    assert snapshot["id"] == created["id"] and "input" in snapshot and "status" in snapshot
    updates = [m for m in messages[1:] if "fields" in m]
    assert updates, messages
    for update in updates:
        assert (
            set(update["fields"]) <= set(update["data"]) and update["data"]["id"] == created["id"]
        )
    merged = dict(snapshot)
    for update in updates:
        merged.update(update["data"])
    assert merged["status"] == COMPLETED and merged["output"]["slept"] >= 0.5
    assert "sleeping 0.6 s" in log_text(merged)
    assert {"type": "heartbeat"} in messages
    assert messages[-1].get("data", {}).get("status") == COMPLETED


def test_sse_stream_carries_the_same_json_and_comment_heartbeats(client: httpx.Client) -> None:
    created = run(client, {"app": "infsh/slow", "input": {"seconds": 0.6}})
    headers = {"Accept": "text/event-stream"}
    with client.stream("GET", f"/tasks/{created['id']}/stream", headers=headers) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
    messages = stream_lines(client, created["id"], sse=True)
    assert messages[0]["id"] == created["id"]
    assert any(m.get("type") == "heartbeat" for m in messages)
    assert wait(client, created["id"])["status"] == COMPLETED


def test_stream_of_a_finished_task_is_one_snapshot(client: httpx.Client) -> None:
    task = run_and_wait(client, {"app": "infsh/echo", "input": {"n": 1}})
    messages = stream_lines(client, task["id"])
    assert len(messages) == 1 and messages[0]["status"] == COMPLETED
    assert messages[0]["output"] == {"n": 1}


def test_token_output_streams_as_delta_events(client: httpx.Client) -> None:
    text = "one two three four five"
    created = run(client, {"app": "infsh/stream", "input": {"text": text, "delay": 0.05}})
    messages = stream_lines(client, created["id"])
    deltas = [m for m in messages if m.get("event") == "delta"]
    assert deltas, messages
    pieces = [d["data"]["delta"]["response"] for d in deltas]
    assert [d["data"]["seq"] for d in deltas] == list(range(1, len(deltas) + 1))
    assert all(d["data"]["resource_id"] == created["id"] for d in deltas)
    final = wait(client, created["id"])
    assert final["output"]["response"] == text
    # Deltas seen from the snapshot on add up to the final text.
    snapshot_text = (messages[0].get("output") or {}).get("response") or ""
    assert snapshot_text + "".join(pieces) == text


def test_progress_yields_replace_the_output(client: httpx.Client) -> None:
    body = {"app": "infsh/stream", "input": {"text": "a b c d", "delay": 0.05, "progress": True}}
    created = run(client, body)
    messages = stream_lines(client, created["id"])
    outputs = [m["data"]["output"] for m in messages if "output" in m.get("fields", [])]
    progress = [o["progress"] for o in outputs if o]
    assert progress == sorted(progress) and progress[-1] == 1.0 and len(progress) >= 2
    assert wait(client, created["id"])["output"] == {"response": "a b c d", "progress": 1.0}


def test_cancel_reaches_the_app(client: httpx.Client) -> None:
    created = run(client, {"app": "infsh/slow", "input": {"seconds": 60}})
    wait_status(client, created["id"], RUNNING)
    response = client.post(f"/tasks/{created['id']}/cancel")
    assert response.status_code == 200 and response.json() == {"data": None, "messages": []}
    task = wait(client, created["id"])
    assert task["status"] == CANCELLED
    assert CANCELLING in [event["status"] for event in task["events"]]
    assert "cancelled" in log_text(task).splitlines()
    # Cancelling again, or a finished task, is a no-op.
    assert client.post(f"/tasks/{created['id']}/cancel").status_code == 200


def test_cancel_kills_an_app_that_ignores_it(client: httpx.Client) -> None:
    created = run(client, {"app": "infsh/slow", "input": {"seconds": 60, "blocking": True}})
    wait_status(client, created["id"], RUNNING)
    client.post(f"/tasks/{created['id']}/cancel", json={"force": True})
    assert wait(client, created["id"])["status"] == CANCELLED
    assert run_and_wait(client, {"app": "infsh/slow", "input": {"seconds": 0}})["status"] == 10


def test_cancel_of_a_task_still_starting(client: httpx.Client) -> None:
    created = run(client, {"app": "infsh/slow", "input": {"seconds": 30}, "setup": {"cold": 1}})
    client.post(f"/tasks/{created['id']}/cancel")
    assert wait(client, created["id"])["status"] == CANCELLED


def test_task_timeout_fails_a_slow_task() -> None:
    headers = {"Authorization": "Bearer inf_t"}
    with (
        LocalRuntime(task_timeout=1.0) as rt,
        httpx.Client(base_url=rt.base_url, headers=headers) as http,
    ):
        task = run_and_wait(http, {"app": "infsh/slow", "input": {"seconds": 30}})
        assert task["status"] == FAILED and "timed out" in task["error"]
        assert run_and_wait(http, {"app": "infsh/echo", "input": {}})["status"] == COMPLETED


def test_logs_endpoint_and_app_description(client: httpx.Client) -> None:
    task = run_and_wait(client, {"app": "infsh/slow", "input": {"seconds": 0}})
    logs = client.get(f"/tasks/{task['id']}/logs").json()["data"]
    assert logs["task_id"] == task["id"] and logs["status"] == COMPLETED
    assert "sleeping 0.0 s" in log_text(logs)
    app = client.get("/apps/infsh/counter").json()["data"]
    assert (app["namespace"], app["name"]) == ("infsh", "counter")
    version = app["version"]
    assert sorted(version["functions"]) == ["process", "run"]
    assert version["default_function"] == "run"
    assert list(version["output_schema"]["properties"])[:2] == ["count", "history"]
    assert version["setup_schema"]["properties"]["start"]["default"] == 0
    assert client.get(f"/apps/{app['id']}").json()["data"]["name"] == "counter"
    assert_problem(client.get("/apps/infsh/nothing"), 404, "not_found")


def test_deleted_tasks_are_gone_even_while_running(client: httpx.Client) -> None:
    done = run_and_wait(client, {"app": "infsh/echo", "input": {}})
    assert client.delete(f"/tasks/{done['id']}").json() == {"data": None, "messages": []}
    assert_problem(client.get(f"/tasks/{done['id']}"), 404, "not_found")
    running = run(client, {"app": "infsh/slow", "input": {"seconds": 30}})
    wait_status(client, running["id"], RUNNING)
    assert client.delete(f"/tasks/{running['id']}").status_code == 200
    assert_problem(client.get(f"/tasks/{running['id']}"), 404, "not_found")
