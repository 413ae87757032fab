"""App authoring without a server: schemas, File, and how a runtime calls an app."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field

from inferencesh import BaseApp, BaseAppInput, BaseAppOutput, BaseAppSetup, File, Metadata
from inferencesh.app._dispatch import AppHandle, serialize_output


class Base(BaseAppInput):
    context_size: int = 4096
    temperature: float = 0.7


class Child(Base):
    prompt: str = Field(description="first on the form")
    temperature: float = 0.2
    seed: int | None = None


def test_schema_lists_own_fields_first_in_declaration_order() -> None:
    schema = Child.model_json_schema()
    assert list(schema["properties"]) == ["prompt", "seed", "context_size", "temperature"]
    assert schema["required"] == ["prompt"]
    assert schema["properties"]["temperature"]["default"] == 0.2


def test_schema_order_holds_for_nested_models() -> None:
    class Outer(BaseAppOutput):
        zeta: int
        child: Child
        alpha: int

    schema = Outer.model_json_schema()
    assert list(schema["properties"]) == ["zeta", "child", "alpha"]
    assert list(schema["$defs"]["Child"]["properties"])[0] == "prompt"


def test_file_from_path_fills_metadata(tmp_path: Path) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(b"\x89PNG....")
    file = File.from_path(path)
    assert file.exists() and file.is_resolved()
    assert (file.content_type, file.size, file.filename) == ("image/png", 8, "photo.png")
    assert file.path == str(path)


def test_file_keeps_explicit_metadata_and_refreshes(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("abc")
    file = File(path=str(path), content_type="text/x-custom", filename="custom.txt", size=1)
    assert (file.content_type, file.filename, file.size) == ("text/x-custom", "custom.txt", 1)
    path.write_text("abcdef")
    file.refresh_metadata()
    assert (file.content_type, file.filename, file.size) == ("text/plain", "notes.txt", 6)


def test_file_serialises_as_uri_path_and_metadata(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text("{}")

    class Out(BaseAppOutput):
        file: File

    dumped = Out(file=File(path=str(path))).model_dump(mode="json")
    assert dumped["file"] == {
        "path": str(path),
        "content_type": "application/json",
        "size": 2,
        "filename": "a.json",
    }
    assert json.loads(Out(file=File(path=str(path))).model_dump_json())["file"]["size"] == 2
    field = Out.model_json_schema()["properties"]["file"]
    assert (field["type"], field["format"]) == ("string", "file")


def test_file_decodes_a_data_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FILE_CACHE_DIR", str(tmp_path))
    payload = base64.b64encode(b"hello data").decode()
    file = File(uri=f"data:text/plain;base64,{payload}")
    assert file.exists()
    assert Path(str(file.path)).read_bytes() == b"hello data"
    assert (file.content_type, file.size) == ("text/plain", 10)
    assert File(uri="data:,a%20b").path is not None


def test_file_url_is_not_fetched_on_construction() -> None:
    file = File(uri="http://127.0.0.1:9/never-fetched.bin")
    assert not file.is_resolved() and not file.exists() and file.path is None
    assert file.to_dict() == {"uri": "http://127.0.0.1:9/never-fetched.bin"}


def test_file_validation_accepts_str_dict_and_none(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_text("x")

    class In(BaseAppInput):
        a: File
        b: File | None = None

    model = In.model_validate({"a": {"path": str(path)}, "b": ""})
    assert model.a.size == 1 and model.b is None
    assert In.model_validate({"a": str(path)}).a.filename == "x.txt"
    with pytest.raises(ValueError):
        File()


class Config(BaseAppSetup):
    model: str = "small"


class In(BaseAppInput):
    text: str


class Out(BaseAppOutput):
    text: str
    model: str = ""
    task_id: str | None = None


class Dispatched(BaseApp):
    model: str = ""

    async def setup(self, config: Config, metadata: Metadata) -> None:
        self.model = f"{config.model}@{metadata.worker_id}"

    async def run(self, input_data: In, metadata: Metadata) -> Out:
        return Out(text=input_data.text, model=self.model, task_id=metadata.task_id)

    async def upper(self, input_data: In) -> Out:
        return Out(text=input_data.text.upper())

    async def count(self, input_data: In) -> AsyncIterator[Out]:
        for index in range(3):
            yield Out(text=f"{input_data.text}{index}")

    async def silent(self, input_data: In) -> AsyncIterator[Out]:
        if input_data.text == "never":
            yield Out(text="")

    def helper(self) -> str:
        return "not a function"


class PlainSetup(BaseApp):
    calls: int = 0

    async def setup(self) -> None:
        self.calls += 1

    async def run(self, input_data: In) -> Out:
        return Out(text=str(self.calls))


def test_dispatch_finds_public_async_functions() -> None:
    handle = AppHandle(Dispatched)
    assert sorted(handle.functions) == ["count", "run", "silent", "upper"]
    assert handle.default_function == "run"
    assert handle.functions["count"].streaming
    assert handle.functions["run"].wants_metadata and not handle.functions["upper"].wants_metadata
    described = handle.describe()
    assert described["setup_schema"]["properties"]["model"]["default"] == "small"
    assert described["functions"]["upper"]["input_schema"]["required"] == ["text"]


async def test_dispatch_passes_setup_config_metadata_and_streams_progress() -> None:
    handle = AppHandle(Dispatched)
    await handle.setup({"model": "large"}, Metadata(worker_id="w1"))
    info, value = await handle.prepare("run", {"text": "hi"})

    async def ignore(item: Any) -> None:
        return None

    result = await handle.call(info, value, Metadata(task_id="t1"), ignore)
    assert serialize_output(result) == (
        {"text": "hi", "model": "large@w1", "task_id": "t1"},
        [],
    )
    seen: list[Any] = []

    async def collect(item: Any) -> None:
        seen.append(serialize_output(item)[0]["text"])

    info, value = await handle.prepare("count", {"text": "n"})
    last = await handle.call(info, value, Metadata(), collect)
    assert seen == ["n0", "n1", "n2"] and last.text == "n2"
    info, value = await handle.prepare("silent", {"text": "x"})
    with pytest.raises(RuntimeError, match="without yielding"):
        await handle.call(info, value, Metadata(), collect)


async def test_dispatch_setup_without_arguments_and_unknown_function() -> None:
    handle = AppHandle(PlainSetup)
    await handle.setup(None, Metadata())
    info, value = await handle.prepare("run", {"text": "x"})

    async def ignore(item: Any) -> None:
        return None

    assert (await handle.call(info, value, Metadata(), ignore)).text == "1"
    with pytest.raises(LookupError, match="nope"):
        await handle.prepare("nope", {})
    with pytest.raises(ValueError):
        await handle.prepare("run", {"wrong": 1})


def test_serialize_output_reports_local_files(tmp_path: Path) -> None:
    path = tmp_path / "o.txt"
    path.write_text("o")

    class FileOut(BaseModel):
        files: list[File]

    data, files = serialize_output(FileOut(files=[File(path=str(path))]))
    assert files == [str(path)] and data["files"][0]["filename"] == "o.txt"
    assert serialize_output({"plain": 1}) == ({"plain": 1}, [])


def test_download_respects_size_limit_and_event_loop(tmp_path: Path) -> None:
    # The download itself is exercised against the runtime's file server in test_local_files.
    file = File(uri="http://127.0.0.1:9/x")
    with pytest.raises(Exception):  # noqa: B017 - nothing listens on port 9
        asyncio.run(file.download(max_bytes=10))
    assert not file.exists()
