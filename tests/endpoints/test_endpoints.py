"""Every generated operation, on both clients, against a real HTTP server on loopback.

The cases come from schema/openapi.yaml (read independently of the generator), so a new operation
is covered as soon as it is added. Each call goes through ``inference()`` / ``async_inference()``
as a user would write it (``client.<group>.<verb>(...)``) with per-call options, and checks the
HTTP method, the escaped path, the query string, the JSON body (only the fields that were set),
the options on the wire and the type of the result.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest
from tests.endpoints._loopback import Answer, Loopback, Seen, envelope
from tests.endpoints._spec import (
    Op,
    field_value,
    generated_operations,
    sample_payload,
    simple_request_field,
)

from inferencesh import AsyncInference, Inference
from inferencesh._generated import models
from inferencesh._runtime.pagination import AsyncPage, AsyncPager, SyncPage

OPERATIONS = generated_operations()
QUERY_VALUES = {"string": "q v", "integer": 7, "number": 2.5, "boolean": True}
WIRE_QUERY = {"string": "q v", "integer": "7", "number": "2.5", "boolean": "true"}


def path_value(name: str) -> str:
    # A space, a percent sign and a question mark: each parameter must be escaped as one segment.
    return f"{name} 1%?"


class Call:
    """One planned call: the arguments to pass and what must reach the server."""

    def __init__(self, op: Op, *, variant: str) -> None:
        self.args: list[Any] = [path_value(name) for name in op.path_params]
        self.kwargs: dict[str, Any] = {"extra_headers": {"x-case": op.operation_id}}
        path = op.path
        for name in op.path_params:
            path = path.replace("{" + name + "}", quote(path_value(name), safe=""))
        self.path = path
        self.query: dict[str, str] = {}
        full = variant != "minimal"
        if full:
            self.kwargs["extra_query"] = {"trace": "on"}
            self.kwargs["timeout"] = 30
            self.query["trace"] = "on"
            for name, schema in op.query.items():
                if "enum" in schema:
                    self.kwargs[name] = self.query[name] = schema["enum"][-1]
                else:
                    self.kwargs[name] = QUERY_VALUES[schema["type"]]
                    self.query[name] = WIRE_QUERY[schema["type"]]
        self.json: Any = None
        if op.body_model is not None:
            field = simple_request_field(op.body_model)
            sent = dict([field]) if field and full else {}
            if variant == "dict":
                self.args.append(sent)
            elif variant == "model":
                self.args.append(getattr(models, op.body_model).model_validate(sent))
            else:
                self.kwargs.update(sent)
            self.json = sent
        elif op.body_free:
            self.args.append({"free": ["form", 1]})
            self.json = {"free": ["form", 1]}
        elif op.body_fields:
            self.json = {}
            for name, (schema, required) in op.body_fields.items():
                if full or required:
                    self.kwargs[name] = self.json[name] = field_value(schema)
        if full and self.json is not None:
            self.kwargs["extra_body"] = {"extra": True}
            self.json = {**self.json, "extra": True}


VARIANTS = ("dict", "kwargs", "minimal", "model")


def answer(op: Op, empty_as_204: bool) -> Answer:
    if op.payload[0] == "none" and empty_as_204:
        return Answer(204)
    return envelope(sample_payload(op), **{"x-request-id": "req-1"})


def responder(op: Op, empty_as_204: bool) -> Callable[[Seen], Answer]:
    return lambda seen: answer(op, empty_as_204)


def check_request(op: Op, call: Call, seen: Seen) -> None:
    assert seen.method == op.method
    assert seen.path == call.path
    assert seen.query == call.query
    assert seen.headers["x-case"] == op.operation_id
    if call.json is None:
        assert seen.body == b""
    else:
        assert json.loads(seen.body) == call.json


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
        assert isinstance(result, (SyncPage, AsyncPage))
        assert [type(item) for item in result.items] == [getattr(models, str(name))]
        assert (result.next_cursor, result.has_next) == ("c-2", True)


@pytest.fixture(scope="module")
def server() -> Iterator[Loopback]:
    with Loopback(lambda seen: Answer(500)) as srv:
        yield srv


def method_of(client: Any, op: Op) -> Any:
    return getattr(getattr(client, op.group), op.verb)


def variants(op: Op) -> tuple[str, ...]:
    return VARIANTS if op.body_model is not None else ("dict", "minimal")


@pytest.mark.parametrize("op", OPERATIONS, ids=str)
def test_sync_method(server: Loopback, op: Op) -> None:
    with Inference(api_key="inf_test", base_url=server.base_url, max_retries=0) as client:
        for variant in variants(op):
            server.seen.clear()
            server.handler = responder(op, empty_as_204=variant == "dict")
            call = Call(op, variant=variant)
            result = method_of(client, op)(*call.args, **call.kwargs)
            assert len(server.seen) == 1, variant
            check_request(op, call, server.seen[0])
            check_result(op, result)


@pytest.mark.parametrize("op", OPERATIONS, ids=str)
async def test_async_method(server: Loopback, op: Op) -> None:
    async with AsyncInference(api_key="inf_test", base_url=server.base_url, max_retries=0) as c:
        for variant in variants(op):
            server.seen.clear()
            server.handler = responder(op, empty_as_204=variant == "minimal")
            call = Call(op, variant=variant)
            returned = method_of(c, op)(*call.args, **call.kwargs)
            if op.payload[0] == "cursor":
                assert isinstance(returned, AsyncPager)
            else:
                assert inspect.iscoroutine(returned)
            result = await returned
            assert len(server.seen) == 1, variant
            check_request(op, call, server.seen[0])
            check_result(op, result)


@pytest.mark.parametrize("op", OPERATIONS, ids=str)
def test_raw_response_has_the_same_call(server: Loopback, op: Op) -> None:
    server.seen.clear()
    server.handler = lambda seen: answer(op, empty_as_204=False)
    call = Call(op, variant="dict")
    with Inference(api_key="inf_test", base_url=server.base_url, max_retries=0) as client:
        raw = getattr(getattr(client, op.group).with_raw_response, op.verb)(
            *call.args, **call.kwargs
        )
    check_request(op, call, server.seen[0])
    assert (raw.status_code, raw.request_id) == (200, "req-1")
    check_result(op, raw.parse())
