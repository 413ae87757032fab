"""Uploads: sources, streaming PUT, progress, errors naming the file, automatic input upload."""

from __future__ import annotations

import asyncio
import io
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from inferencesh import (
    AsyncInference,
    FileUploadError,
    Inference,
    InvalidInputError,
    UploadFileOptions,
)

from .conftest import Recorder
from .drive import MODES, call
from .fault_server import FaultServer, Reply, Request
from .wire import created, file_record, v3


class Storage:
    """``POST /files`` plus a presigned-URL store on the same fault server."""

    def __init__(self, put_status: int = 200, gate_after: int = 0) -> None:
        self.records: list[dict[str, Any]] = []
        self.objects: dict[str, bytes] = {}
        self.put_headers: list[dict[str, str]] = []
        self.runs: list[Any] = []
        self.put_status = put_status
        self.gate = threading.Event() if gate_after else None
        self.gate_after = gate_after
        self.base = ""
        self.lock = threading.Lock()

    def __call__(self, request: Request) -> Reply:
        if request.path == "/files":
            partial = request.json()["files"][0]
            self.records.append(partial)
            n = len(self.records)
            return Reply.json(
                v3(
                    [
                        file_record(
                            f"{self.base}/bucket/{n}",
                            uri=f"https://files.example/{n}",
                            filename=partial.get("filename"),
                        )
                    ]
                )
            )
        if request.path.startswith("/bucket/"):
            self.objects[request.path] = request.body
            self.put_headers.append(request.headers)
            if self.gate is not None:
                if len(self.objects) >= self.gate_after:
                    self.gate.set()
                return Reply(status=self.put_status, gate=self.gate)
            return Reply(
                status=self.put_status,
                body=b"<Error>denied</Error>" if self.put_status >= 300 else b"",
            )
        if request.path == "/apps/run":
            self.runs.append(request.json())
            return Reply.json(v3(created()))
        return Reply(status=404)


def serve(storage: Storage) -> FaultServer:
    server = FaultServer(storage).__enter__()
    storage.base = server.base_url
    return server


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_upload_sources(mode: str, tmp_path: Path) -> None:
    storage = Storage()
    server = serve(storage)
    path = tmp_path / "photo.png"
    path.write_bytes(b"png" * 1000)
    try:
        call(mode, server.base_url, lambda c: c.files.upload(path))
        call(mode, server.base_url, lambda c: c.files.upload(str(path)))
        call(
            mode,
            server.base_url,
            lambda c: c.files.upload(b"raw", UploadFileOptions(filename="r.bin")),
        )
        call(
            mode,
            server.base_url,
            lambda c: c.files.upload(
                io.BytesIO(b"stream"), UploadFileOptions(content_type="text/x")
            ),
        )
        call(mode, server.base_url, lambda c: c.files.upload("data:text/plain;base64,aGVsbG8="))
        call(mode, server.base_url, lambda c: c.files.upload("data:,a%20b"))
        call(mode, server.base_url, lambda c: c.files.upload(path, UploadFileOptions(public=True)))
    finally:
        server.__exit__()
    bodies = [storage.objects[f"/bucket/{n}"] for n in range(1, 8)]
    assert bodies == [
        b"png" * 1000,
        b"png" * 1000,
        b"raw",
        b"stream",
        b"hello",
        b"a b",
        b"png" * 1000,
    ]
    types = [r["content_type"] for r in storage.records]
    assert types == [
        "image/png",
        "image/png",
        "application/octet-stream",
        "text/x",
        "text/plain",
        "text/plain",
        "image/png",
    ]
    assert [r["filename"] for r in storage.records][:3] == ["photo.png", "photo.png", "r.bin"]
    assert storage.records[0]["size"] == 3000 and storage.records[6]["public"] is True
    assert "public" not in storage.records[0]
    assert all("authorization" not in h for h in storage.put_headers)


def test_progress_callback_reports_every_byte(mode: str, tmp_path: Path) -> None:
    storage = Storage()
    server = serve(storage)
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * (3 * 1024 * 1024 + 5))
    seen: list[tuple[int, int | None]] = []
    try:
        call(
            mode,
            server.base_url,
            lambda c: c.files.upload(path, progress=lambda s, t: seen.append((s, t))),
        )
    finally:
        server.__exit__()
    assert seen[-1] == (path.stat().st_size, path.stat().st_size)
    assert len(seen) == 4 and [s for s, _ in seen] == sorted(s for s, _ in seen)
    assert storage.objects["/bucket/1"] == path.read_bytes()


