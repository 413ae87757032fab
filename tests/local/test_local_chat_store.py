"""Chats live in the store like tasks: they survive a restart, and a crash fails the open turn."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from agent_helpers import client_tool, config, messages, send, turn_over, wait_chat, waiting_call

from inferencesh.local import LocalRuntime

HEADERS = {"Authorization": "Bearer inf_chat_store"}


def test_a_chat_survives_a_restart_and_goes_on(tmp_path: Path) -> None:
    body = {"agent_config": config(client_tool("ask")), "input": {"text": "call ask\nhi"}}
    with (
        LocalRuntime(data_dir=tmp_path, agent_token_delay=0.0) as rt,
        httpx.Client(base_url=rt.base_url, headers=HEADERS) as http,
    ):
        sent = send(http, body)
        chat_id = sent["user_message"]["chat_id"]
        waiting = wait_chat(http, chat_id, waiting_call)
        call_id = waiting["pending_interrupts"][0]["resource_id"]
        assert http.post(f"/tools/{call_id}", json={"result": "forty-two"}).status_code == 200
        before = wait_chat(http, chat_id, turn_over)
        run_id = before["active_run"]["id"]
        first = messages(http, chat_id)
    with (
        LocalRuntime(data_dir=tmp_path, agent_token_delay=0.0) as rt,
        httpx.Client(base_url=rt.base_url, headers=HEADERS) as http,
    ):
        after = http.get(f"/chats/{chat_id}").json()["data"]
        assert after["status"] == "idle" and after["active_run"]["id"] == run_id
        assert messages(http, chat_id) == first
        assert first[-1]["content"][0]["text"] == "ask returned forty-two. You said: hi"
        interrupts = http.get(f"/agent-runs/{run_id}/interrupts").json()["data"]
        assert [item["status"] for item in interrupts] == ["resolved"]
        listed = http.post("/chats/list", json={}).json()["data"]["items"]
        assert [item["id"] for item in listed] == [chat_id]
        send(http, {"chat_id": chat_id, "input": {"text": "again"}})
        wait_chat(http, chat_id, lambda c: turn_over(c) and c["active_run"]["id"] != run_id)
        texts = [m["content"][0].get("text") for m in messages(http, chat_id)]
        assert texts[-2:] == ["again", "You said: again"] and len(texts) == 4


def test_a_turn_cut_off_by_a_crash_has_failed_after_the_restart(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "inferencesh", "serve", "--port", "0"]
    command += ["--data-dir", str(tmp_path)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().rsplit(" ", 1)[1].strip()
        with httpx.Client(base_url=base_url, headers=HEADERS) as http:
            body = {"agent_config": config(client_tool("ask")), "input": {"text": "call ask"}}
            chat_id = send(http, body)["user_message"]["chat_id"]
            wait_chat(http, chat_id, waiting_call)
            # Listing writes every chat changed since the last write.
            assert http.post("/chats/list", json={}).status_code == 200
    finally:
        os.kill(server.pid, signal.SIGKILL)
        server.wait(timeout=60)
    with (
        LocalRuntime(data_dir=tmp_path) as rt,
        httpx.Client(base_url=rt.base_url, headers=HEADERS) as http,
    ):
        after = http.get(f"/chats/{chat_id}").json()["data"]
        assert after["status"] == "idle" and after["pending_interrupts"] == []
        run = after["active_run"]
        assert run["state"] == "failed" and "stopped" in run["error"]
        assistant = messages(http, chat_id)[-1]
        assert assistant["status"] == "failed"
        assert [call["status"] for call in assistant["tool_invocations"]] == ["cancelled"]
        interrupts = http.get(f"/agent-runs/{run['id']}/interrupts").json()["data"]
        assert [item["status"] for item in interrupts] == ["cancelled"]
