"""Every generated endpoint, sync and async, against httpx.MockTransport.

The cases come from schema/openapi.yaml, so a new operation is covered as soon as it is added.
Each call checks the HTTP method, the escaped path, the query string, the JSON body (only the
fields that were set) and the type of the result.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from tests.endpoints._mini_transport import AsyncMiniTransport, MiniTransport
from tests.endpoints._spec import (
    Op,
    field_value,
    generated_operations,
    sample_payload,
    simple_request_field,
)

from inferencesh._generated import endpoints, models
from inferencesh._runtime import CursorListResponse

OPERATIONS = generated_operations()
BASE = "https://api.test"
QUERY_VALUES = {"string": "q v", "integer": 7, "number": 2.5, "boolean": True}
WIRE_QUERY = {"string": "q v", "integer": "7", "number": "2.5", "boolean": "true"}


def class_name(group: str, is_async: bool) -> str:
    stem = "".join(part.capitalize() for part in group.split("_"))
    return f"{'Async' if is_async else ''}{stem}Endpoints"


def path_value(name: str) -> str:
    # A slash and a space: the generated code must escape each parameter as one path segment.
    return f"{name} 1/x"


class Call:
    """One planned call: the arguments to pass and what must reach the server."""

    def __init__(self, op: Op, *, full: bool, as_model: bool) -> None:
        self.args: list[Any] = [path_value(name) for name in op.path_params]
        self.kwargs: dict[str, Any] = {}
        path = op.path
        for name in op.path_params:
            path = path.replace("{" + name + "}", quote(path_value(name), safe=""))
        self.path = path
        self.query: dict[str, str] = {}
        if full:
            for name, schema in op.query.items():
                if "enum" in schema:
                    self.kwargs[name] = self.query[name] = schema["enum"][-1]
                else:
                    self.kwargs[name] = QUERY_VALUES[schema["type"]]
                    self.query[name] = WIRE_QUERY[schema["type"]]
        self.json: Any = None
        if op.body_model is not None:
            if full or op.body_required:
                field = simple_request_field(op.body_model)
                sent = dict([field]) if field else {}
                model = getattr(models, op.body_model)
                self.args.append(model.model_validate(sent) if as_model else sent)
                self.json = sent
            else:
                self.json = {}
        elif op.body_fields:
            self.json = {}
            for name, (schema, required) in op.body_fields.items():
                if full or required:
                    self.kwargs[name] = self.json[name] = field_value(schema)


def respond(
    op: Op, *, empty_as_204: bool
) -> tuple[Callable[[httpx.Request], httpx.Response], list[httpx.Request]]:
    seen: list[httpx.Request] = []
    payload = sample_payload(op)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if op.payload[0] == "none" and empty_as_204:
            return httpx.Response(204)
        return httpx.Response(200, json={"data": payload, "messages": []})

    return handler, seen


def check_request(op: Op, call: Call, request: httpx.Request) -> None:
    assert request.method == op.method
    assert request.url.raw_path.decode().split("?")[0] == call.path
    assert dict(request.url.params) == call.query
    if call.json is None:
        assert request.content == b""
    else:
        assert json.loads(request.content) == call.json


def check_result(op: Op, result: Any) -> None:
    kind, name = op.payload
    payload = sample_payload(op)
    if kind == "none":
        assert result is None
    elif kind == "json":
        assert result == payload
    elif kind == "model":
        assert type(result) is getattr(models, str(name))
        assert result.get("id") == payload.get("id")
    elif kind == "list":
        assert isinstance(result, list) and len(result) == 1
        assert type(result[0]) is getattr(models, str(name))
    else:
        assert isinstance(result, CursorListResponse)
        assert [type(item) for item in result.items] == [getattr(models, str(name))]
        assert (result.next_cursor, result.has_next) == ("c-2", True)


def variants(op: Op) -> list[tuple[bool, bool]]:
    """(full, as_model) pairs: a call with everything set, and one with only what is required."""
    return [(True, False), (False, True)]


@pytest.mark.parametrize("op", OPERATIONS, ids=str)
def test_sync_endpoint(op: Op) -> None:
    for full, as_model in variants(op):
        handler, seen = respond(op, empty_as_204=True)
        call = Call(op, full=full, as_model=as_model)
        with httpx.Client(base_url=BASE, transport=httpx.MockTransport(handler)) as client:
            group = getattr(endpoints, class_name(op.group, False))(MiniTransport(client))
            result = getattr(group, op.verb)(*call.args, **call.kwargs)
        assert len(seen) == 1
        check_request(op, call, seen[0])
        check_result(op, result)


@pytest.mark.parametrize("op", OPERATIONS, ids=str)
async def test_async_endpoint(op: Op) -> None:
    for full, as_model in variants(op):
        handler, seen = respond(op, empty_as_204=False)
        call = Call(op, full=full, as_model=as_model)
        async with httpx.AsyncClient(
            base_url=BASE, transport=httpx.MockTransport(handler)
        ) as client:
            group = getattr(endpoints, class_name(op.group, True))(AsyncMiniTransport(client))
            method = getattr(group, op.verb)
            assert inspect.iscoroutinefunction(method)
            result = await method(*call.args, **call.kwargs)
        assert len(seen) == 1
        check_request(op, call, seen[0])
        check_result(op, result)


def test_generated_classes_match_the_spec_exactly() -> None:
    expected: dict[str, set[str]] = {}
    for op in OPERATIONS:
        for is_async in (False, True):
            expected.setdefault(class_name(op.group, is_async), set()).add(op.verb)
    actual = {
        name: {m for m in vars(getattr(endpoints, name)) if not m.startswith("_")}
        for name in endpoints.__all__
    }
    assert actual == expected


def test_sync_and_async_methods_have_the_same_signature() -> None:
    for name in endpoints.__all__:
        if name.startswith("Async"):
            continue
        sync, asynchronous = getattr(endpoints, name), getattr(endpoints, f"Async{name}")
        for verb in vars(sync):
            if not verb.startswith("_"):
                assert inspect.signature(getattr(sync, verb)) == inspect.signature(
                    getattr(asynchronous, verb)
                ), f"{name}.{verb}"


def test_path_params_are_positional_and_query_params_keyword_only() -> None:
    for op in OPERATIONS:
        method = getattr(getattr(endpoints, class_name(op.group, False)), op.verb)
        params = list(inspect.signature(method).parameters.values())[1:]
        positional = [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
        keyword_only = {p.name for p in params if p.kind is p.KEYWORD_ONLY}
        expected = list(op.path_params) + (["body"] if op.body_model else [])
        assert positional == expected, op
        assert keyword_only == set(op.query) | set(op.body_fields), op


def test_invalid_body_is_refused_before_sending() -> None:
    sent: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda r: sent.append(r) or httpx.Response(200))
    with httpx.Client(base_url=BASE, transport=transport) as client:
        tasks = endpoints.TasksEndpoints(MiniTransport(client))
        with pytest.raises(ValueError, match="session_timeout"):
            tasks.run({"app": "infsh/echo", "session_timeout": "not a number"})
    assert sent == []
