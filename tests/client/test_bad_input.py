"""Bad input is refused before any request is sent, with a message naming the field."""

from __future__ import annotations

import inspect
import io
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from inferencesh import (
    AsyncInference,
    Inference,
    InferenceError,
    InvalidInputError,
    MissingAPIKeyError,
    UploadFileOptions,
)

from .conftest import Recorder

HERE = Path(__file__).parent
APP = {"app": "a/b", "input": {}}


def run(**extra: Any) -> Callable[[Any], Any]:
    return lambda c: c.tasks.run({**APP, **extra})


def run_input(value: Any, **options: Any) -> Callable[[Any], Any]:
    return lambda c: c.tasks.run({"app": "a/b", "input": value}, **options)


def deep(n: int) -> Any:
    value: Any = "x"
    for _ in range(n):
        value = {"a": value}
    return value


CASES: list[tuple[str, Callable[[Any], Any], str]] = [
    ("session_timeout=0", run(session="new", session_timeout=0), "session_timeout"),
    ("session_timeout=3601", run(session="new", session_timeout=3601), "session_timeout"),
    ("session_timeout='5'", run(session="new", session_timeout="5"), "session_timeout"),
    ("session_timeout=5.0", run(session="new", session_timeout=5.0), "session_timeout"),
    ("session_timeout=True", run(session="new", session_timeout=True), "session_timeout"),
    (
        "session_timeout-existing-session",
        run(session="sess_1", session_timeout=60),
        'session="new"',
    ),
    ("session_timeout-without-session", run(session_timeout=60), 'session="new"'),
    ("session-empty", run(session=""), "session"),
    ("session-int", run(session=5), "session"),
    ("app-missing", lambda c: c.tasks.run({"input": {}}), "app"),
    ("app-empty", lambda c: c.tasks.run({"app": " ", "input": {}}), "app"),
    ("app-int", lambda c: c.tasks.run({"app": 123, "input": {}}), "app"),
    ("params-str", lambda c: c.tasks.run("a/b"), "params"),
    ("params-none", lambda c: c.tasks.run(None), "params"),
    ("function-empty", run(function=""), "function"),
    ("function-int", run(function=5), "function"),
    ("infra-int", run(infra=5), "infra"),
    ("workers-str", run(workers=5), "workers"),
    ("input-set", run_input({"tags": {1, 2}}), "input.tags"),
    ("input-object", run_input({"x": object()}), "input.x"),
    ("input-nan", run_input({"x": math.nan}), "input.x"),
    ("input-inf", run_input([1.0, math.inf]), "input[1]"),
    ("input-int-keys", run_input({1: "x"}), "keys must be strings"),
    ("input-bytes", run_input({"blob": b"abc"}), "input.blob"),
    ("input-too-deep", run_input(deep(100)), "deeper"),
    ("input-path-directory", run_input({"image": HERE}), "directory"),
    ("input-nested-path-directory", run_input({"images": [{"p": HERE}]}), "input.images[0].p"),
    ("input-path-missing", run_input({"image": HERE / "missing.png"}), "no such file"),
    (
        "input-path-upload-off",
        run_input({"image": Path(__file__)}, upload_files=False),
        "input.image",
    ),
    ("input-bad-data-uri", run_input({"image": "data:image/png;base64,@@@@"}), "base64"),
    ("max_reconnects=-1", lambda c: c.tasks.run(APP, max_reconnects=-1), "max_reconnects"),
    (
        "reconnect_delay_ms='1'",
        lambda c: c.tasks.run(APP, reconnect_delay_ms="1"),
        "reconnect_delay_ms",
    ),
    ("wait-timeout=0", lambda c: c.tasks.wait_for_completion("t1", timeout=0), "timeout"),
    ("wait-timeout=-1", lambda c: c.tasks.wait_for_completion("t1", timeout=-1), "timeout"),
    ("get-empty-id", lambda c: c.tasks.get(""), "task_id"),
    ("get-none-id", lambda c: c.tasks.get(None), "task_id"),
    ("get-path-id", lambda c: c.tasks.get("../admin"), "task_id"),
    ("cancel-empty-id", lambda c: c.tasks.cancel(""), "task_id"),
    ("stream-empty-id", lambda c: c.tasks.stream(""), "task_id"),
    ("sessions-get-empty", lambda c: c.sessions.get(""), "session_id"),
    ("sessions-end-none", lambda c: c.sessions.end(None), "session_id"),
    ("session-timeout-0", lambda c: c.session("a/b", session_timeout=0), "session_timeout"),
    ("session-timeout-str", lambda c: c.session("a/b", session_timeout="60"), "session_timeout"),
    ("session-app-empty", lambda c: c.session(""), "app"),
    ("session-function-empty", lambda c: c.session("a/b", function=""), "function"),
    ("upload-directory", lambda c: c.files.upload(HERE), "directory"),
    ("upload-directory-str", lambda c: c.files.upload(str(HERE)), "directory"),
    ("upload-missing", lambda c: c.files.upload("/no/such/file.png"), "no such file"),
    (
        "upload-base64-string-is-not-guessed",
        lambda c: c.files.upload("aGVsbG8gd29ybGQhISE="),
        "no such file",
    ),
    ("upload-int", lambda c: c.files.upload(123), "cannot upload"),
    ("upload-text-file-object", lambda c: c.files.upload(io.StringIO("x")), "binary"),
    ("upload-data-uri-no-comma", lambda c: c.files.upload("data:abc"), "data URI"),
]


