"""schema/openapi.yaml: valid OpenAPI 3.1 structure, resolvable refs, our conventions, and
responses that a schema-conformance tester accepts from a server speaking the v3 envelope."""

from __future__ import annotations

import ast
import datetime
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import yaml
from schemathesis.core.failures import Failure, FailureGroup
from tests.endpoints._spec import (
    DEF_PREFIX,
    OPENAPI,
    Op,
    generated_operations,
    operations,
    resolve,
    sample_payload,
    spec,
    type_defs,
)

from codegen.endpoints import (
    EndpointSpecError,
    load_spec,
    referenced_defs,
    render_api_doc,
    render_client,
    render_resources,
)

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
OPERATION_ID = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*\.[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def walk(node: Any, where: str = "") -> list[tuple[str, Any]]:
    """Every (location, $ref value) in a document."""
    found: list[tuple[str, Any]] = []
    if isinstance(node, dict):
        if "$ref" in node:
            found.append((where, node["$ref"]))
        for key, value in node.items():
            found += walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += walk(value, f"{where}/{index}")
    return found


# ---------------------------------------------------------------- structure


def test_document_is_openapi_3_1() -> None:
    document = spec()
    assert str(document["openapi"]).startswith("3.1.")
    assert document["info"]["title"] and document["info"]["version"]
    assert set(document) <= {
        "openapi", "info", "jsonSchemaDialect", "servers", "paths", "webhooks", "components",
        "security", "tags", "externalDocs",
    }  # fmt: skip
    assert document["servers"][0]["url"] == "https://api.inference.sh"
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}


def test_every_path_item_is_well_formed() -> None:
    for path, item in spec()["paths"].items():
        assert path.startswith("/") and not path.endswith("/"), path
        templated = re.findall(r"\{([^{}]+)\}", path)
        assert set(item) <= METHODS | {"parameters", "summary", "description"}, path
        for method, operation in item.items():
            if method not in METHODS:
                continue
            params = [
                resolve(p) for p in [*item.get("parameters", []), *operation.get("parameters", [])]
            ]
            for param in params:
                assert set(param) >= {"name", "in", "schema"}, (path, param)
                assert param["in"] in {"path", "query", "header", "cookie"}
                if param["in"] == "path":
                    assert param["required"] is True, (path, param["name"])
            declared = sorted(p["name"] for p in params if p["in"] == "path")
            assert declared == sorted(templated), f"{method} {path}"
            assert operation["responses"], f"{method} {path}"
            for code, response in operation["responses"].items():
                assert re.fullmatch(r"[1-5]\d\d|[1-5]XX|default", str(code)), (path, code)
                assert "description" in resolve(response), (path, code)
            assert operation["responses"]["default"] == {"$ref": "#/components/responses/Problem"}


def test_no_two_paths_are_the_same_template() -> None:
    shapes = [re.sub(r"\{[^{}]+\}", "{}", path) for path in spec()["paths"]]
    assert len(shapes) == len(set(shapes))


def test_every_ref_resolves() -> None:
    refs = walk(spec())
    assert refs
    defs = type_defs()
    for where, ref in refs:
        if ref.startswith("#/components/"):
            target: Any = spec()
            for part in ref[2:].split("/"):
                assert isinstance(target, dict) and part in target, f"{where}: {ref}"
                target = target[part]
        else:
            assert ref.startswith(DEF_PREFIX), f"{where}: {ref}"
            assert ref[len(DEF_PREFIX) :] in defs, f"{where}: {ref}"


def test_request_bodies_name_request_types() -> None:
    # The generated method validates a body with coerce_body, which needs a RequestModel def.
    for op in operations():
        if op.body_model is not None:
            assert type_defs()[op.body_model].get("x-request") is True, op


# ---------------------------------------------------------------- conventions


def test_operation_ids_are_unique_group_dot_verb() -> None:
    ids = [op.operation_id for op in operations()]
    assert len(ids) == len(set(ids))
    for operation_id in ids:
        assert OPERATION_ID.match(operation_id), operation_id


