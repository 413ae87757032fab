"""What the runtime refuses: local paths as file inputs, downloads without the key or a valid
signature, reused or expired upload URLs, open non-loopback binds, foreign Host names."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from local_helpers import assert_problem, run_and_wait

from inferencesh.local import LocalRuntime

API_KEY_HEADER = {"Authorization": "Bearer inf_test_key"}


def _create(client: httpx.Client, name: str = "a.txt") -> dict[str, Any]:
    response = client.post("/files", json={"files": [{"filename": name}]})
    assert response.status_code == 200, response.text
    record: dict[str, Any] = response.json()["data"][0]
    return record


def _put(record: dict[str, Any], content: bytes) -> httpx.Response:
    return httpx.put(record["upload_url"], content=content, headers={"Content-Type": "text/plain"})


@pytest.mark.parametrize("form", ["path", "file_uri", "dict"])
def test_file_inputs_that_name_local_paths_are_refused(
    client: httpx.Client, tmp_path: Path, form: str
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not for callers")
    given = {"path": str(secret), "file_uri": secret.as_uri(), "dict": {"path": str(secret)}}
    task = run_and_wait(client, {"app": "infsh/file", "input": {"file": given[form]}})
    assert task["status"] == 11, task["output"]
    assert "input.file" in task["error"] and "uploaded to this runtime" in task["error"]
    assert task["output"] is None


def test_uploaded_files_are_read_even_when_a_path_is_also_given(client: httpx.Client) -> None:
    record = _create(client, "poem.txt")
    assert _put(record, b"abc").status_code == 200
    unsigned = record["uri"].split("?", 1)[0]
    for given in (record["uri"], unsigned, {"uri": unsigned, "path": "/etc/hostname"}):
        task = run_and_wait(client, {"app": "infsh/file", "input": {"file": given}})
        assert task["status"] == 10, task["error"]
        assert task["output"]["file"]["filename"] == "poem-upper.txt"
        assert httpx.get(task["output"]["file"]["uri"]).content == b"ABC"


def test_downloads_need_the_key_or_a_valid_signature(client: httpx.Client) -> None:
    record = _create(client)
    assert _put(record, b"private").status_code == 200
    unsigned = httpx.URL(record["uri"]).copy_with(query=None)
    assert_problem(httpx.get(unsigned), 401, "unauthorized")
    assert httpx.get(unsigned, headers=API_KEY_HEADER).content == b"private"
    assert httpx.get(record["uri"]).content == b"private"
    forged = httpx.URL(record["uri"]).copy_set_param("expires", "9999999999")
    assert_problem(httpx.get(forged), 401, "unauthorized")
    other = _create(client, "b.txt")
    borrowed = httpx.URL(other["uri"]).copy_with(query=httpx.URL(record["uri"]).query)
    assert_problem(httpx.get(borrowed), 401, "unauthorized")


def test_download_urls_expire_and_records_give_fresh_ones() -> None:
    with (
        LocalRuntime(file_url_ttl=1e-9) as rt,
        httpx.Client(base_url=rt.base_url, headers=API_KEY_HEADER) as http,
    ):
        record = _create(http)
        assert _put(record, b"soon gone").status_code == 200
        assert_problem(httpx.get(record["uri"]), 401, "unauthorized")
        assert http.get(record["uri"]).content == b"soon gone"


def test_upload_urls_take_one_upload(client: httpx.Client) -> None:
    record = _create(client)
    assert _put(record, b"first").status_code == 200
    body = assert_problem(_put(record, b"replaced"), 403, "forbidden")
    assert "already been used" in body["detail"]
    assert httpx.get(record["uri"]).content == b"first"


def test_upload_urls_expire() -> None:
    with (
        LocalRuntime(upload_url_ttl=1e-9) as rt,
        httpx.Client(base_url=rt.base_url, headers=API_KEY_HEADER) as http,
    ):
        body = assert_problem(_put(_create(http), b"late"), 403, "forbidden")
        assert "expired" in body["detail"]


def test_a_non_loopback_bind_needs_an_api_key() -> None:
    with pytest.raises(ValueError, match="api_key"):
        LocalRuntime(host="0.0.0.0")


def test_the_open_opt_out_is_logged_loudly(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="inferencesh.local")
    with LocalRuntime(host="0.0.0.0", allow_any_key=True) as rt:
        assert rt.base_url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{rt.base_url}/sessions", headers=API_KEY_HEADER).status_code == 200
    assert any("ANY inf_ key" in record.getMessage() for record in caplog.records)


def test_urls_use_the_request_host_or_the_public_url() -> None:
    key = {"Authorization": "Bearer inf_secret"}
    with LocalRuntime(host="0.0.0.0", api_key="inf_secret") as rt:
        response = httpx.post(
            f"{rt.base_url}/files",
            json={"files": [{"filename": "x.txt"}]},
            headers={**key, "Host": f"runtime.example:{rt.port}"},
        )
        record = response.json()["data"][0]
        assert record["upload_url"].startswith(f"http://runtime.example:{rt.port}/files/")
        assert record["uri"].startswith(f"http://runtime.example:{rt.port}/files/")
        assert httpx.get(f"{rt.base_url}/sessions", headers=API_KEY_HEADER).status_code == 401
    public = "https://dev.example/api"
    with (
        LocalRuntime(public_url=public + "/") as rt,
        httpx.Client(base_url=f"http://127.0.0.1:{rt.port}", headers=API_KEY_HEADER) as http,
    ):
        assert rt.base_url == public
        record = _create(http, "p.txt")
        assert record["upload_url"].startswith(f"{public}/files/")
        # Behind the proxy that public URL names, the runtime sees the path without its prefix.
        local_upload = record["upload_url"].replace(public, str(http.base_url).rstrip("/"))
        assert httpx.put(local_upload, content=b"proxied").status_code == 200
        task = run_and_wait(http, {"app": "infsh/file", "input": {"file": record["uri"]}})
        assert task["status"] == 10, task["error"]
        assert task["output"]["file"]["uri"].startswith(f"{public}/files/")
        proxied = http.get("/sessions", headers={"Host": "dev.example"})
        assert proxied.status_code == 200


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:80", "192.0.2.1"])
def test_a_loopback_runtime_refuses_foreign_host_names(runtime: LocalRuntime, host: str) -> None:
    response = httpx.get(f"{runtime.base_url}/sessions", headers={**API_KEY_HEADER, "Host": host})
    assert_problem(response, 403, "host_not_allowed")


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]", "app.localhost"])
def test_a_loopback_runtime_answers_loopback_names(runtime: LocalRuntime, host: str) -> None:
    headers = {**API_KEY_HEADER, "Host": f"{host}:{runtime.port}"}
    assert httpx.get(f"{runtime.base_url}/sessions", headers=headers).status_code == 200
