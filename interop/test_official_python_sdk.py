"""The official Python SDK (PyPI ``inferencesh``) against our local runtime: run, stream,
upload and sessions, blocking and async."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import KEY

from inferencesh import AsyncInference, Inference, TaskStatus, UploadFileOptions, parse_status


@pytest.fixture
def client(base_url: str) -> Inference:
    return Inference(api_key=KEY, base_url=base_url)


def test_run_waits_and_returns_the_output(client: Inference) -> None:
    result = client.run({"app": "infsh/echo", "input": {"message": "hello"}})
    assert parse_status(result["status"]) == TaskStatus.COMPLETED
    assert result["output"] == {"message": "hello"}


def test_run_without_waiting_then_wait_for_completion(client: Inference) -> None:
    task = client.run({"app": "infsh/echo", "input": {"n": 1}}, wait=False)
    assert task["id"] and parse_status(task["status"]) == TaskStatus.RECEIVED
    done = client.wait_for_completion(task["id"])
    assert done["output"] == {"n": 1}
    assert client.get_task(task["id"]).data["status"] == TaskStatus.COMPLETED


def test_stream_yields_updates_and_the_final_output(client: Inference) -> None:
    body = {"app": "infsh/stream", "input": {"text": "one two three", "delay": 0.02}}
    updates = list(client.run(body, stream=True))
    assert parse_status(updates[-1]["status"]) == TaskStatus.COMPLETED
    assert updates[-1]["output"]["response"] == "one two three"
    partial = [u["output"]["response"] for u in updates if u.get("_delta")]
    assert partial and partial[-1] == "one two three"


def test_a_failed_task_raises(client: Inference) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        client.run({"app": "infsh/fail", "input": {"message": "boom"}})


def test_cancel(client: Inference) -> None:
    task = client.run({"app": "infsh/slow", "input": {"seconds": 30}}, wait=False)
    client.cancel(task["id"])
    with pytest.raises(RuntimeError, match="cancelled"):
        client.wait_for_completion(task["id"])


def test_upload_bytes_and_use_the_file(client: Inference) -> None:
    options = UploadFileOptions(filename="note.txt", content_type="text/plain")
    record = client.upload_file(b"quiet words", options)
    assert record["uri"] and record["filename"] == "note.txt"
    result = client.run({"app": "infsh/file", "input": {"file": record["uri"]}})
    output = result["output"]["file"]
    assert output["filename"] == "note-upper.txt"
    assert requests.get(output["uri"], timeout=30).content == b"QUIET WORDS"


def test_a_local_path_in_the_input_is_uploaded(client: Inference, tmp_path: Path) -> None:
    source = tmp_path / "words.txt"
    source.write_text("small words")
    result = client.run({"app": "infsh/file", "input": {"file": str(source)}})
    assert result["output"]["size"] == 11
    assert requests.get(result["output"]["file"]["uri"], timeout=30).content == b"SMALL WORDS"


def test_sessions_keep_state_and_end(client: Inference) -> None:
    first = client.run({"app": "infsh/counter", "input": {"by": 2}, "session": "new"})
    session_id = first["session_id"]
    assert session_id and first["output"]["count"] == 2
    second = client.run({"app": "infsh/counter", "input": {"by": 3}, "session": session_id})
    assert second["output"]["count"] == 5 and second["output"]["pid"] == first["output"]["pid"]
    info: Any = client.sessions.get(session_id)
    assert info["status"] == "active" and info["call_count"] == 2
    assert session_id in [s["id"] for s in client.sessions.list()]
    assert client.sessions.keepalive(session_id)["id"] == session_id
    client.sessions.end(session_id)
    assert client.sessions.get(session_id)["status"] == "ended"
    with pytest.raises(Exception, match="ended"):
        client.run({"app": "infsh/counter", "input": {}, "session": session_id})


def test_the_session_handle(client: Inference) -> None:
    with client.session("infsh/counter", input={"by": 1}) as session:
        assert session.call("run", {"by": 4})["output"]["count"] == 5
        assert session.call("process", {"step": 7})["output"]["history"] == [7]
        session_id = session.session_id
    assert client.sessions.get(session_id)["status"] == "ended"


async def test_the_async_client(base_url: str, tmp_path: Path) -> None:
    client = AsyncInference(api_key=KEY, base_url=base_url)
    result = await client.run({"app": "infsh/echo", "input": {"a": 1}})
    assert result["output"] == {"a": 1}
    body = {"app": "infsh/stream", "input": {"text": "a b", "delay": 0.02}}
    stream = await client.run(body, stream=True)
    updates = [update async for update in stream]
    assert updates[-1]["output"]["response"] == "a b"
    record = await client.upload_file(b"async bytes", UploadFileOptions(filename="a.txt"))
    used = await client.run({"app": "infsh/file", "input": {"file": record["uri"]}})
    assert used["output"]["size"] == 11
    first = await client.run({"app": "infsh/counter", "input": {"by": 6}, "session": "new"})
    again = {"app": "infsh/counter", "input": {"by": 1}, "session": first["session_id"]}
    assert (await client.run(again))["output"]["count"] == 7
    await client.sessions.end(first["session_id"])