def test_at_least_fifty_operations() -> None:
    assert len(operations()) >= 50
    assert len(generated_operations()) >= 50


def test_every_operation_has_one_declared_tag_its_group() -> None:
    declared = [tag["name"] for tag in spec()["tags"]]
    assert len(declared) == len(set(declared))
    assert all(tag.get("description") for tag in spec()["tags"])
    for op in operations():
        assert op.tags == (op.group,), op
    assert {op.group for op in operations()} == set(declared)


def test_the_js_sdk_namespaces_are_groups() -> None:
    groups = {op.group for op in operations()}
    assert {
        "chats", "flows", "flow_runs", "engines", "knowledge", "skills", "artifacts", "teams",
        "secrets", "api_keys", "credentials", "search", "projects", "mcp_servers",
    } <= groups  # fmt: skip


def test_stream_routes_are_marked_and_only_they() -> None:
    streams = {(op.method, op.path) for op in operations() if op.stream}
    assert streams == {("GET", "/tasks/{task_id}/stream"), ("GET", "/chats/{chat_id}/stream")}
    for op in operations():
        if op.stream:
            assert op.operation["x-stream"] == "ndjson"
            content = resolve(op.operation["responses"]["200"])["content"]
            assert "application/x-ndjson" in content and "text/event-stream" in content


@pytest.mark.parametrize(
    ("operation_id", "method", "path"),
    [
        ("tasks.create", "POST", "/apps/run"),
        ("tasks.get", "GET", "/tasks/{task_id}"),
        ("tasks.cancel", "POST", "/tasks/{task_id}/cancel"),
        ("tasks.status", "GET", "/tasks/{task_id}/status"),
        ("tasks.list", "POST", "/tasks/list"),
        ("tasks.files", "GET", "/tasks/{task_id}/files"),
        ("tasks.delete_files", "DELETE", "/tasks/{task_id}/files"),
        ("tasks.delete", "DELETE", "/tasks/{task_id}"),
        ("tasks.logs", "GET", "/tasks/{task_id}/logs"),
        ("files.create", "POST", "/files"),
        ("files.get", "GET", "/files/{file_id}"),
        ("files.list", "POST", "/files/list"),
        ("files.delete", "DELETE", "/files/{file_id}"),
        ("sessions.get", "GET", "/sessions/{session_id}"),
        ("sessions.list", "GET", "/sessions"),
        ("sessions.keepalive", "POST", "/sessions/{session_id}/keepalive"),
        ("sessions.end", "DELETE", "/sessions/{session_id}"),
        ("agents.run", "POST", "/agents/run"),
        ("chats.get", "GET", "/chats/{chat_id}"),
        ("chats.stop", "POST", "/chats/{chat_id}/stop"),
        ("chats.list_messages", "GET", "/chats/{chat_id}/messages"),
        ("chats.stream", "GET", "/chats/{chat_id}/stream"),
        ("tasks.stream", "GET", "/tasks/{task_id}/stream"),
        ("tools.result", "POST", "/tools/{invocation_id}"),
        ("tools.invoke", "POST", "/tools/{invocation_id}/invoke"),
        ("tools.reject", "POST", "/tools/{invocation_id}/reject"),
        ("apps.get", "GET", "/apps/{app_id}"),
        ("apps.get_by_name", "GET", "/apps/{namespace}/{name}"),
        ("apps.list", "POST", "/apps/list"),
        ("agents.get", "GET", "/agents/{agent_id}"),
        ("agents.list", "POST", "/agents/list"),
        ("flows.get", "GET", "/flows/{flow_id}"),
        ("flows.list", "POST", "/flows/list"),
        ("flow_runs.get", "GET", "/flowruns/{flow_run_id}"),
        ("flow_runs.list", "POST", "/flowruns/list"),
        ("flow_runs.create", "POST", "/flowruns"),
        ("flow_runs.cancel", "POST", "/flowruns/{flow_run_id}/cancel"),
        ("credentials.check", "POST", "/credentials/check"),
    ],
)
def test_core_route(operation_id: str, method: str, path: str) -> None:
    [op] = [op for op in operations() if op.operation_id == operation_id]
    assert (op.method, op.path) == (method, path)


