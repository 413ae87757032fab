"""Every README snippet about tasks, files and sessions, run against the local runtime.

The snippets are the README's, with only the key, the base URL and the app names changed
(``your-app`` -> ``infsh/echo``, ``my-stateful-app`` -> ``infsh/counter``, both local built-ins).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from inferencesh import (
    AsyncInference,
    Inference,
    RequirementsNotMetError,
    TaskFailedError,
    TaskStatus,
    UploadFileOptions,
    async_inference,
    inference,
    is_message_ready,
    is_terminal_status,
    parse_status,
)

from .fault_server import FaultServer, Reply

ECHO = "infsh/echo"
STATEFUL = "infsh/counter"


def test_client_usage(runtime: Any, capsys: pytest.CaptureFixture[str]) -> None:
    client = inference(api_key="inf_local", base_url=runtime.base_url)

    result = client.tasks.run(
        {"app": ECHO, "input": {"key": "value"}, "infra": "cloud", "variant": "default"}
    )

    print(f"Task ID: {result.get('id')}")
    print(f"Output: {result.get('output')}")
    client.close()
    out = capsys.readouterr().out
    assert f"Task ID: {result.id}" in out and "Output: {'key': 'value'}" in out


def test_setup_parameters(client: Inference) -> None:
    result = client.tasks.run(
        {
            "app": ECHO,
            "setup": {"model": "schnell"},  # Setup parameters
            "input": {"prompt": "hello"},
        }
    )
    assert result["output"] == {"prompt": "hello"}


def test_run_options(client: Inference, capsys: pytest.CaptureFixture[str]) -> None:
    params = {"app": "infsh/stream", "input": {"text": "a b c"}}
    result = client.tasks.run(params)  # wait=True is default
    assert result["output"]["response"] == "a b c"

    task = client.tasks.run(params, wait=False)
    task_id = task["id"]  # Use this to check status later
    assert isinstance(task_id, str)

    for update in client.tasks.run(params, stream=True):
        status = parse_status(update.get("status"))
        print(f"Status: {status.name if status else 'unknown'}")
        if status == TaskStatus.COMPLETED:
            print(f"Output: {update.get('output')}")
    out = capsys.readouterr().out
    # The stream reports states from the moment it connects: on a loaded machine the task may
    # already be past RUNNING, so only the order of what was seen is fixed.
    seen = [TaskStatus[line.split(": ", 1)[1]] for line in out.splitlines() if "Status: " in line]
    assert seen[-1] == TaskStatus.COMPLETED
    assert seen == sorted(seen)
    assert "'response': 'a b c'" in out


def test_task_management(client: Inference, capsys: pytest.CaptureFixture[str]) -> None:
    task_id = client.tasks.run({"app": ECHO, "input": {"x": 1}}, wait=False)["id"]

    task = client.tasks.get(task_id)
    print(f"Status: {TaskStatus(task['status']).name}")

    slow_id = client.tasks.run({"app": "infsh/slow", "input": {"seconds": 30}}, wait=False)["id"]
    client.tasks.cancel(slow_id)
    with pytest.raises(TaskFailedError, match="cancelled"):
        client.tasks.wait_for_completion(slow_id)

    result = client.tasks.wait_for_completion(task_id)
    assert result["output"] == {"x": 1}

    with client.tasks.stream(task_id) as stream:
        for update in stream:
            if parse_status(update.get("status")) == TaskStatus.COMPLETED:
                print(f"Result: {update.get('output')}")
                break
            if is_terminal_status(update.get("status")):
                break

    print(f"Final result: {stream.result}")
    out = capsys.readouterr().out
    assert "Result: {'x': 1}" in out and "Final result: " in out
    assert stream.result is not None and stream.result.status == TaskStatus.COMPLETED


def test_task_status_values() -> None:
    assert [
        TaskStatus.RECEIVED,
        TaskStatus.QUEUED,
        TaskStatus.DISPATCHED,
        TaskStatus.PREPARING,
        TaskStatus.SERVING,
        TaskStatus.SETTING_UP,
        TaskStatus.RUNNING,
        TaskStatus.CANCELLING,
        TaskStatus.UPLOADING,
        TaskStatus.COMPLETED,
        TaskStatus.FAILED,
        TaskStatus.CANCELLED,
    ] == list(range(1, 13))


def test_status_helpers() -> None:
    update = {"status": "completed"}
    message = {"status": "queued"}
    status = parse_status(update.get("status"))  # TaskStatus or None
    assert status == TaskStatus.COMPLETED
    assert is_terminal_status(update.get("status"))
    assert not is_message_ready(message.get("status"))
    assert (
        is_message_ready("ready") and is_message_ready("failed") and is_message_ready("cancelled")
    )
    assert parse_status(None) is None
    assert (
        parse_status(7) == parse_status("running") == parse_status("RUNNING") == TaskStatus.RUNNING
    )
    assert parse_status(99) == parse_status("bogus") == TaskStatus.UNKNOWN
    assert not is_terminal_status(99) and not is_terminal_status("bogus")
    assert is_terminal_status(13) and not is_terminal_status(8)


def test_sessions(client: Inference, capsys: pytest.CaptureFixture[str]) -> None:
    result = client.tasks.run({"app": STATEFUL, "input": {"prompt": "hello"}, "session": "new"})

    session_id = result.get("session_id")
    print(f"Session ID: {session_id}")

    result2 = client.tasks.run(
        {"app": STATEFUL, "input": {"prompt": "remember what I said?"}, "session": session_id}
    )
    assert result2["output"]["count"] == 2 and result2["session_id"] == session_id
    assert f"Session ID: {session_id}" in capsys.readouterr().out
    client.sessions.end(session_id)


def test_session_context_manager(client: Inference, capsys: pytest.CaptureFixture[str]) -> None:
    with client.session(STATEFUL + "@abc123", input={"prompt": "hello"}) as session:
        session.call("process", {"step": 1})
        session.call("process", {"step": 2}, wait=False)  # same options as client.run()

        for update in session.call("run", {"prompt": "..."}, stream=True):
            print(update.get("status"))
        print(session.session_id)
        assert session.info()["status"] == "active"
        assert session.keepalive()["id"] == session.session_id
        final = session.call("process", {"step": 3})
        assert final["output"]["history"][-1] == 3
    assert client.sessions.get(session.session_id)["status"] == "ended"
    assert session.session_id in capsys.readouterr().out


def test_session_ends_when_the_block_raises(client: Inference) -> None:
    with pytest.raises(KeyError):
        with client.session(STATEFUL) as session:
            raise KeyError("boom")
    assert client.sessions.get(session.session_id).status == "ended"


def test_session_management(client: Inference) -> None:
    session_id = client.tasks.run({"app": STATEFUL, "input": {}, "session": "new"})["session_id"]
    info = client.sessions.get(session_id)
    sessions = client.sessions.list()
    client.sessions.keepalive(session_id)  # extend idle timeout without a task call
    client.sessions.end(session_id)
    assert info["id"] == session_id and any(s["id"] == session_id for s in sessions)


def test_custom_session_timeout(client: Inference) -> None:
    result = client.tasks.run(
        {
            "app": STATEFUL,
            "input": {"prompt": "hello"},
            "session": "new",
            "session_timeout": 300,  # 5 minutes
        }
    )
    info = client.sessions.get(result["session_id"])
    assert info.idle_timeout == 300
    client.sessions.end(result["session_id"])


def test_file_upload(client: Inference, tmp_path: Path) -> None:
    image = tmp_path / "image.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 10)

    file_obj = client.files.upload(str(image))
    print(f"URI: {file_obj['uri']}")
    assert file_obj["uri"] and file_obj.content_type == "image/png"

    file_obj = client.files.upload(
        b"raw bytes data",
        UploadFileOptions(filename="data.bin", content_type="application/octet-stream"),
    )
    assert file_obj["filename"] == "data.bin"

    file_obj = client.files.upload(
        str(image),
        UploadFileOptions(
            filename="custom_name.png",
            content_type="image/png",
            public=True,  # Make publicly accessible
        ),
    )
    assert file_obj["filename"] == "custom_name.png"


def test_files_in_task_input_are_uploaded(client: Inference, tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    result = client.tasks.run({"app": "infsh/file", "input": {"file": str(text)}})
    assert result["output"]["size"] == 5
    result = client.tasks.run({"app": "infsh/file", "input": {"file": text}})
    assert result["output"]["size"] == 5
    result = client.tasks.run(
        {"app": "infsh/file", "input": {"file": "data:text/plain;base64,aGk="}}
    )
    assert result["output"]["size"] == 2


def test_legacy_aliases(client: Inference, tmp_path: Path) -> None:
    assert client.run({"app": ECHO, "input": {"a": 1}})["output"] == {"a": 1}
    path = tmp_path / "x.txt"
    path.write_text("x")
    assert client.upload_file(path)["uri"]


def test_failed_task_raises_runtime_error(client: Inference) -> None:
    with pytest.raises(RuntimeError, match="always fails"):
        client.tasks.run({"app": "infsh/fail", "input": {}})


def test_requirements_errors_snippet() -> None:
    errors = [{"type": "secret", "key": "HF_TOKEN", "message": "add HF_TOKEN"}]
    with FaultServer(lambda r: Reply.problem(412, "requirements_not_met", "x", errors=errors)) as s:
        client = inference(api_key="inf_local", base_url=s.base_url)
        seen = []
        try:
            result = client.tasks.run({"app": "my-app", "input": {}})
        except RequirementsNotMetError as e:
            for err in e.errors:
                seen.append(f"{err.type}: {err.key} — {err.message}")
        client.close()
    assert seen == ["secret: HF_TOKEN — add HF_TOKEN"]
    assert "result" not in locals()


async def test_async_client(runtime: Any, capsys: pytest.CaptureFixture[str]) -> None:
    params = {"app": "infsh/stream", "input": {"text": "x y"}}

    client = async_inference(api_key="inf_local", base_url=runtime.base_url)

    result = await client.tasks.run(
        {"app": ECHO, "input": {"key": "value"}, "infra": "cloud", "variant": "default"}
    )
    print(f"Output: {result.get('output')}")

    task = await client.tasks.run(params, wait=False)

    async for update in await client.tasks.run(params, stream=True):
        if parse_status(update.get("status")) == TaskStatus.COMPLETED:
            print(f"Output: {update.get('output')}")

    task_id = task["id"]
    task = await client.tasks.get(task_id)
    result = await client.tasks.wait_for_completion(task_id)
    await client.tasks.cancel(task_id)  # already finished: cancelling is harmless

    async with client.tasks.stream(task_id) as stream:
        async for update in stream:
            print(f"Update: {update}")

    async with await client.session(STATEFUL + "@abc123", input={"start": True}) as session:
        await session.call("process", {"step": 1})
        async for update in await session.call("run", {"prompt": "..."}, stream=True):
            print(update.get("status"))
    await client.close()

    out = capsys.readouterr().out
    assert "Output: {'key': 'value'}" in out and "'response': 'x y'" in out
    assert result["output"]["response"] == "x y" and "Update: " in out
    assert stream.result is not None and stream.result.status == TaskStatus.COMPLETED


async def test_async_sessions_files_and_failures(aclient: AsyncInference, tmp_path: Path) -> None:
    async with await aclient.session(STATEFUL, session_timeout=120) as session:
        out = await session.call("process", {"step": 5})
        assert out["output"]["history"] == [5]
        assert (await session.info()).idle_timeout == 120
        await session.keepalive()
    assert (await aclient.sessions.get(session.session_id)).status == "ended"
    assert any(s.id == session.session_id for s in await aclient.sessions.list())

    path = tmp_path / "a.txt"
    path.write_text("abc")
    record = await aclient.files.upload(path, UploadFileOptions(filename="b.txt"))
    assert record["filename"] == "b.txt"
    result = await aclient.tasks.run({"app": "infsh/file", "input": {"file": path}})
    assert result.output["size"] == 3
    with pytest.raises(TaskFailedError):
        await aclient.run({"app": "infsh/fail", "input": {}})


def test_a_session_whose_first_call_fails_is_ended(client: Inference) -> None:
    with pytest.raises(TaskFailedError) as info:
        client.session("infsh/fail")
    session_id = info.value.task.session_id
    assert session_id
    assert client.sessions.get(session_id).status == "ended"