def test_storage_refusal_names_the_file(mode: str, tmp_path: Path) -> None:
    storage = Storage(put_status=403)
    server = serve(storage)
    path = tmp_path / "secret-plans.pdf"
    path.write_bytes(b"%PDF")
    try:
        with pytest.raises(FileUploadError) as info:
            call(mode, server.base_url, lambda c: c.files.upload(path))
    finally:
        server.__exit__()
    assert "secret-plans.pdf" in str(info.value) and "403" in str(info.value)
    assert info.value.filename == str(path)


def test_task_input_files_are_uploaded_concurrently_and_replaced(mode: str, tmp_path: Path) -> None:
    storage = Storage(gate_after=3)  # each PUT waits until three are in flight
    server = serve(storage)
    paths = []
    for name in "abc":
        p = tmp_path / f"{name}.txt"
        p.write_text(name * 3)
        paths.append(p)
    params = {
        "app": "a/b",
        "input": {
            "first": paths[0],
            "nested": [{"second": str(paths[1])}, "data:text/plain;base64,Y2Nj"],
            "again": paths[0],
            "directory": str(tmp_path),
            "text": "not a file",
            "base64ish": "aGVsbG8gd29ybGQhISE=",
        },
    }
    try:
        call(mode, server.base_url, lambda c: c.tasks.run(params, wait=False))
    finally:
        server.__exit__()
    sent = storage.runs[0]["input"]
    uris = {f"https://files.example/{n}" for n in (1, 2, 3)}
    assert {sent["first"], sent["nested"][0]["second"], sent["nested"][1]} == uris
    assert sent["again"] == sent["first"]  # the same file is uploaded once
    assert sent["directory"] == str(tmp_path) and sent["text"] == "not a file"
    assert sent["base64ish"] == "aGVsbG8gd29ybGQhISE="
    assert sorted(storage.objects.values()) == [b"aaa", b"bbb", b"ccc"]


def test_upload_files_false_sends_strings_as_they_are(mode: str, tmp_path: Path) -> None:
    storage = Storage()
    server = serve(storage)
    path = tmp_path / "a.txt"
    path.write_text("a")
    try:
        call(
            mode,
            server.base_url,
            lambda c: c.tasks.run(
                {"app": "a/b", "input": {"p": str(path), "d": "data:,x"}},
                wait=False,
                upload_files=False,
            ),
        )
    finally:
        server.__exit__()
    assert storage.records == []
    assert storage.runs[0]["input"] == {"p": str(path), "d": "data:,x"}


def test_app_file_objects_are_uploaded(mode: str, tmp_path: Path) -> None:
    from inferencesh.app import File

    storage = Storage()
    server = serve(storage)
    path = tmp_path / "img.png"
    path.write_bytes(b"png")
    try:
        call(
            mode,
            server.base_url,
            lambda c: c.tasks.run(
                {
                    "app": "a/b",
                    "input": {
                        "image": File(path=str(path)),
                        "remote": File(uri="https://x.example/a.png"),
                    },
                },
                wait=False,
            ),
        )
    finally:
        server.__exit__()
    sent = storage.runs[0]["input"]
    assert sent["image"] == "https://files.example/1"
    assert sent["remote"] == "https://x.example/a.png"
    assert storage.records[0]["filename"] == "img.png"