@pytest.mark.parametrize(
    ("operation_id", "payload", "body"),
    [
        ("tasks.create", ("model", "TaskResultDTO"), "ApiAppRunRequest"),
        ("tasks.get", ("model", "TaskDTO"), None),
        ("tasks.files", ("list", "TaskFileDTO"), None),
        ("files.create", ("list", "FileDTO"), "FileCreateRequest"),
        ("sessions.list", ("list", "AppSessionDTO"), None),
        ("sessions.end", ("none", None), None),
        ("agents.run", ("model", "CreateAgentMessageResponse"), "ApiAgentRunRequest"),
        ("chats.list_messages", ("cursor", "ChatMessageDTO"), None),
        ("tools.result", ("none", None), "ToolResultRequest"),
        ("credentials.check", ("model", "CheckRequirementsResponse"), "CheckRequirementsRequest"),
    ],
)
def test_core_payloads(
    operation_id: str, payload: tuple[str, str | None], body: str | None
) -> None:
    [op] = [op for op in operations() if op.operation_id == operation_id]
    assert op.payload == payload
    assert op.body_model == body


def test_chat_messages_page_with_limit_and_cursor() -> None:
    [op] = [op for op in operations() if op.operation_id == "chats.list_messages"]
    assert {name: schema["type"] for name, schema in op.query.items()} == {
        "limit": "integer",
        "cursor": "string",
    }


def test_cursor_lists_are_post_with_a_cursor_list_request() -> None:
    lists = [op for op in operations() if op.path.endswith("/list")]
    assert len(lists) >= 8
    for op in lists:
        assert op.method == "POST", op
        assert op.body_model == "CursorListRequest", op
        assert op.payload[0] == "cursor", op


# ---------------------------------------------------------------- conformance (schemathesis)


@pytest.fixture(scope="module")
def conformance() -> Any:
    return schemathesis.openapi.from_path(str(OPENAPI))


def response(
    op: Op, status: int, body: Any, content_type: str = "application/json"
) -> httpx.Response:
    url = "https://api.inference.sh" + op.path
    content = b"" if body is None else json.dumps(body).encode()
    headers = {} if body is None else {"content-type": content_type}
    sent = httpx.Response(
        status, content=content, headers=headers, request=httpx.Request(op.method, url)
    )
    sent.elapsed = datetime.timedelta(milliseconds=1)
    return sent


def violations(checked: Any, sent: httpx.Response) -> list[str]:
    """The titles of the failures the conformance check reports (empty when it passes)."""
    try:
        checked.validate_response(sent)
    except FailureGroup as group:
        return [failure.title for failure in group.exceptions]
    except Failure as failure:
        return [failure.title]
    return []


@pytest.mark.parametrize("op", generated_operations(), ids=str)
def test_v3_envelope_conforms(conformance: Any, op: Op) -> None:
    checked = conformance[op.path][op.method]
    body = {
        "data": sample_payload(op),
        "messages": [{"level": "info", "code": "c", "message": "m"}],
    }
    checked.validate_response(response(op, 200, body))
    if op.payload[0] == "none":
        checked.validate_response(response(op, 204, None))
    problem = {
        "type": "https://api.inference.sh/errors/not_found",
        "title": "Not Found",
        "status": 404,
    }
    checked.validate_response(response(op, 404, problem, "application/problem+json"))


