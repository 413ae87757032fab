"""The typed handle of a generated module, end to end against the local runtime, sync and async:
typed outputs, files uploaded, setup, sessions, streams, and input refused before sending."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, ConfigDict

from inferencesh import (
    AppOutputError,
    AsyncInference,
    AsyncTypedTaskStream,
    File,
    Inference,
    InvalidInputError,
    TaskFailedError,
    TaskStatus,
    TypedApp,
    TypedTask,
    TypedTaskStream,
    TypedTaskUpdate,
)
from inferencesh.local import LocalRuntime

from .conftest import Generate


class Anything(BaseModel):
    model_config = ConfigDict(extra="allow")


class Strict(BaseModel):
    image: str


def gallery_input(gallery: ModuleType, tmp_path: Path) -> Any:
    image = tmp_path / "note.txt"
    image.write_text("hello typed world")
    mask = tmp_path / "mask.bin"
    mask.write_bytes(b"12345")
    return gallery.Input(
        prompt="cat",
        image=File(str(image)),
        masks=[File(str(mask))],
        origin=gallery.Point(x=1.5, y=2),
        frames=[gallery.Frame(corner=gallery.Point(x=0), color=gallery.Color.BLUE)],
    )


def check_gallery_result(result: Any, gallery: ModuleType, runtime: LocalRuntime) -> None:
    assert isinstance(result, TypedTask) and result.status == TaskStatus.COMPLETED
    output = result.output
    assert isinstance(output, gallery.Output)
    assert output.note == "big:cat:4:fast"
    assert output.colors == [gallery.Color.RED, gallery.Color.BLUE]
    assert output.center == gallery.Point(x=1.5, y=2) and output.frames == 1
    assert output.masks == [5]
    assert isinstance(output.image, File) and output.image.uri is not None
    assert httpx.get(output.image.uri).text == "HELLO TYPED WORLD"
    # The files went up through the client's upload: the app saw runtime URLs, not our paths.
    assert result.input["image"].startswith(runtime.base_url)
    assert result.input["masks"][0].startswith(runtime.base_url)
    # Only what was set is sent: the app applied its own defaults.
    assert "steps" not in result.input and result.input["frames"] == [
        {"corner": {"x": 0.0}, "color": "blue"}
    ]
    assert result["output"] is output
    assert json.loads(json.dumps(result.to_dict()))["output"]["note"] == "big:cat:4:fast"


def test_run_returns_the_output_typed_and_uploads_files(
    client: Inference, gallery: ModuleType, runtime: LocalRuntime, tmp_path: Path
) -> None:
    setup = gallery.Setup(model="big")
    result = gallery.app.run(client, gallery_input(gallery, tmp_path), setup=setup)
    check_gallery_result(result, gallery, runtime)


async def test_async_run_returns_the_output_typed_and_uploads_files(
    aclient: AsyncInference, gallery: ModuleType, runtime: LocalRuntime, tmp_path: Path
) -> None:
    setup = gallery.Setup(model="big")
    result = await gallery.app.run(aclient, gallery_input(gallery, tmp_path), setup=setup)
    check_gallery_result(result, gallery, runtime)


def test_a_dict_input_and_setup_are_checked_against_the_models(
    client: Inference, gallery: ModuleType
) -> None:
    result = gallery.app.run(client, {"prompt": "d", "mode": "slow"}, setup={"model": "m"})
    assert result.output.note == "m:d:4:slow"


def test_other_run_fields_and_options_reach_tasks_run(
    client: Inference, gallery: ModuleType
) -> None:
    result = gallery.app.run(
        client, gallery.Input(prompt="p"), params={"metadata": {}}, max_reconnects=2
    )
    assert result.output.note == "small:p:4:fast"
    with pytest.raises(TypeError, match="not_an_option"):
        gallery.app.run(client, gallery.Input(prompt="p"), not_an_option=1)


def test_a_non_default_function_is_called_by_name(client: Inference, generate: Generate) -> None:
    outline = generate("tests/gallery:outline")
    result = outline.app.run(client, outline.Input(corner=outline.Point(x=4, label="c")))
    assert result.output == outline.Output(x=4, label="c") and result.function == "outline"


def test_a_session_keeps_the_worker_between_typed_runs(
    client: Inference, counter: ModuleType
) -> None:
    first = counter.app.run(
        client, counter.Input(by=2), setup=counter.Setup(start=40), session="new"
    )
    assert first.session_id
    try:
        second = counter.app.run(client, counter.Input(by=1), session=first.session_id)
    finally:
        client.sessions.end(first.session_id)
    assert (first.output.count, second.output.count) == (42, 43)
    assert second.output.pid == first.output.pid


def test_wait_false_gives_the_created_task_and_typed_reads_it_later(
    client: Inference, gallery: ModuleType
) -> None:
    created = gallery.app.run(client, gallery.Input(prompt="later"), wait=False)
    assert not isinstance(created, TypedTask)
    done = gallery.app.typed(client.tasks.wait_for_completion(created.id))
    assert isinstance(done.output, gallery.Output) and done.output.note == "small:later:4:fast"


def test_a_failed_task_raises_as_tasks_run_does(client: Inference, generate: Generate) -> None:
    fail = generate("infsh/fail")
    with pytest.raises(TaskFailedError, match="typed boom"):
        fail.app.run(client, fail.Input(message="typed boom"))


def test_an_output_that_does_not_match_is_a_typed_error(client: Inference) -> None:
    app: TypedApp[Anything, Strict, None] = TypedApp("infsh/echo", Anything, Strict)
    with pytest.raises(AppOutputError, match=r"output\.image: Field required") as caught:
        app.run(client, {"text": "hi"})
    assert caught.value.task.output == {"text": "hi"}
    assert caught.value.errors == ["output.image: Field required"]
    assert "inferencesh types infsh/echo" in str(caught.value)


def check_stream_updates(updates: list[Any], stream: Any, module: ModuleType) -> None:
    assert all(isinstance(update, TypedTaskUpdate) for update in updates)
    assert stream.result is updates[-1] and updates[-1].status == TaskStatus.COMPLETED
    outputs = [update.output for update in updates if update.output is not None]
    assert outputs and all(isinstance(output, module.Output) for output in outputs)
    assert outputs[-1].response == "one two three"
    assert outputs[-1].progress == 1.0


def test_a_stream_yields_typed_updates(client: Inference, generate: Generate) -> None:
    words = generate("infsh/stream")
    with words.app.run(
        client, words.Input(text="one two three", progress=True), stream=True
    ) as stream:
        assert isinstance(stream, TypedTaskStream)
        updates = list(stream)
    check_stream_updates(updates, stream, words)


async def test_an_async_stream_yields_typed_updates(
    aclient: AsyncInference, generate: Generate
) -> None:
    words = generate("infsh/stream")
    stream = await words.app.run(
        aclient, words.Input(text="one two three", progress=True), stream=True
    )
    assert isinstance(stream, AsyncTypedTaskStream)
    async with stream:
        updates = [update async for update in stream]
    check_stream_updates(updates, stream, words)


# Refused before anything is sent.


class Recorder:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(500, json={"detail": "no request was expected"})


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def offline(recorder: Recorder) -> Iterator[Inference]:
    http = httpx.Client(transport=httpx.MockTransport(recorder))
    with Inference(api_key="inf_test", base_url="http://127.0.0.1:9", http_client=http) as c:
        yield c
    http.close()


@pytest.fixture
async def aoffline(recorder: Recorder) -> Any:
    http = httpx.AsyncClient(transport=httpx.MockTransport(recorder))
    async with AsyncInference(
        api_key="inf_test", base_url="http://127.0.0.1:9", http_client=http
    ) as c:
        yield c
    await http.aclose()


def no_setup(g: ModuleType) -> TypedApp[Any, Any, None]:
    return TypedApp("a/b", g.Input, g.Output)


Refusal = Callable[[ModuleType, ModuleType, Any], Any]
# (case, call(gallery, counter, client), what the message says)
REFUSALS: list[tuple[str, Refusal, str]] = [
    (
        "out of range",
        lambda g, k, c: g.app.run(c, {"prompt": "x", "steps": 99}),
        r"input\.steps: .*50 \(got 99\)",
    ),
    ("misspelled", lambda g, k, c: g.app.run(c, {"promt": "x"}), r"input\.prompt: Field required"),
    (
        "unknown field",
        lambda g, k, c: g.app.run(c, {"prompt": "x", "sped": 1}),
        r"input\.sped: Extra inputs",
    ),
    (
        "bad enum",
        lambda g, k, c: g.app.run(c, {"prompt": "x", "color": "pink"}),
        r"input\.color: .*'red'.*\(got 'pink'\)",
    ),
    (
        "bad nested",
        lambda g, k, c: g.app.run(c, {"prompt": "x", "frames": [{"corner": {"y": 1}}]}),
        r"input\.frames\.0\.corner\.x: Field required",
    ),
    (
        "bad setup",
        lambda g, k, c: g.app.run(c, {"prompt": "x"}, setup={"scale": "big"}),
        r"invalid setup for tests/gallery: setup\.scale",
    ),
    (
        "other model",
        lambda g, k, c: g.app.run(c, k.Input()),
        r"must be a typed_\w+\.Input or a dict",
    ),
    ("not a dict", lambda g, k, c: g.app.run(c, ["prompt"]), r"must be Input or a dict, got list"),
    ("no setup", lambda g, k, c: no_setup(g).run(c, {"prompt": "x"}, setup={}), "takes no setup"),
    (
        "owned keys",
        lambda g, k, c: g.app.run(c, {"prompt": "x"}, params={"app": "x/y"}),
        "params must not set app",
    ),
    (
        "missing file",
        lambda g, k, c: g.app.run(c, {"prompt": "x", "image": "/nonexistent/a.png"}),
        r"input\.image: File has no existing local path",
    ),
]
CASES = [case[1:] for case in REFUSALS]
IDS = [case[0] for case in REFUSALS]


@pytest.mark.parametrize(("call", "message"), CASES, ids=IDS)
def test_bad_input_is_refused_before_sending(
    offline: Inference,
    recorder: Recorder,
    gallery: ModuleType,
    counter: ModuleType,
    call: Refusal,
    message: str,
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        call(gallery, counter, offline)
    assert recorder.requests == []


@pytest.mark.parametrize(("call", "message"), CASES, ids=IDS)
async def test_bad_input_is_refused_before_sending_async(
    aoffline: AsyncInference,
    recorder: Recorder,
    gallery: ModuleType,
    counter: ModuleType,
    call: Refusal,
    message: str,
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        await call(gallery, counter, aoffline)
    assert recorder.requests == []


def test_a_client_of_another_kind_is_refused(gallery: ModuleType) -> None:
    with pytest.raises(InvalidInputError, match="Inference or an AsyncInference, got dict"):
        gallery.app.run({}, gallery.Input(prompt="x"))
