"""App refs as the platform reads them: name, namespace/name, @version, :function, and 404s
that name the closest known refs."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from local_apps import GreeterApp
from local_helpers import assert_problem, run_and_wait

from inferencesh.local import LocalRuntime

HEADERS = {"Authorization": "Bearer inf_test_key"}


def _app_folder(root: Path, name: str, says: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "inference.py").write_text(
        textwrap.dedent(
            f"""
            from inferencesh import BaseApp

            class App(BaseApp):
                async def run(self, input_data: dict) -> dict:
                    return {{"says": {says!r}}}
            """
        )
    )
    return folder


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    root = tmp_path_factory.mktemp("refs")
    apps = [
        str(_app_folder(root / "v1", "poet@one", "first")),
        str(_app_folder(root / "v2", "poet@two", "second")),
        str(_app_folder(root, "solo", "alone")),
        ("greeter", GreeterApp),
    ]
    with (
        LocalRuntime(apps=apps, namespace="me") as rt,
        httpx.Client(base_url=rt.base_url, headers=HEADERS) as client,
    ):
        yield client


@pytest.mark.parametrize(
    ("ref", "says"),
    [
        ("poet", "second"),
        ("me/poet", "second"),
        ("me/poet@two", "second"),
        ("me/poet@latest", "second"),
        ("poet@one", "first"),
        ("me/poet@one:run", "first"),
        ("solo", "alone"),
        ("me/solo@any-version", "alone"),
    ],
)
def test_refs_resolve_as_the_platform_reads_them(http: httpx.Client, ref: str, says: str) -> None:
    task = run_and_wait(http, {"app": ref, "input": {}})
    assert task["status"] == 10 and task["output"] == {"says": says}, task["error"]


def test_a_version_is_recorded_on_the_task(http: httpx.Client) -> None:
    one = run_and_wait(http, {"app": "poet@one", "input": {}})
    two = run_and_wait(http, {"app": "poet@two", "input": {}})
    assert one["app_id"] == two["app_id"] and one["app_version_id"] != two["app_version_id"]
    app = http.get("/apps/me/poet@one").json()["data"]
    assert app["version_id"] == one["app_version_id"]


def test_a_function_can_be_named_in_the_ref(http: httpx.Client) -> None:
    task = run_and_wait(http, {"app": "greeter:shout", "input": {"name": "ada"}})
    assert task["status"] == 10 and task["output"]["greeting"] == "HELLO, ADA!"


@pytest.mark.parametrize(
    ("ref", "closest"),
    [
        ("poett", ["me/poet"]),
        ("other/greeter", ["me/greeter"]),
        ("me/poet@three", ["me/poet@one", "me/poet@two"]),
        ("bad ref!", []),
    ],
)
def test_unknown_refs_get_404_naming_the_closest(
    http: httpx.Client, ref: str, closest: list[str]
) -> None:
    body = assert_problem(http.post("/apps/run", json={"app": ref, "input": {}}), 404, "not_found")
    assert ref in body["detail"] and body["ref"] == ref
    assert body["closest"][: len(closest)] == closest
    for known in closest:
        assert known in body["detail"]
