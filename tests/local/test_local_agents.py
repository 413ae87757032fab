"""Agents over raw HTTP: chats, deltas, client tools, approvals, app and HTTP tools, stop."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from agent_helpers import (
    client_tool,
    config,
    ended,
    follow,
    messages,
    send,
    text_of,
    turn_over,
    wait_chat,
    waiting_call,
)
from local_helpers import assert_problem, run_and_wait

from inferencesh.local import LocalRuntime

TEMPLATES = """\
acme/helper:
  name: helper
  description: A helper from a file
  core_app: {ref: infsh/claude-sonnet-4@abc123}
  system_prompt: Help.
  tools:
    - name: lookup
      type: client
      client: {input_schema: {type: object, properties: {}}}
"""


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRuntime]:
    """A runtime that refuses key approvals, gives up on tools after 2 s, with file templates."""
    path = tmp_path_factory.mktemp("agents") / "agents.yaml"
    path.write_text(TEMPLATES)
    with LocalRuntime(
        allow_key_approvals=False, agent_tool_timeout=2.0, agents=path, heartbeat_interval=0.2
    ) as rt:
        yield rt


@pytest.fixture()
def strict_client(strict: LocalRuntime) -> Iterator[httpx.Client]:
    headers = {"Authorization": "Bearer inf_strict"}
    with httpx.Client(base_url=strict.base_url, headers=headers, timeout=30) as http:
        yield http


def test_a_message_without_tools_gets_the_scripted_reply(client: httpx.Client) -> None:
    sent = send(client, {"agent_config": config(), "input": {"text": "Hello there"}})
    user, assistant = sent["user_message"], sent["assistant_message"]
    assert user["role"] == "user" and user["status"] == "ready" and user["order"] == 0
    assert user["content"] == [{"type": "text", "text": "Hello there"}]
    assert assistant["role"] == "assistant" and assistant["status"] == "pending"
    assert assistant["chat_id"] == user["chat_id"] and assistant["order"] == 1
    done = wait_chat(client, assistant["chat_id"], turn_over)
    assert done["active_run"]["state"] == "completed" and done["output"] is None
    assert done["active_run"]["user_message_id"] == user["id"]
    final = messages(client, assistant["chat_id"])[-1]
    assert final["status"] == "ready" and text_of(final) == "You said: Hello there"


def test_a_multi_turn_chat_keeps_its_messages_in_order(client: httpx.Client) -> None:
    first = send(
        client, {"agent_config": config(), "input": {"text": "one"}, "context": {"a": "1"}}
    )
    chat_id = first["assistant_message"]["chat_id"]
    wait_chat(client, chat_id, turn_over)
    second = send(client, {"chat_id": chat_id, "input": {"text": "two"}, "context": {"b": "2"}})
    assert second["assistant_message"]["chat_id"] == chat_id
    assert second["user_message"]["order"] == 2
    done = wait_chat(client, chat_id, turn_over)
    assert done["context"] == {"a": "1", "b": "2"}
    listed = messages(client, chat_id)
    assert [m["order"] for m in listed] == [0, 1, 2, 3]
    assert [m["role"] for m in listed] == ["user", "assistant"] * 2
    assert [text_of(m) for m in listed] == ["one", "You said: one", "two", "You said: two"]
    assert all(m["status"] == "ready" for m in listed)


def test_deltas_reassemble_to_the_final_text(client: httpx.Client) -> None:
    first = send(client, {"agent_config": config(), "input": {"text": "warm up"}})
    chat_id = first["assistant_message"]["chat_id"]
    wait_chat(client, chat_id, turn_over)
    second: dict[str, Any] = {}

    def post_once_open(event: dict[str, Any]) -> None:
        # Like the JS client: open the stream first, then post, so no delta can be missed.
        if not second:
            text = "stream these few words"
            second.update(send(client, {"chat_id": chat_id, "input": {"text": text}}))

    def this_turn_ended(event: dict[str, Any]) -> bool:
        run = event["data"].get("active_run") or {}
        mine = run.get("user_message_id") == second["user_message"]["id"]
        return ended(event) and mine

    events = follow(client, chat_id, this_turn_ended, on_event=post_once_open)
    message_id = second["assistant_message"]["id"]
    deltas = [e["data"] for e in events if e["event"] == "delta"]
    assert deltas and all(d["resource_id"] == message_id for d in deltas)
    seqs = [d["seq"] for d in deltas]
    assert seqs == sorted(set(seqs))
    streamed = "".join(d["delta"]["response"] for d in deltas)
    assert streamed == "You said: stream these few words"
    final = [e["data"] for e in events if e["event"] == "chat_messages"][-1]
    assert final["id"] == message_id and final["status"] == "ready"
    assert text_of(final) == streamed


def test_a_client_tool_round_trip_over_the_stream(client: httpx.Client) -> None:
    tools = [client_tool("get_weather")]
    text = 'call get_weather {"city": "Paris"}\nand thanks'
    sent = send(client, {"agent_config": config(*tools), "input": {"text": text}})
    chat_id = sent["assistant_message"]["chat_id"]
    answered: list[str] = []

    def answer(event: dict[str, Any]) -> None:
        if event["event"] != "chat_messages":
            return
        for call in event["data"].get("tool_invocations") or []:
            if call["status"] == "awaiting_input" and call["id"] not in answered:
                assert call["type"] == "client"
                assert call["function"] == {"name": "get_weather", "arguments": {"city": "Paris"}}
                answered.append(call["id"])
                reply = client.post(f"/tools/{call['id']}", json={"result": '{"temp": 21}'})
                assert reply.status_code == 200 and reply.json()["data"] is None

    events = follow(client, chat_id, ended, on_event=answer)
    assert len(answered) == 1
    waiting = [
        e["data"]
        for e in events
        if e["event"] == "chats" and e["data"]["status"] == "awaiting_input"
    ]
    assert waiting and waiting[0]["active_run"]["state"] == "input_required"
    assert waiting[0]["pending_interrupts"][0]["reason"] == "client_tool"
    final = messages(client, chat_id)[-1]
    assert text_of(final) == 'get_weather returned {"temp": 21}. You said: and thanks'
    [call] = final["tool_invocations"]
    assert call["status"] == "completed" and call["result"] == '{"temp": 21}'
    again = client.post(f"/tools/{answered[0]}", json={"result": "late"})
    assert_problem(again, 409, "invalid_transition")


def test_an_approved_tool_runs_and_a_rejected_one_does_not(client: httpx.Client) -> None:
    tools = [client_tool("delete_files", approval=True), client_tool("drop_db", approval=True)]
    text = "call delete_files\ncall drop_db"
    sent = send(client, {"agent_config": config(*tools), "input": {"text": text}})
    chat_id = sent["assistant_message"]["chat_id"]
    pending = wait_chat(client, chat_id, waiting_call)
    assert pending["status"] == "awaiting_input"
    [interrupt] = pending["pending_interrupts"]
    assert interrupt["reason"] == "tool_approval" and interrupt["status"] == "pending"
    assert interrupt["meta"]["tool_name"] == "delete_files"
    call_id = interrupt["resource_id"]
    assert_problem(
        client.post(f"/tools/{call_id}", json={"result": "x"}), 409, "invalid_transition"
    )
    assert client.post(f"/tools/{call_id}/invoke").status_code == 200
    # Approved, the client tool now waits for its result like any other.
    waiting = wait_chat(client, chat_id, waiting_call)
    assert waiting["pending_interrupts"][0]["reason"] == "client_tool"
    assert client.post(f"/tools/{call_id}", json={"result": "deleted 3"}).status_code == 200
    second = wait_chat(
        client,
        chat_id,
        lambda c: waiting_call(c) and c["pending_interrupts"][0]["resource_id"] != call_id,
    )
    reject_id = second["pending_interrupts"][0]["resource_id"]
    rejected = client.post(f"/tools/{reject_id}/reject", json={"reason": "too risky"})
    assert rejected.status_code == 200
    wait_chat(client, chat_id, turn_over)
    final = messages(client, chat_id)[-1]
    assert text_of(final) == "delete_files returned deleted 3. drop_db was rejected: too risky."
    statuses = [(c["function"]["name"], c["status"]) for c in final["tool_invocations"]]
    assert statuses == [("delete_files", "completed"), ("drop_db", "cancelled")]


def test_approvals_with_an_api_key_get_403_when_the_runtime_says_so(
    strict_client: httpx.Client,
) -> None:
    tools = [client_tool("delete_files", approval=True)]
    sent = send(
        strict_client, {"agent_config": config(*tools), "input": {"text": "call delete_files"}}
    )
    chat_id = sent["assistant_message"]["chat_id"]
    call_id = wait_chat(strict_client, chat_id, waiting_call)["pending_interrupts"][0][
        "resource_id"
    ]
    assert_problem(strict_client.post(f"/tools/{call_id}/invoke"), 403, "requires_sign_in")
    refused = strict_client.post(f"/tools/{call_id}/reject", json={"reason": "no"})
    assert_problem(refused, 403, "requires_sign_in")
    assert strict_client.post(f"/chats/{chat_id}/stop").status_code == 200
    assert wait_chat(strict_client, chat_id, turn_over)["active_run"]["state"] == "canceled"


def test_an_unanswered_client_tool_times_out_and_fails_the_run(
    strict_client: httpx.Client,
) -> None:
    sent = send(
        strict_client,
        {"agent_config": config(client_tool("never")), "input": {"text": "call never"}},
    )
    chat_id = sent["assistant_message"]["chat_id"]
    done = wait_chat(strict_client, chat_id, turn_over, attempts=800)
    assert done["active_run"]["state"] == "failed"
    assert "timed out" in done["active_run"]["error"] and done["pending_interrupts"] == []
    final = messages(strict_client, chat_id)[-1]
    assert final["status"] == "failed" and final["tool_invocations"][0]["status"] == "failed"


def test_an_app_tool_runs_a_real_task(client: httpx.Client) -> None:
    echo = {
        "name": "echo",
        "type": "app",
        "description": "echo the input",
        "app": {
            "ref": "infsh/echo@latest",
            "input": {"source": "default"},
            "fixed_input": {"n": 1},
        },
    }
    text = 'call echo {"word": "hi", "n": 5}'
    sent = send(client, {"agent_config": config(echo), "input": {"text": text}})
    chat_id = sent["assistant_message"]["chat_id"]
    wait_chat(client, chat_id, turn_over, attempts=1200)
    [call] = messages(client, chat_id)[-1]["tool_invocations"]
    assert call["type"] == "app" and call["status"] == "completed"
    assert json.loads(call["result"]) == {"source": "default", "word": "hi", "n": 1}
    task = client.get(f"/tasks/{call['execution_id']}").json()["data"]
    assert task["status"] == 10 and task["input"] == {"source": "default", "word": "hi", "n": 1}


def test_a_failing_app_tool_is_reported_and_the_turn_goes_on(client: httpx.Client) -> None:
    fail = {"name": "boom", "type": "app", "app": {"ref": "infsh/fail"}}
    sent = send(client, {"agent_config": config(fail), "input": {"text": "call boom"}})
    chat_id = sent["assistant_message"]["chat_id"]
    done = wait_chat(client, chat_id, turn_over, attempts=1200)
    assert done["active_run"]["state"] == "completed"
    final = messages(client, chat_id)[-1]
    assert text_of(final) == "boom failed: this app always fails."
    assert final["tool_invocations"][0]["status"] == "failed"


class _Recorder(BaseHTTPRequestHandler):
    seen: list[dict[str, Any]] = []

    def do_GET(self) -> None:
        self.seen.append({"path": self.path, "tenant": self.headers.get("X-Tenant")})
        body = b'{"user": "found"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.seen.append(
            {
                "path": self.path,
                "body": json.loads(self.rfile.read(length)),
                "auth": self.headers.get("Authorization"),
                "hook": self.headers.get("X-Hook-Secret"),
            }
        )
        status = 500 if self.path == "/broken" else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture()
def loopback() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_http_tool_fills_context_into_url_and_headers(
    client: httpx.Client, loopback: str
) -> None:
    _Recorder.seen.clear()
    fetch = {
        "name": "fetch_user",
        "type": "http",
        "http": {
            "url": loopback + "/users/{{context.user_id}}",
            "method": "GET",
            "headers": {"X-Tenant": "{{context.tenant_id}}"},
            "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    }
    body = {
        "agent_config": config(fetch),
        "context": {"user_id": "42", "tenant_id": "acme"},
        "input": {"text": 'call fetch_user {"q": "x"}'},
    }
    chat_id = send(client, body)["assistant_message"]["chat_id"]
    wait_chat(client, chat_id, turn_over)
    assert _Recorder.seen == [{"path": "/users/42?q=x", "tenant": "acme"}]
    [call] = messages(client, chat_id)[-1]["tool_invocations"]
    assert call["status"] == "completed" and call["result"] == '{"user": "found"}'


def test_the_finish_tool_fills_chat_output_from_the_schema(client: httpx.Client) -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "count": {"type": "integer"},
            "ok": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "score": {"type": "number"},
            "extra": {"type": "object"},
        },
    }
    text = "Extract name=Ada count=3 ok=yes tags=a,b count_words=x"
    sent = send(client, {"agent_config": config(output_schema=schema), "input": {"text": text}})
    chat_id = sent["assistant_message"]["chat_id"]
    done = wait_chat(client, chat_id, turn_over)
    expected = {
        "name": "Ada",
        "count": 3,
        "ok": True,
        "tags": ["a", "b"],
        "score": 0.0,
        "extra": {},
    }
    assert done["output"] == expected and done["active_run"]["output"] == expected
    [finish] = messages(client, chat_id)[-1]["tool_invocations"]
    assert finish["type"] == "internal" and finish["function"]["name"] == "finish"
    assert finish["status"] == "completed" and finish["function"]["arguments"] == expected


def test_the_finish_internal_tool_without_a_schema_returns_the_pairs(client: httpx.Client) -> None:
    agent = config(internal_tools={"finish": True})
    sent = send(client, {"agent_config": agent, "input": {"text": "a=1 b=two"}})
    done = wait_chat(client, sent["assistant_message"]["chat_id"], turn_over)
    assert done["output"] == {"a": "1", "b": "two"}


def test_stop_cancels_the_turn_and_its_waiting_tool(client: httpx.Client) -> None:
    sent = send(
        client, {"agent_config": config(client_tool("slow")), "input": {"text": "call slow"}}
    )
    chat_id = sent["assistant_message"]["chat_id"]
    call_id = wait_chat(client, chat_id, waiting_call)["pending_interrupts"][0]["resource_id"]
    stopped = client.post(f"/chats/{chat_id}/stop")
    assert stopped.status_code == 200 and stopped.json() == {"data": None, "messages": []}
    done = wait_chat(client, chat_id, turn_over)
    assert done["active_run"]["state"] == "canceled" and done["pending_interrupts"] == []
    final = messages(client, chat_id)[-1]
    assert final["status"] == "cancelled" and final["tool_invocations"][0]["status"] == "cancelled"
    assert_problem(
        client.post(f"/tools/{call_id}", json={"result": "x"}), 409, "invalid_transition"
    )
    assert client.post(f"/chats/{chat_id}/stop").status_code == 200  # nothing left to stop


def test_a_reconnected_stream_starts_with_a_full_snapshot(client: httpx.Client) -> None:
    sent = send(client, {"agent_config": config(client_tool("ask")), "input": {"text": "call ask"}})
    chat_id = sent["assistant_message"]["chat_id"]
    wait_chat(client, chat_id, waiting_call)
    for sse in (False, True):
        snapshot = follow(client, chat_id, lambda e: e["event"] == "chats", sse=sse)
        # The chat comes last: a reader that stops at it has seen every message.
        assert [e["event"] for e in snapshot] == [
            "chat_messages",
            "chat_messages",
            "agent_runs",
            "chats",
        ]
        assert snapshot[3]["data"]["status"] == "awaiting_input"
        assert snapshot[1]["data"]["tool_invocations"][0]["status"] == "awaiting_input"
        assert snapshot[2]["data"]["state"] == "input_required"
    call_id = snapshot[1]["data"]["tool_invocations"][0]["id"]
    assert client.post(f"/tools/{call_id}", json={"result": "yes"}).status_code == 200
    wait_chat(client, chat_id, turn_over)
    after = follow(client, chat_id, lambda e: e["event"] == "chats")
    assert after[-1]["event"] == "chats" and turn_over(after[-1]["data"])
    assert after[-2]["event"] == "agent_runs" and after[-2]["data"]["state"] == "completed"
    assert text_of(after[1]["data"]) == "ask returned yes."


def test_attachments_are_stored_on_the_user_message(client: httpx.Client) -> None:
    files = [
        {
            "uri": "http://127.0.0.1/files/a/content/a.png",
            "filename": "a.png",
            "content_type": "image/png",
        },
        {
            "uri": "http://127.0.0.1/files/b/content/b.txt",
            "filename": "b.txt",
            "content_type": "text/plain",
        },
    ]
    body = {"agent_config": config(), "input": {"text": "look", "attachments": files}}
    sent = send(client, body)
    assert sent["user_message"]["content"] == [
        {"type": "text", "text": "look"},
        {"type": "image", "image": files[0]["uri"]},
        {"type": "file", "file": files[1]["uri"]},
    ]
    wait_chat(client, sent["assistant_message"]["chat_id"], turn_over)
    final = messages(client, sent["assistant_message"]["chat_id"])[-1]
    assert text_of(final) == "Attached: a.png, b.txt. You said: look"


def test_template_agents_come_from_a_file_and_from_the_api(strict_client: httpx.Client) -> None:
    agent = strict_client.get("/agents/acme/helper").json()["data"]
    assert agent["namespace"] == "acme" and agent["name"] == "helper"
    assert agent["version"]["system_prompt"] == "Help."
    assert [t["name"] for t in agent["version"]["tools"]] == ["lookup"]
    assert strict_client.get(f"/agents/{agent['id']}").json()["data"]["id"] == agent["id"]
    sent = send(strict_client, {"agent": "acme/helper@latest", "input": {"text": "hi"}})
    done = wait_chat(strict_client, sent["assistant_message"]["chat_id"], turn_over)
    assert done["agent_id"] == agent["id"] and done["agent_version_id"] == agent["version_id"]

    created = strict_client.post(
        "/agents",
        json={
            "namespace": "me",
            "name": "finisher",
            "version": config(internal_tools={"finish": True}),
        },
    )
    assert created.status_code == 200, created.text
    assert (
        strict_client.get("/agents/me/finisher").json()["data"]["id"]
        == created.json()["data"]["id"]
    )
    sent = send(strict_client, {"agent": "me/finisher", "input": {"text": "k=v"}})
    assert wait_chat(strict_client, sent["assistant_message"]["chat_id"], turn_over)["output"] == {
        "k": "v"
    }


def test_agent_errors_are_problem_documents(client: httpx.Client) -> None:
    assert_problem(
        client.post("/agents/run", json={"input": {"text": "x"}}), 400, "validation_error"
    )
    no_text = client.post("/agents/run", json={"agent_config": config(), "input": {}})
    assert_problem(no_text, 400, "validation_error")
    unknown = client.post("/agents/run", json={"agent": "nobody/nothing", "input": {"text": "x"}})
    assert_problem(unknown, 404, "not_found")
    other_chat = client.post("/agents/run", json={"chat_id": "missing", "input": {"text": "x"}})
    assert_problem(other_chat, 404, "not_found")
    nameless = config({"type": "client", "client": {}})
    assert_problem(
        client.post("/agents/run", json={"agent_config": nameless, "input": {"text": "x"}}),
        400,
        "validation_error",
    )
    assert_problem(client.get("/chats/missing"), 404, "not_found")
    assert_problem(client.get("/chats/missing/stream"), 404, "not_found")
    assert_problem(client.post("/tools/missing", json={"result": "x"}), 404, "not_found")
    assert_problem(client.post("/tools/missing/invoke"), 404, "not_found")
    assert_problem(client.get("/agents/nobody/nothing"), 404, "not_found")
    sent = send(client, {"agent_config": config(), "input": {"text": "x"}})
    chat_id = sent["assistant_message"]["chat_id"]
    bad_limit = client.get(f"/chats/{chat_id}/messages", params={"limit": "0"})
    assert_problem(bad_limit, 400, "validation_error")


def test_chat_status_is_the_cheap_poll(client: httpx.Client) -> None:
    sent = send(client, {"agent_config": config(), "input": {"text": "x"}})
    chat_id = sent["assistant_message"]["chat_id"]
    done = wait_chat(client, chat_id, turn_over)
    status = client.get(f"/chats/{chat_id}/status").json()["data"]
    assert status["id"] == chat_id and status["status"] == "idle"
    assert status["updated_at"] == done["updated_at"]


def test_messages_sent_to_a_busy_chat_are_queued(client: httpx.Client) -> None:
    sent = send(
        client, {"agent_config": config(client_tool("wait")), "input": {"text": "call wait"}}
    )
    chat_id = sent["assistant_message"]["chat_id"]
    call_id = wait_chat(client, chat_id, waiting_call)["pending_interrupts"][0]["resource_id"]
    queued = send(client, {"chat_id": chat_id, "input": {"text": "next"}})
    assert queued["user_message"]["status"] == "queued"
    assert client.post(f"/tools/{call_id}", json={"result": "ok"}).status_code == 200
    wait_chat(
        client,
        chat_id,
        lambda c: (
            turn_over(c) and c["active_run"]["user_message_id"] == queued["user_message"]["id"]
        ),
    )
    listed = messages(client, chat_id)
    assert [text_of(m) for m in listed] == [
        "call wait",
        "wait returned ok.",
        "next",
        "You said: next",
    ]
    assert all(m["status"] == "ready" for m in listed)


def test_the_runtime_stops_cleanly_with_a_waiting_chat() -> None:
    ended: list[str] = []
    reading = threading.Event()

    def read_stream(http: httpx.Client, chat_id: str) -> None:
        try:
            with http.stream("GET", f"/chats/{chat_id}/stream") as stream:
                for _ in stream.iter_lines():
                    reading.set()
            ended.append("closed")
        except httpx.HTTPError as exc:
            ended.append(type(exc).__name__)
        finally:
            reading.set()

    headers = {"Authorization": "Bearer inf_x"}
    with LocalRuntime() as rt, httpx.Client(base_url=rt.base_url, headers=headers) as http:
        sent = send(http, {"agent_config": config(client_tool("t")), "input": {"text": "call t"}})
        chat_id = sent["assistant_message"]["chat_id"]
        waiting = wait_chat(http, chat_id, waiting_call)
        assert waiting["pending_interrupts"][0]["reason"] == "client_tool"
        reader = threading.Thread(target=read_stream, args=(http, chat_id), daemon=True)
        reader.start()
        assert reading.wait(30) and not ended, ended  # the stream is open before the stop
        base_url = rt.base_url
    # stop() returned although the chat still waits for its tool's result; its stream was
    # ended by the server rather than left hanging, and nothing listens on the port any more.
    reader.join(30)
    assert not reader.is_alive() and ended, ended
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base_url}/chats/{chat_id}", headers=headers, timeout=10)


def test_chat_settings_allow_all_tools_and_post_messages(client: httpx.Client) -> None:
    tools = [client_tool("risky", approval=True)]
    sent = send(client, {"agent_config": config(*tools), "input": {"text": "hello"}})
    chat_id = sent["assistant_message"]["chat_id"]
    wait_chat(client, chat_id, turn_over)
    updated = client.post(f"/chats/{chat_id}", json={"name": "renamed", "allow_all_tools": True})
    assert updated.status_code == 200, updated.text
    assert updated.json()["data"]["name"] == "renamed"
    assert updated.json()["data"]["agent_data"]["allow_all_tools"] is True
    posted = client.post(f"/chats/{chat_id}/messages", json={"message": "call risky"})
    assert posted.status_code == 200 and posted.json()["data"]["role"] == "user"
    # No approval asked: the tool goes straight to waiting for the client's result.
    waiting = wait_chat(client, chat_id, waiting_call)
    [interrupt] = waiting["pending_interrupts"]
    assert interrupt["reason"] == "client_tool"
    result = client.post(f"/tools/{interrupt['resource_id']}", json={"result": "done"})
    assert result.status_code == 200
    wait_chat(client, chat_id, turn_over)
    assert text_of(messages(client, chat_id)[-1]) == "risky returned done."


def test_deleting_a_chat_ends_its_stream_and_forgets_it(client: httpx.Client) -> None:
    sent = send(client, {"agent_config": config(client_tool("t")), "input": {"text": "call t"}})
    chat_id = sent["assistant_message"]["chat_id"]
    wait_chat(client, chat_id, waiting_call)
    with client.stream("GET", f"/chats/{chat_id}/stream") as stream:
        assert client.delete(f"/chats/{chat_id}").status_code == 200
        lines = list(stream.iter_lines())  # ends: the server closes the stream
    assert json.loads(lines[0])["event"] == "chat_messages"  # the snapshot came first
    assert_problem(client.get(f"/chats/{chat_id}"), 404, "not_found")


def test_deleting_a_template_agent(strict_client: httpx.Client) -> None:
    body = {"namespace": "me", "name": "short-lived", "version": config()}
    agent = strict_client.post("/agents", json=body).json()["data"]
    assert strict_client.delete(f"/agents/{agent['id']}").status_code == 200
    assert_problem(strict_client.get("/agents/me/short-lived"), 404, "not_found")
    assert_problem(strict_client.delete(f"/agents/{agent['id']}"), 404, "not_found")


def test_the_scripted_model_also_runs_as_an_app(client: httpx.Client) -> None:
    body = {
        "app": "infsh/scripted-llm",
        "input": {
            "text": 'call add {"a": 1}\nsum n=2',
            "tools": ["add"],
            "output_schema": {"type": "object", "properties": {"n": {"type": "integer"}}},
        },
    }
    task = run_and_wait(client, body)
    assert task["status"] == 10, task["error"]
    assert task["output"] == {
        "response": "You said: sum n=2",
        "tool_calls": [{"name": "add", "arguments": {"a": 1}}],
        "output": {"n": 2},
    }


def test_interrupts_can_be_resolved_and_listed_per_run(client: httpx.Client) -> None:
    tools = [client_tool("a", approval=True), client_tool("b", approval=True)]
    sent = send(client, {"agent_config": config(*tools), "input": {"text": "call a\ncall b"}})
    chat_id = sent["assistant_message"]["chat_id"]
    first = wait_chat(client, chat_id, waiting_call)["pending_interrupts"][0]
    denied = client.post(f"/interrupts/{first['id']}/resolve", json={"decision": "deny"})
    assert denied.status_code == 200, denied.text
    assert denied.json()["data"]["resolution"] == "deny"
    assert denied.json()["data"]["status"] == "resolved"
    second = wait_chat(
        client,
        chat_id,
        lambda c: waiting_call(c) and c["pending_interrupts"][0]["id"] != first["id"],
    )["pending_interrupts"][0]
    bad = client.post(f"/interrupts/{second['id']}/resolve", json={"decision": "maybe"})
    assert_problem(bad, 400, "validation_error")
    assert client.post(f"/interrupts/{second['id']}/resolve", json={"decision": "allow"}).is_success
    third = wait_chat(
        client,
        chat_id,
        lambda c: waiting_call(c) and c["pending_interrupts"][0]["id"] != second["id"],
    )["pending_interrupts"][0]
    assert third["reason"] == "client_tool"
    assert client.post(f"/tools/{third['resource_id']}", json={"result": "ok"}).is_success
    done = wait_chat(client, chat_id, turn_over)
    listed = client.get(f"/agent-runs/{done['active_run']['id']}/interrupts").json()["data"]
    assert [(i["reason"], i["resolution"]) for i in listed] == [
        ("tool_approval", "deny"),
        ("tool_approval", "allow"),
        ("client_tool", None),
    ]
    assert text_of(messages(client, chat_id)[-1]) == "a was rejected: denied. b returned ok."
    assert_problem(client.get("/agent-runs/missing/interrupts"), 404, "not_found")


def test_post_http_hook_and_broken_tools(
    client: httpx.Client, loopback: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INFSH_TEST_TOKEN", "t0ken")
    _Recorder.seen.clear()
    notify = {
        "name": "notify",
        "type": "http",
        "http": {
            "url": loopback + "/notify",
            "auth": {"type": "bearer", "secret": "INFSH_TEST_TOKEN"},
        },
    }
    hook = {"name": "hook", "type": "hook", "hook": {"url": loopback + "/hook", "secret": "s3"}}
    broken = {"name": "broken", "type": "http", "http": {"url": loopback + "/broken"}}
    text = 'call notify {"to": "{{context.who}}"}\ncall hook {"x": 1}\ncall broken'
    body = {
        "agent_config": config(notify, hook, broken),
        "context": {"who": "ops"},
        "input": {"text": text},
    }
    chat_id = send(client, body)["assistant_message"]["chat_id"]
    wait_chat(client, chat_id, turn_over)
    assert _Recorder.seen == [
        {"path": "/notify", "body": {"to": "ops"}, "auth": "Bearer t0ken", "hook": None},
        {"path": "/hook", "body": {"x": 1}, "auth": None, "hook": "s3"},
        {"path": "/broken", "body": {}, "auth": None, "hook": None},
    ]
    final = messages(client, chat_id)[-1]
    assert text_of(final) == ("notify returned ok. hook returned ok. broken failed: HTTP 500: ok.")


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_get_chat_returns_the_history(runtime: LocalRuntime, mode: str) -> None:
    from inferencesh import async_inference, inference

    spec = {"core_app": {"ref": "infsh/scripted-llm"}, "system_prompt": "Be brief."}
    if mode == "sync":
        with inference(api_key="inf_local", base_url=runtime.base_url) as client:
            agent = client.agent(spec)
            agent.send_message("Hello!")
            agent.send_message("Tell me more")
            chat = agent.get_chat()
    else:
        aclient = async_inference(api_key="inf_local", base_url=runtime.base_url)
        agent_ = aclient.agent(spec)
        await agent_.send_message("Hello!")
        await agent_.send_message("Tell me more")
        chat = await agent_.get_chat()
        await aclient.close()
    texts = ["".join(part.text or "" for part in message.content) for message in chat.chat_messages]
    roles = [str(message.role.value) for message in chat.chat_messages]
    assert texts == ["Hello!", "You said: Hello!", "Tell me more", "You said: Tell me more"]
    assert roles == ["user", "assistant", "user", "assistant"]