def _ids() -> list[str]:
    return [name for name, _, _ in CASES]


@pytest.mark.parametrize(("name", "fn", "needle"), CASES, ids=_ids())
def test_refused_before_sending_sync(
    offline: Inference, recorder: Recorder, name: str, fn: Callable[[Any], Any], needle: str
) -> None:
    with pytest.raises(InvalidInputError) as info:
        fn(offline)
    assert needle in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, InferenceError)
    assert recorder.requests == []


@pytest.mark.parametrize(("name", "fn", "needle"), CASES, ids=_ids())
async def test_refused_before_sending_async(
    aoffline: AsyncInference, recorder: Recorder, name: str, fn: Callable[[Any], Any], needle: str
) -> None:
    with pytest.raises(InvalidInputError) as info:
        result = fn(aoffline)
        if inspect.isawaitable(result):
            await result
    assert needle in str(info.value)
    assert recorder.requests == []


def test_len_cases() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("cls", [Inference, AsyncInference])
def test_missing_key_is_a_clear_error(cls: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INFERENCE_API_KEY", raising=False)
    with pytest.raises(MissingAPIKeyError, match="INFERENCE_API_KEY"):
        cls()
    with pytest.raises(MissingAPIKeyError):
        cls(api_key="  ")


@pytest.mark.parametrize(
    "options",
    [{"base_url": "ftp://x"}, {"max_retries": -1}, {"max_retries": "3"}, {"max_concurrency": 0}],
)
def test_bad_client_options(options: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError):
        Inference(api_key="k", **options)


def test_key_and_base_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFERENCE_API_KEY", "inf_env")
    monkeypatch.setenv("INFERENCE_BASE_URL", "http://127.0.0.1:1234/")
    with Inference() as c:
        assert c.base_url == "http://127.0.0.1:1234"
    with Inference(base_url="http://127.0.0.1:5") as c:
        assert c.base_url == "http://127.0.0.1:5"
    monkeypatch.delenv("INFERENCE_BASE_URL")
    with Inference() as c:
        assert c.base_url == "https://api.inference.sh"


def test_upload_options_are_a_plain_value() -> None:
    options = UploadFileOptions(filename="a.bin", content_type="x/y", public=True)
    assert (options.filename, options.content_type, options.public) == ("a.bin", "x/y", True)