def test_progress_true_uses_tqdm_when_installed(
    mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys
    import types

    bars: list[Any] = []

    class FakeBar:
        def __init__(self, **options: Any) -> None:
            self.options, self.total, self.closed = options, 0, False
            bars.append(self)

        def update(self, n: int) -> None:
            self.total += n

        def close(self) -> None:
            self.closed = True

    monkeypatch.setitem(sys.modules, "tqdm", types.SimpleNamespace(tqdm=FakeBar))
    storage = Storage()
    server = serve(storage)
    path = tmp_path / "a.bin"
    path.write_bytes(b"x" * 2_500_000)
    try:
        call(mode, server.base_url, lambda c: c.files.upload(path, progress=True))
    finally:
        server.__exit__()
    (bar,) = bars
    assert bar.total == 2_500_000 and bar.closed and bar.options["desc"] == "a.bin"


def test_base64_text_is_uploaded_when_the_caller_says_so(mode: str) -> None:
    storage = Storage()
    server = serve(storage)
    try:
        call(mode, server.base_url, lambda c: c.files.upload("aGVsbG8=", encoding="base64"))
        call(
            mode,
            server.base_url,
            lambda c: c.upload_file("aGk", {"filename": "hi.txt"}, encoding="base64"),
        )
        # URL-safe alphabet, line breaks, and bytes of base64 text.
        call(mode, server.base_url, lambda c: c.files.upload("-_8\n=", encoding="base64"))
        call(
            mode,
            server.base_url,
            lambda c: c.upload_file(
                b"eA==", UploadFileOptions(filename="x.png"), encoding="base64"
            ),
        )
    finally:
        server.__exit__()
    assert [storage.objects[f"/bucket/{n}"] for n in range(1, 5)] == [
        b"hello",
        b"hi",
        b"\xfb\xff",
        b"x",
    ]
    assert [(r["filename"], r["content_type"], r["size"]) for r in storage.records] == [
        ("file", "application/octet-stream", 5),
        ("hi.txt", "text/plain", 2),
        ("file", "application/octet-stream", 2),
        ("x.png", "image/png", 1),
    ]


def test_options_may_be_the_documented_dict(mode: str, tmp_path: Path) -> None:
    storage = Storage()
    server = serve(storage)
    path = tmp_path / "photo.png"
    path.write_bytes(b"png")
    try:
        call(
            mode,
            server.base_url,
            lambda c: c.files.upload(
                b"raw", {"filename": "data.bin", "content_type": "text/x", "public": True}
            ),
        )
        call(mode, server.base_url, lambda c: c.files.upload(path, {"filename": "custom.png"}))
        call(mode, server.base_url, lambda c: c.upload_file(b"notes", {"filename": "n.txt"}))
        call(mode, server.base_url, lambda c: c.files.upload(b"x", {}))
    finally:
        server.__exit__()
    assert [(r["filename"], r["content_type"]) for r in storage.records] == [
        ("data.bin", "text/x"),
        ("custom.png", "image/png"),
        ("n.txt", "text/plain"),
        ("file", "application/octet-stream"),
    ]
    assert storage.records[0]["public"] is True
    assert all("public" not in r for r in storage.records[1:])


BAD_UPLOADS: list[tuple[str, Any, str]] = [
    (
        "base64-not-guessed",
        lambda c: c.files.upload("aGVsbG8gd29ybGQhISE="),
        'no such file; if it is base64 data, pass encoding="base64"',
    ),
    (
        "long-base64-cut-short",
        lambda c: c.files.upload("QUFB" * 5000),
        "... (20000 characters): no such file",
    ),
    ("missing-path-no-hint", lambda c: c.files.upload("photo.png"), "'photo.png': no such file"),
    (
        "bad-base64",
        lambda c: c.files.upload("not base64!", encoding="base64"),
        "'not base64!' is not valid base64",
    ),
    (
        "data-uri-with-encoding",
        lambda c: c.files.upload("data:,x", encoding="base64"),
        "a data: URI carries its own encoding",
    ),
    (
        "path-with-encoding",
        lambda c: c.files.upload(Path("a.txt"), encoding="base64"),
        "applies to a str or bytes",
    ),
    (
        "binary-bytes-with-encoding",
        lambda c: c.files.upload(b"\xff\xfe", encoding="base64"),
        "not base64 text",
    ),
    (
        "unknown-encoding",
        lambda c: c.files.upload(b"x", encoding="hex"),
        'encoding must be "base64"',
    ),
    (
        "unknown-option-keys",
        lambda c: c.files.upload(b"x", {"filename": "a", "contentType": "x/y", "mode": 1}),
        "unknown keys 'contentType', 'mode'; allowed: filename, content_type, public "
        "('contentType' is 'content_type' here)",
    ),
    (
        "alias-unknown-option-key",
        lambda c: c.upload_file(b"x", {"name": "a.txt"}),
        "unknown key 'name'",
    ),
    (
        "option-public-not-bool",
        lambda c: c.files.upload(b"x", {"public": "yes"}),
        "public must be True or False, got 'yes'",
    ),
    (
        "option-filename-not-str",
        lambda c: c.files.upload(b"x", {"filename": 5}),
        "filename must be a non-empty string",
    ),
    (
        "option-content-type-line-break",
        lambda c: c.files.upload(b"x", UploadFileOptions(content_type="text/plain\r\nX: y")),
        "content_type must be a non-empty string without line breaks",
    ),
    (
        "options-not-a-dict",
        lambda c: c.files.upload(b"x", "a.txt"),
        "upload options must be an UploadFileOptions or a dict",
    ),
]


@pytest.mark.parametrize(
    ("name", "fn", "needle"), BAD_UPLOADS, ids=[name for name, _, _ in BAD_UPLOADS]
)
def test_bad_uploads_are_refused_before_sending(
    mode: str, recorder: Recorder, offline: Inference, name: str, fn: Any, needle: str
) -> None:
    async def in_async() -> None:
        http = httpx.AsyncClient(transport=httpx.MockTransport(recorder))
        async with AsyncInference(
            api_key="inf_test", base_url="http://127.0.0.1:9", http_client=http
        ) as client:
            await fn(client)
        await http.aclose()

    with pytest.raises(InvalidInputError) as info:
        if mode == "sync":
            fn(offline)
        else:
            asyncio.run(in_async())
    assert needle in str(info.value)
    assert recorder.requests == []