@pytest.mark.parametrize(
    "op", [op for op in generated_operations() if op.payload[0] != "json"], ids=str
)
def test_conformance_check_rejects_wrong_bodies(conformance: Any, op: Op) -> None:
    checked = conformance[op.path][op.method]
    for body in ({"messages": []}, {"data": "not a payload", "messages": []}):
        assert "Response violates schema" in violations(checked, response(op, 200, body)), body


# ---------------------------------------------------------------- the endpoint generator


def test_render_is_deterministic_and_valid_python() -> None:
    defs = referenced_defs(OPENAPI)
    first = render_resources(load_spec(OPENAPI), defs)
    assert first == render_resources(load_spec(OPENAPI), set(defs))
    for source in [*first.values(), render_client(load_spec(OPENAPI))]:
        assert source.startswith("# Generated by codegen from schema/openapi.yaml. Do not edit")
        ast.parse(source)
    assert "Do not edit" in render_api_doc(load_spec(OPENAPI))


def test_render_refuses_a_type_the_models_do_not_define() -> None:
    defs = referenced_defs(OPENAPI) - {"TaskDTO"}
    with pytest.raises(EndpointSpecError, match=r"TaskDTO \(used by tasks\.featured\)"):
        render_resources(load_spec(OPENAPI), defs)


def mutated(tmp_path: Path, change: Any) -> Path:
    document = yaml.load(OPENAPI.read_text(), Loader=yaml.CSafeLoader)
    change(document)
    path = tmp_path / "openapi.yaml"
    path.write_text(yaml.dump(document, Dumper=yaml.CSafeDumper))
    return path


def _bad_operation_id(doc: dict[str, Any]) -> None:
    doc["paths"]["/tasks/{task_id}"]["get"]["operationId"] = "getTask"


def _duplicate_operation_id(doc: dict[str, Any]) -> None:
    doc["paths"]["/tasks/{task_id}"]["get"]["operationId"] = "tasks.status"


def _undeclared_path_param(doc: dict[str, Any]) -> None:
    doc["paths"]["/tasks/{task_id}"]["parameters"] = []


def _unknown_payload_shape(doc: dict[str, Any]) -> None:
    schema = doc["paths"]["/tasks/{task_id}"]["get"]["responses"]["200"]["content"]
    schema["application/json"]["schema"]["allOf"][1]["properties"]["data"] = {"type": "string"}


def _no_envelope(doc: dict[str, Any]) -> None:
    content = doc["paths"]["/tasks/{task_id}"]["get"]["responses"]["200"]["content"]
    content["application/json"]["schema"] = {"$ref": "types.schema.json#/$defs/TaskDTO"}


def _wrong_tag(doc: dict[str, Any]) -> None:
    doc["paths"]["/tasks/{task_id}"]["get"]["tags"] = ["files"]


def _undeclared_tag(doc: dict[str, Any]) -> None:
    doc["tags"] = [tag for tag in doc["tags"] if tag["name"] != "sockets"]


def _page_without_cursor(doc: dict[str, Any]) -> None:
    del doc["paths"]["/tasks/featured"]["get"]["parameters"][1]


def _foreign_ref(doc: dict[str, Any]) -> None:
    body = doc["paths"]["/apps/run"]["post"]["requestBody"]["content"]["application/json"]
    body["schema"] = {"$ref": "other.json#/Task"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_bad_operation_id, "is not <group>.<verb>"),
        (_duplicate_operation_id, "also used by"),
        (_undeclared_path_param, "do not match"),
        (_unknown_payload_shape, "none of the payload rules"),
        (_no_envelope, "allOf \\[Envelope"),
        (_foreign_ref, "unexpected \\$ref"),
        (_wrong_tag, "tags must be \\[tasks\\]"),
        (_undeclared_tag, "tag 'sockets' is not declared"),
        (_page_without_cursor, "a cursor page needs"),
    ],
)
def test_generator_refuses_a_spec_off_convention(tmp_path: Path, change: Any, message: str) -> None:
    with pytest.raises(EndpointSpecError, match=message):
        referenced_defs(mutated(tmp_path, change))
