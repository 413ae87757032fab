"""Files over raw HTTP: records, presigned-style uploads, downloads, and File in app I/O."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from local_helpers import assert_problem, run_and_wait

from inferencesh import File
from inferencesh.app import FileTooLargeError
from inferencesh.local import LocalRuntime


def _create(client: httpx.Client, **entry: Any) -> dict[str, Any]:
    response = client.post("/files", json={"files": [{"uri": "", **entry}]})
    assert response.status_code == 200, response.text
    records: list[dict[str, Any]] = response.json()["data"]
    assert len(records) == 1
    return records[0]


def _upload(record: dict[str, Any], content: bytes | Iterator[bytes], kind: str) -> httpx.Response:
    # No Authorization header: upload URLs are presigned-style.
    return httpx.put(record["upload_url"], content=content, headers={"Content-Type": kind})


def test_upload_then_download_round_trips(client: httpx.Client) -> None:
    record = _create(client, filename="notes.txt", content_type="text/plain", size=11)
    assert record["upload_url"].startswith(client.base_url.join("/files/").__str__())
    path = httpx.URL(record["uri"]).path
    assert path.endswith("/notes.txt") and record["id"] and record["filename"] == "notes.txt"
    assert _upload(record, b"hello files", "text/plain").status_code == 200
    download = httpx.get(record["uri"])
    assert download.status_code == 200 and download.content == b"hello files"
    assert download.headers["content-type"].startswith("text/plain")
    stored = client.get(f"/files/{record['id']}").json()["data"]
    assert stored["size"] == 11 and httpx.URL(stored["uri"]).path == path
    assert client.delete(f"/files/{record['id']}").status_code == 200
    assert_problem(client.get(f"/files/{record['id']}"), 404, "not_found")
    assert httpx.get(record["uri"]).status_code == 404


def test_large_upload_is_streamed_to_disk(client: httpx.Client) -> None:
    chunk = bytes(range(256)) * 4096  # 1 MiB
    digest = hashlib.sha256()

    def body() -> Iterator[bytes]:
        for _ in range(24):
            digest.update(chunk)
            yield chunk

    record = _create(client, filename="big.bin", content_type="application/octet-stream")
    assert _upload(record, body(), "application/octet-stream").status_code == 200
    assert client.get(f"/files/{record['id']}").json()["data"]["size"] == 24 * len(chunk)
    received = hashlib.sha256()
    with httpx.stream("GET", record["uri"]) as response:
        for part in response.iter_bytes():
            received.update(part)
    assert received.hexdigest() == digest.hexdigest()


def test_uploads_over_the_limit_are_refused(runtime: LocalRuntime, client: httpx.Client) -> None:
    assert runtime.engine is not None
    config = runtime.engine.config
    limit, config.max_upload_bytes = config.max_upload_bytes, 1000
    try:
        record = _create(client, filename="a.bin")
        response = _upload(record, iter([b"x" * 600, b"x" * 600]), "application/octet-stream")
        assert_problem(response, 413, "payload_too_large")
        assert httpx.get(record["uri"]).status_code == 404
        response = client.post("/files", json={"files": [{"filename": "b.bin", "size": 5000}]})
        assert_problem(response, 413, "payload_too_large")
    finally:
        config.max_upload_bytes = limit


@pytest.mark.parametrize("name", ["../evil.txt", "a/b.txt", "..", "c\\d.txt", "nul\x00.txt"])
def test_path_traversal_names_are_refused(client: httpx.Client, name: str) -> None:
    response = client.post("/files", json={"files": [{"uri": "", "filename": name}]})
    assert_problem(response, 400, "validation_error")


def test_upload_urls_need_their_token(client: httpx.Client, runtime: LocalRuntime) -> None:
    record = _create(client, filename="t.txt")
    forged = record["upload_url"].rsplit("/", 1)[0] + "/not-the-token"
    assert_problem(httpx.put(forged, content=b"x"), 403, "forbidden")
    traversal = f"{runtime.base_url}/files/..%2F..%2Fetc/upload/x"
    assert httpx.put(traversal, content=b"x").status_code in (401, 404)
    assert_problem(client.get("/files/../../etc/passwd"), 404, "not_found")
    assert_problem(client.post("/files", json={"files": []}), 400, "validation_error")


def test_file_app_takes_and_returns_a_file(client: httpx.Client) -> None:
    record = _create(client, filename="poem.txt", content_type="text/plain")
    _upload(record, b"roses are red\n", "text/plain")
    task = run_and_wait(client, {"app": "infsh/file", "input": {"file": record["uri"]}})
    assert task["status"] == 10, task["error"]
    output = task["output"]
    assert 9 in [event["status"] for event in task["events"]]  # UPLOADING
    assert output["file"]["filename"] == "poem-upper.txt" and output["size"] == 14
    assert output["file"]["content_type"] == "text/plain"
    content = httpx.get(output["file"]["uri"]).content
    assert content == b"ROSES ARE RED\n"
    assert output["sha256"] == hashlib.sha256(content).hexdigest()


def test_file_app_accepts_a_data_uri(client: httpx.Client) -> None:
    body = {"app": "infsh/file", "input": {"file": "data:text/plain,abc", "suffix": ".out"}}
    task = run_and_wait(client, body)
    assert task["status"] == 10, task["error"]
    assert httpx.get(task["output"]["file"]["uri"]).content == b"ABC"


def test_file_download_is_cached_and_size_limited(
    client: httpx.Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FILE_CACHE_DIR", str(tmp_path))
    record = _create(client, filename="cache.txt", content_type="text/plain")
    _upload(record, b"0123456789", "text/plain")

    async def fetch() -> tuple[str, str]:
        first, second = File(uri=record["uri"]), File(uri=record["uri"])
        paths = await asyncio.gather(first.download(), second.download())
        return paths[0], paths[1]

    first_path, second_path = asyncio.run(fetch())
    assert first_path == second_path and Path(first_path).read_bytes() == b"0123456789"
    assert File(uri=record["uri"]).to_dict() == {"uri": record["uri"]}
    small = File(uri=record["uri"].replace("cache.txt", "other.txt"))
    with pytest.raises(FileTooLargeError):
        asyncio.run(small.download(max_bytes=5))
    assert not small.exists()


def test_an_upload_cut_off_by_the_client_is_dropped_quietly(client: httpx.Client) -> None:
    record = _create(client, filename="cut.bin", content_type="application/octet-stream")
    url = httpx.URL(record["upload_url"])
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect(logging.INFO)
    watched = [logging.getLogger("uvicorn.error"), logging.getLogger("inferencesh.local")]
    levels = [logger.level for logger in watched]
    for logger in watched:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        with socket.create_connection((url.host, url.port or 80)) as sock:
            head = (
                f"PUT {url.raw_path.decode()} HTTP/1.1\r\nHost: {url.netloc.decode()}\r\n"
                "Content-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n"
            )
            sock.sendall(head.encode() + b"x" * 1000)
        for _ in range(400):
            if any("disconnected" in r.getMessage() or r.levelno >= logging.ERROR for r in records):
                break
            time.sleep(0.025)
    finally:
        for logger, level in zip(watched, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)
    assert not [r.getMessage() for r in records if r.levelno >= logging.ERROR]
    assert any("the client disconnected" in r.getMessage() for r in records)
    # The URL was not spent: the client can try again.
    for _ in range(100):
        retry = _upload(record, b"whole", "application/octet-stream")
        if retry.status_code != 409:
            break
        time.sleep(0.025)
    assert retry.status_code == 200
