"""Sessions and warm workers over raw HTTP."""

from __future__ import annotations

import time
from typing import Any

import httpx
from local_helpers import assert_problem, run, run_and_wait

COMPLETED = 10


def _session_id(task: dict[str, Any]) -> str:
    assert task["status"] == COMPLETED, task
    session_id = task["session_id"]
    assert isinstance(session_id, str) and session_id
    return session_id


def test_session_keeps_state_and_one_worker(client: httpx.Client) -> None:
    first = run_and_wait(client, {"app": "infsh/counter", "input": {"by": 5}, "session": "new"})
    session_id = _session_id(first)
    base = first["output"]["count"]
    assert base == 5  # a new session starts on a fresh worker
    body: dict[str, Any] = {"app": "infsh/counter", "input": {"by": 2}, "session": session_id}
    second = run_and_wait(client, body)
    call = {"app": "infsh/counter", "function": "process", "session": session_id}
    third = run_and_wait(client, {**call, "input": {"step": 7}})
    fourth = run_and_wait(client, {**call, "input": {"step": 8}})
    assert second["output"]["count"] == base + 2
    assert fourth["output"]["history"] == [7, 8] and fourth["output"]["count"] == base + 2
    pids = {t["output"]["pid"] for t in (first, second, third, fourth)}
    assert len(pids) == 1
    assert {t["session_id"] for t in (second, third, fourth)} == {session_id}
    info = client.get(f"/sessions/{session_id}").json()["data"]
    assert info["status"] == "active" and info["call_count"] == 4
    assert info["idle_timeout"] == 60 and info["worker_id"] == first["worker_id"]
    assert info["task_id"] == first["id"] and info["last_call_at"]
    assert session_id in [s["id"] for s in client.get("/sessions").json()["data"]]
    assert client.delete(f"/sessions/{session_id}").json() == {"data": None, "messages": []}
    ended = client.get(f"/sessions/{session_id}").json()["data"]
    assert ended["status"] == "ended" and ended["ended_at"]
    response = client.post("/apps/run", json={**body, "input": {"by": 1}})
    assert_problem(response, 410, "SESSION_ENDED")
    assert_problem(client.post(f"/sessions/{session_id}/keepalive"), 410, "SESSION_ENDED")
    assert_problem(client.delete(f"/sessions/{session_id}"), 410, "SESSION_ENDED")


def test_unknown_session_is_404(client: httpx.Client) -> None:
    body = {"app": "infsh/counter", "input": {}, "session": "sess_unknown"}
    assert_problem(client.post("/apps/run", json=body), 404, "SESSION_NOT_FOUND")
    assert_problem(client.get("/sessions/sess_unknown"), 404, "SESSION_NOT_FOUND")
    assert_problem(client.post("/sessions/sess_unknown/keepalive"), 404, "SESSION_NOT_FOUND")
    assert_problem(client.delete("/sessions/sess_unknown"), 404, "SESSION_NOT_FOUND")


def test_session_of_another_app_is_a_conflict(client: httpx.Client) -> None:
    task = run_and_wait(client, {"app": "infsh/counter", "input": {}, "session": "new"})
    session_id = _session_id(task)
    body = {"app": "infsh/echo", "input": {}, "session": session_id}
    assert_problem(client.post("/apps/run", json=body), 409, "APP_MISMATCH")
    client.delete(f"/sessions/{session_id}")


def _wait_session_status(client: httpx.Client, session_id: str, status: str) -> dict[str, Any]:
    for _ in range(200):
        info: dict[str, Any] = client.get(f"/sessions/{session_id}").json()["data"]
        if info["status"] == status:
            return info
        time.sleep(0.05)
    raise AssertionError(f"session {session_id} never became {status}")


