"""Bad arguments to generated methods are refused before anything is sent, naming the problem.

A misspelled key of a request body (as a dict, as keyword arguments, or nested), an unknown
per-call option, a path parameter that is empty or not one segment: each is an
``InvalidInputError`` (a ``ValueError``) and the loopback server sees no request at all.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.endpoints._loopback import Answer, Loopback

from inferencesh import AsyncInference, Inference, InvalidInputError
from inferencesh._generated.models import ApiAppRunRequest

Case = tuple[str, Callable[[Any], Any], list[str]]

CASES: list[Case] = [
    (
        "dict-key",
        lambda c: c.tasks.create({"app": "a/b", "inptu": {}}),
        ["'inptu'", "ApiAppRunRequest", "input"],
    ),
    ("keyword-field", lambda c: c.tasks.list(limt=5), ["'limt'", "CursorListRequest", "limit"]),
    (
        "nested-key",
        lambda c: c.files.create({"files": [{"filename": "a.png", "sise": 3}]}),
        ["'files[0].sise'", "PartialFile", "size"],
    ),
    (
        "nested-keyword",
        lambda c: c.tasks.list(search={"term": "x", "exakt": True}),
        ["'search.exakt'", "SearchRequest"],
    ),
    ("option", lambda c: c.tasks.get("t1", tiemout=3), ["'tiemout'", "timeout"]),
    ("option-type", lambda c: c.tasks.get("t1", timeout="3"), ["timeout", "'3'"]),
    ("option-headers", lambda c: c.tasks.get("t1", extra_headers={"a": 1}), ["extra_headers"]),
    ("option-query", lambda c: c.tasks.get("t1", extra_query=["x"]), ["extra_query"]),
    ("bad-value", lambda c: c.tasks.create(session_timeout=0), ["session_timeout", "1"]),
    ("bad-type", lambda c: c.tasks.list(limit="many"), ["limit", "'many'"]),
    ("body-type", lambda c: c.tasks.create(["app"]), ["body", "list"]),
    ("free-form-body", lambda c: c.agents.update("a1", ["x"]), ["body", "JSON object"]),
    ("path-empty", lambda c: c.secrets.delete(""), ["key", "non-empty"]),
    ("path-none", lambda c: c.teams.get(None), ["team_id"]),
    ("path-slash", lambda c: c.apps.get_by_name("infsh", "echo/../x"), ["name", "segment"]),
    ("path-dots", lambda c: c.files.get(".."), ["file_id", "segment"]),
    ("attachments", lambda c: c.tools.result("i1", attachments=[{}] * 21), ["attachments", "20"]),
]


@pytest.fixture
def server() -> Iterator[Loopback]:
    with Loopback(lambda seen: Answer(500)) as srv:
        yield srv


@pytest.mark.parametrize(("name", "call", "needles"), CASES, ids=[c[0] for c in CASES])
def test_refused_before_sending(
    server: Loopback, name: str, call: Callable[[Any], Any], needles: list[str]
) -> None:
    with Inference(api_key="inf_test", base_url=server.base_url) as client:
        with pytest.raises(InvalidInputError) as info:
            call(client)
    for needle in needles:
        assert needle in str(info.value), (needle, str(info.value))
    assert server.seen == []


@pytest.mark.parametrize(("name", "call", "needles"), CASES, ids=[c[0] for c in CASES])
async def test_refused_before_sending_async(
    server: Loopback, name: str, call: Callable[[Any], Any], needles: list[str]
) -> None:
    async with AsyncInference(api_key="inf_test", base_url=server.base_url) as client:
        with pytest.raises(InvalidInputError) as info:
            result = call(client)
            if inspect.isawaitable(result):
                await result
    for needle in needles:
        assert needle in str(info.value)
    assert server.seen == []


def test_a_model_instance_is_sent_as_built(server: Loopback) -> None:
    server.handler = lambda seen: Answer(200, {"data": None})
    request = ApiAppRunRequest.model_validate({"app": "a/b", "future_field": 1})
    with Inference(api_key="inf_test", base_url=server.base_url) as client:
        client.tasks.cancel("t1", {"force": True})
        with pytest.raises(InvalidInputError):
            client.tasks.create(request, inptu={})
    assert server.seen[0].json() == {"force": True}
    assert len(server.seen) == 1


def test_extra_body_sends_a_field_the_schema_does_not_list(server: Loopback) -> None:
    server.handler = lambda seen: Answer(200, {"data": None})
    with Inference(api_key="inf_test", base_url=server.base_url) as client:
        client.tasks.cancel("t1", force=True, extra_body={"reason": "test"})
    assert server.seen[0].json() == {"force": True, "reason": "test"}
