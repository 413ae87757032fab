"""The first call loads only what it uses: in a fresh interpreter, a client and its first typed
result (``tasks.run(..., wait=False)``, over HTTP) import no asyncio, no ``TaskDTO``, no request
TypedDicts, no page classes, no stream machinery or callbacks, no upload machinery, no proxy
route and not httpx's command-line module, and build no model but the two they validate. What is
kept out still works when it is used."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.endpoints._loopback import Answer, Loopback, Seen, envelope

FIXTURES = Path(__file__).resolve().parents[1] / "codegen" / "fixtures"

FIRST_RESULT = """
import json, sys
{before}
import inferencesh

client = inferencesh.inference(api_key="k", base_url=sys.argv[1])
created = client.tasks.run({{"app": "infsh/echo", "input": {{"text": "hi"}}}}, wait=False)
models = sys.modules["inferencesh._generated.models"]
loaded = sorted(name for name in sys.modules)
first = {{
    "created": type(created).__name__,
    "loaded": loaded,
    "complete": sorted(
        name for name in ("ApiAppRunRequest", "TaskResultDTO", "TaskDTO")
        if name in vars(models) and getattr(models, name).__pydantic_complete__
    ),
}}
{after}
print(json.dumps(first))
"""


def first_use(before: str = "", after: str = "") -> dict[str, Any]:
    """Run a first call in a fresh interpreter against a loopback server; what it reports, and
    the requests the server saw (``requests``: method, path, JSON body)."""
    created = json.loads((FIXTURES / "TaskResultDTO.json").read_text())
    task = json.loads((FIXTURES / "TaskDTO.json").read_text())
    file = json.loads((FIXTURES / "FileDTO.json").read_text())

    def answer(seen: Seen) -> Any:
        if seen.method == "POST" and seen.path == "/apps/run":
            return envelope(created)
        if seen.method == "POST" and seen.path == "/files":
            return envelope([{**file, "upload_url": f"http://{seen.headers['host']}/bucket"}])
        if seen.method == "PUT" and seen.path == "/bucket":
            return Answer(200)
        return envelope({**task, "id": seen.path.rsplit("/", 1)[1]})

    script = FIRST_RESULT.format(before=before, after=after)
    with Loopback(answer) as server:
        done = subprocess.run(
            [sys.executable, "-c", script, server.base_url],
            capture_output=True,
            text=True,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    result["requests"] = [
        (seen.method, seen.path, None if seen.method == "PUT" else seen.json())
        for seen in server.seen
    ]
    return result


def test_a_first_result_loads_only_what_it_uses() -> None:
    out = first_use()
    assert out["created"] == "TaskResultDTO"
    loaded = set(out["loaded"])
    kept_out = {
        "asyncio",  # the blocking client's transport and concurrency do without it
        "inferencesh._http11_async",
        "inferencesh._generated.models.task_dto",  # and the 98 types behind it
        "inferencesh._task_updates",  # subclasses TaskDTO: loaded by calls that follow a task
        "inferencesh._generated.params",  # request TypedDicts: annotations only
        "inferencesh._runtime.pagination",  # page classes: created by the first list call
        # Following a task (stream machines, reconnects, the follow driver) and its callbacks:
        # loaded by the first call that follows a task.
        "inferencesh._streaming",
        "inferencesh._generated.sync.follow",
        "inferencesh._callbacks",
        # Uploads (``client.files`` and its resource): loaded by the first file to upload.
        "inferencesh._files",
        "inferencesh._generated.sync.files",
        "inferencesh._generated.resources.files",
        "inferencesh._proxy_protocol",  # only with proxy_url=
    }
    assert sorted(kept_out & loaded) == []
    # Its modules are loaded, its validator is not built: only the two models validated are.
    assert out["complete"] == ["ApiAppRunRequest", "TaskResultDTO"]


def test_what_the_first_call_kept_out_works_when_used(tmp_path: Path) -> None:
    image = tmp_path / "photo.png"
    image.write_bytes(b"not really a png")
    after = f"""
task = client.tasks.get(created.id)
with client.tasks.stream(created.id) as stream:
    updates = [isinstance(update, type(task)) for update in stream]
page = client.tasks.list()
seen = []
done = client.tasks.run(
    {{"app": "infsh/echo", "input": {{"image": {str(image)!r}}}}}, on_update=seen.append
)
first["later"] = [type(task).__name__, updates, type(page).__name__]
first["run"] = [isinstance(done, type(task)), len(seen)]
"""
    out = first_use(after=after)
    assert out["later"] == ["TaskDTO", [True], "SyncPage[TaskDTO]"]
    assert out["run"] == [True, 1]  # a waited-for run, its callback called
    # The file in the input was uploaded (by the client's files, built then) and sent as its uri.
    file = json.loads((FIXTURES / "FileDTO.json").read_text())
    runs = [body for method, path, body in out["requests"] if path == "/apps/run"]
    assert [method for method, path, _ in out["requests"]].count("PUT") == 1
    assert runs[-1]["input"] == {"image": file["uri"]}