def test_idle_session_expires_and_releases_its_worker(client: httpx.Client) -> None:
    body = {"app": "infsh/counter", "input": {}, "session": "new", "session_timeout": 1}
    task = run_and_wait(client, body)
    session_id = _session_id(task)
    assert client.get(f"/sessions/{session_id}").json()["data"]["idle_timeout"] == 1
    info = _wait_session_status(client, session_id, "expired")
    assert info["ended_at"]
    again = {"app": "infsh/counter", "input": {}, "session": session_id}
    assert_problem(client.post("/apps/run", json=again), 410, "SESSION_EXPIRED")
    assert_problem(client.post(f"/sessions/{session_id}/keepalive"), 410, "SESSION_EXPIRED")


def test_keepalive_and_calls_push_the_expiry_back(client: httpx.Client) -> None:
    body = {"app": "infsh/counter", "input": {}, "session": "new", "session_timeout": 30}
    session_id = _session_id(run_and_wait(client, body))
    before = client.get(f"/sessions/{session_id}").json()["data"]["expires_at"]
    time.sleep(0.05)
    kept = client.post(f"/sessions/{session_id}/keepalive").json()["data"]
    assert kept["id"] == session_id and kept["expires_at"] > before
    run_and_wait(client, {"app": "infsh/counter", "input": {}, "session": session_id})
    after = client.get(f"/sessions/{session_id}").json()["data"]["expires_at"]
    assert after > kept["expires_at"]
    client.delete(f"/sessions/{session_id}")


def test_session_is_not_expired_while_a_call_runs(client: httpx.Client) -> None:
    body = {"app": "infsh/slow", "input": {"seconds": 0}, "session": "new", "session_timeout": 2}
    session_id = _session_id(run_and_wait(client, body))
    slow = run_and_wait(
        client, {"app": "infsh/slow", "input": {"seconds": 2.5}, "session": session_id}
    )
    assert slow["status"] == COMPLETED
    assert client.get(f"/sessions/{session_id}").json()["data"]["status"] == "active"
    client.delete(f"/sessions/{session_id}")


def test_workers_stay_warm_per_app_and_setup(client: httpx.Client) -> None:
    body = {"app": "infsh/counter", "input": {"by": 1}, "setup": {"start": 100}}
    first = run_and_wait(client, body)
    second = run_and_wait(client, body)
    assert first["output"]["pid"] == second["output"]["pid"]
    assert second["output"]["setup_calls"] == first["output"]["setup_calls"] == 1
    assert second["output"]["count"] == first["output"]["count"] + 1
    assert 6 in [e["status"] for e in first["events"]]  # SETTING_UP on the cold start
    assert 6 not in [e["status"] for e in second["events"]]
    other = run_and_wait(client, {**body, "setup": {"start": 500}})
    assert other["output"]["pid"] != first["output"]["pid"]
    assert other["output"]["count"] == 501


def test_session_calls_are_serialised(client: httpx.Client) -> None:
    body = {"app": "infsh/counter", "input": {"by": 1}, "session": "new"}
    session_id = _session_id(run_and_wait(client, body))
    created = [
        run(client, {"app": "infsh/counter", "input": {"by": 1}, "session": session_id})
        for _ in range(5)
    ]
    finished = [
        run_and_wait(client, {"app": "infsh/counter", "input": {"by": 0}, "session": session_id})
    ]
    counts = sorted(
        client.get(f"/tasks/{task['id']}").json()["data"]["output"]["count"] for task in created
    )
    assert counts == list(range(counts[0], counts[0] + 5))
    assert finished[0]["output"]["count"] == counts[-1]
    client.delete(f"/sessions/{session_id}")


def test_a_new_session_starts_on_a_fresh_worker(client: httpx.Client) -> None:
    setup = {"start": 700}
    warm = run_and_wait(client, {"app": "infsh/counter", "input": {"by": 3}, "setup": setup})
    assert warm["output"]["count"] == 703
    body = {"app": "infsh/counter", "input": {"by": 5}, "setup": setup, "session": "new"}
    first = run_and_wait(client, body)
    # Not the warm worker: nothing the earlier task left in memory carries over.
    assert first["output"]["pid"] != warm["output"]["pid"]
    assert first["output"]["count"] == 705 and first["output"]["setup_calls"] == 1
    client.delete(f"/sessions/{_session_id(first)}")
