"""The base-model rules every generated model follows (schema/overrides.yaml, _runtime/base.py)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from inferencesh import InvalidInputError
from inferencesh._runtime.request import request_body
from inferencesh.types import (
    AgentTool,
    ApiAppRunRequest,
    AppSessionDTO,
    ChatDTO,
    ChatMessageDTO,
    CursorListRequest,
    CursorListResponse,
    FileCreateRequest,
    FileDTO,
    PartialFile,
    TaskDTO,
    TaskResultDTO,
    TaskStatus,
)

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def test_null_lists_and_maps_read_as_empty() -> None:
    wire = fixture("TaskDTO")
    wire["workers"] = None
    wire["logs"] = None
    wire["events"] = None
    task = TaskDTO.model_validate(wire)
    assert task.workers == [] and task.logs == [] and task.events == []


def test_collections_missing_from_newer_responses_read_as_empty() -> None:
    chat = ChatDTO.model_validate(fixture("ChatDTO"))
    assert "chat_messages" not in fixture("ChatDTO")
    assert chat.chat_messages == []
    assert chat.children == []


def test_a_missing_required_scalar_is_still_an_error() -> None:
    wire = fixture("TaskResultDTO")
    del wire["status"]
    with pytest.raises(ValidationError, match="status"):
        TaskResultDTO.model_validate(wire)


def test_nullable_bytes_fields_accept_null() -> None:
    task = TaskDTO.model_validate(fixture("TaskDTO"))
    assert task.user_public_key is None
    assert task.logs[0].content == "aGVsbG8gd29ybGQK"


def test_unknown_fields_are_kept_and_readable() -> None:
    wire = fixture("TaskResultDTO")
    wire["brand_new_field"] = {"nested": [1, 2]}
    result = TaskResultDTO.model_validate(wire)
    assert result.model_extra == {"brand_new_field": {"nested": [1, 2]}}
    assert result["brand_new_field"] == {"nested": [1, 2]}
    assert result.model_dump(mode="json")["brand_new_field"] == {"nested": [1, 2]}
    sent = result.to_dict()
    assert set(sent) == set(wire)  # what the server sent, nothing more
    assert sent["brand_new_field"] == {"nested": [1, 2]} and sent["run_at"] is None


def test_dict_style_access_matches_attributes() -> None:
    task = TaskDTO.model_validate(fixture("TaskDTO"))
    assert task["status"] is task.status is TaskStatus.COMPLETED
    assert task.get("output") == task.output
    assert task.get("no_such_field") is None
    assert task.get("no_such_field", "fallback") == "fallback"
    assert "status" in task and "status_text" in task and "nope" not in task
    with pytest.raises(KeyError):
        task["nope"]
    assert task["output"]["image"]["uri"].endswith("out.png")


def test_timestamps_parse_as_datetimes() -> None:
    session = AppSessionDTO.model_validate(fixture("AppSessionDTO"))
    assert isinstance(session.expires_at, datetime)
    assert session.expires_at.year == 2026
    naive = fixture("AppSessionDTO")
    naive["expires_at"] = "2026-11-20T09:20:03"
    assert AppSessionDTO.model_validate(naive).expires_at.tzinfo is None


def test_request_models_require_nothing_and_send_only_what_was_set() -> None:
    assert CursorListRequest(limit=10).to_wire() == {"limit": 10}
    assert ApiAppRunRequest().to_wire() == {}
    request = ApiAppRunRequest(app="infsh/echo", input={"message": "hi"}, session="new")
    assert request.to_wire() == {"app": "infsh/echo", "input": {"message": "hi"}, "session": "new"}
    nested = FileCreateRequest(files=[PartialFile(filename="a.txt", size=3)])
    assert nested.to_wire() == {"files": [{"filename": "a.txt", "size": 3}]}


def test_documented_dict_and_model_are_both_accepted_as_a_body() -> None:
    documented = fixture("ApiAppRunRequest")
    assert request_body(ApiAppRunRequest, documented, {}) == documented
    model = ApiAppRunRequest.model_validate(documented)
    assert request_body(ApiAppRunRequest, model, {}) == documented
    assert request_body(ApiAppRunRequest, None, documented) == documented
    with pytest.raises(InvalidInputError, match="session_timeout"):
        request_body(ApiAppRunRequest, {"app": "x", "session_timeout": "five"}, {})


def test_an_unknown_key_in_a_request_dict_is_refused_naming_it() -> None:
    with pytest.raises(InvalidInputError, match="'future_option'"):
        request_body(ApiAppRunRequest, {"app": "x", "future_option": True}, {})


def test_a_request_model_built_with_an_unknown_field_is_sent_as_built() -> None:
    model = ApiAppRunRequest.model_validate({"app": "x", "future_option": True})
    assert request_body(ApiAppRunRequest, model, {}) == {"app": "x", "future_option": True}


def test_cursor_list_response_is_a_runtime_generic() -> None:
    page = CursorListResponse[FileDTO].model_validate(
        {"items": [fixture("FileDTO")], "next_cursor": "c2", "has_next": True}
    )
    assert isinstance(page.items[0], FileDTO)
    assert page.has_next and page.next_cursor == "c2"
    assert CursorListResponse[FileDTO].model_validate({"items": None}).items == []


@pytest.mark.parametrize(
    "model",
    [
        TaskDTO,
        TaskResultDTO,
        ApiAppRunRequest,
        FileDTO,
        AppSessionDTO,
        ChatDTO,
        ChatMessageDTO,
        AgentTool,
    ],
)
def test_realistic_responses_validate_and_round_trip(model: type[TaskDTO]) -> None:
    wire = fixture(model.__name__)
    parsed = model.model_validate(wire)
    again = model.model_validate(parsed.model_dump(mode="json"))
    assert again == parsed
