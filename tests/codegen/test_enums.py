"""Golden enum names and values, and the open-enum behaviour every generated enum has.

Upstream renumbered TaskStatus once (CANCELLING inserted at 8); a regeneration that moves a value
or renames a member must show up here, in review, before it reaches users.
"""

from __future__ import annotations

import json

import pytest

from inferencesh.types import (
    AppSessionStatus,
    ChatMessageStatus,
    CredentialProvider,
    CredentialStatus,
    CredentialType,
    Infra,
    InstanceStatus,
    IntegrationAuthType,
    IntegrationProvider,
    IntegrationStatus,
    TaskDTO,
    TaskEvent,
    TaskStatus,
    ToolCallType,
    ToolParamType,
)


def members(enum: type) -> dict[str, object]:
    return {m.name: m.value for m in enum}  # type: ignore[attr-defined]


def test_task_status_golden() -> None:
    assert members(TaskStatus) == {
        "UNKNOWN": 0,
        "RECEIVED": 1,
        "QUEUED": 2,
        "DISPATCHED": 3,
        "PREPARING": 4,
        "SERVING": 5,
        "SETTING_UP": 6,
        "RUNNING": 7,
        "CANCELLING": 8,
        "UPLOADING": 9,
        "COMPLETED": 10,
        "FAILED": 11,
        "CANCELLED": 12,
        "REJECTED": 13,
    }


def test_renamed_status_keeps_its_old_name_as_alias() -> None:
    assert TaskStatus.SCHEDULED is TaskStatus.DISPATCHED
    assert "SCHEDULED" not in [m.name for m in TaskStatus]
    assert len(list(TaskStatus)) == 14


def test_tool_enums_golden() -> None:
    assert members(ToolParamType) == {
        "OBJECT": "object",
        "STRING": "string",
        "INTEGER": "integer",
        "NUMBER": "number",
        "BOOLEAN": "boolean",
        "ARRAY": "array",
        "NULL": "null",
    }
    assert members(ToolCallType) == {"TOOL_TYPE_FUNCTION": "function"}
    assert ToolCallType.TOOL_TYPE_FUNCTION.value == "function"
    assert ToolParamType.STRING.value == "string"


def test_integration_names_alias_the_credential_types() -> None:
    assert IntegrationProvider is CredentialProvider
    assert IntegrationAuthType is CredentialType
    assert IntegrationStatus is CredentialStatus
    assert IntegrationProvider.SLACK == "slack"
    assert IntegrationProvider.GIT_HUB == "github"
    assert IntegrationProvider.GOOGLE_SA == "google-sa"
    assert IntegrationAuthType.O_AUTH == "oauth"
    assert IntegrationStatus.CONNECTED == "connected"
    documented = {"google", "slack", "notion", "github", "discord", "gcp", "mcp"}
    assert documented <= {m.value for m in IntegrationProvider}
    assert members(IntegrationAuthType) == {
        "O_AUTH": "oauth",
        "API_KEY": "api_key",
        "SERVICE_ACCOUNT": "service_account",
        "WIF": "wif",
        "MCP": "mcp",
    }
    assert set(members(IntegrationStatus)) == {
        "PENDING",
        "CONNECTED",
        "DISCONNECTED",
        "EXPIRED",
        "ERROR",
    }


def test_other_golden_enums() -> None:
    assert members(InstanceStatus) == {
        "CREATING": "creating",
        "PENDING_PROVIDER": "pending_provider",
        "PENDING": "pending",
        "ACTIVE": "active",
        "ERROR": "error",
        "DELETING": "deleting",
        "DELETED": "deleted",
    }
    assert members(ChatMessageStatus) == {
        "PENDING": "pending",
        "QUEUED": "queued",
        "READY": "ready",
        "FAILED": "failed",
        "CANCELLED": "cancelled",
    }
    assert members(Infra) == {
        "PRIVATE": "private",
        "CLOUD": "cloud",
        "PRIVATE_FIRST": "private_first",
        "REMOTE": "remote",
    }
    assert members(AppSessionStatus) == {"ACTIVE": "active", "ENDED": "ended", "EXPIRED": "expired"}


def test_unknown_int_value_is_kept_and_round_trips() -> None:
    status = TaskStatus(99)
    assert status.name == "UNRECOGNIZED_99"
    assert int(status) == 99
    assert not status.is_known
    assert TaskStatus.COMPLETED.is_known
    assert TaskStatus(99) is status
    assert 99 not in [m.value for m in TaskStatus]


def test_int_enum_accepts_member_names_and_digit_strings() -> None:
    assert TaskStatus("completed") is TaskStatus.COMPLETED
    assert TaskStatus("SETTING_UP") is TaskStatus.SETTING_UP
    assert TaskStatus("10") is TaskStatus.COMPLETED
    with pytest.raises(ValueError):
        TaskStatus("no-such-status")
    with pytest.raises(ValueError):
        TaskStatus(2.5)  # type: ignore[arg-type]


def test_int_enums_print_as_names_and_stay_ints() -> None:
    status = TaskStatus.COMPLETED
    assert str(status) == "COMPLETED" and f"{status}" == "COMPLETED"
    # A renamed member's old name is the same member: it prints the current name.
    assert str(TaskStatus.SCHEDULED) == "DISPATCHED"
    assert str(TaskStatus(99)) == "UNRECOGNIZED_99"
    assert f"{status:d}" == "10" and f"{status:03d}" == "010" and f"{status:x}" == "a"
    # Width and alignment alone are for a table of names: they pad the name.
    assert f"{status:<11}|" == "COMPLETED  |" and f"{status:>10}" == " COMPLETED"
    assert f"{status:s}" == "COMPLETED" and f"{status!s:>10}" == " COMPLETED"
    assert int(status) == 10 and status == 10 and status > TaskStatus.RUNNING
    assert repr(status) == "<TaskStatus.COMPLETED: 10>"
    assert json.dumps({"status": status}) == '{"status": 10}'
    now = "2026-11-20T09:00:00Z"
    event = TaskEvent.model_validate(
        {"id": "e", "task_id": "t", "created_at": now, "event_time": now, "status": 10}
    )
    assert event.status is TaskStatus.COMPLETED
    assert event.model_dump(mode="json")["status"] == 10
    assert '"status":10' in event.model_dump_json()


def test_unknown_str_value_is_kept_and_round_trips() -> None:
    infra = Infra("galaxy")
    assert infra.name == "UNRECOGNIZED_galaxy"
    assert str(infra) == "galaxy"
    assert infra == "galaxy"
    assert not infra.is_known
    with pytest.raises(ValueError):
        Infra(5)  # type: ignore[arg-type]


def test_unknown_values_nested_in_a_task_parse_and_dump_identically() -> None:
    wire = {
        "id": "tsk_1",
        "short_id": "1",
        "created_at": "2026-11-20T09:00:00Z",
        "updated_at": "2026-11-20T09:00:01Z",
        "user_id": "u",
        "team_id": "t",
        "visibility": "galactic",
        "user_public_key": None,
        "engine_public_key": None,
        "is_featured": False,
        "status": 99,
        "app_id": "a",
        "app_version_id": "v",
        "function": "run",
        "infra": "orbital",
        "workers": [],
        "input": {},
        "output": None,
        "rating": "x_rating",
        "events": [
            {
                "id": "e",
                "created_at": "2026-11-20T09:00:00Z",
                "event_time": "2026-11-20T09:00:00Z",
                "task_id": "tsk_1",
                "status": 42,
            }
        ],
        "logs": [],
        "usage_events": [],
    }
    task = TaskDTO.model_validate(wire)
    assert task.status.name == "UNRECOGNIZED_99" and not task.status.is_known
    assert task.infra == "orbital" and not task.infra.is_known
    assert task.visibility == "galactic"
    assert task.events[0].status == 42 and not task.events[0].status.is_known
    dumped = task.model_dump(mode="json", exclude_unset=True)
    assert dumped["status"] == 99
    assert dumped["infra"] == "orbital"
    assert dumped["rating"] == "x_rating"
    assert dumped["events"][0]["status"] == 42
    assert TaskDTO.model_validate(dumped) == task
    event = TaskEvent.model_validate_json(
        '{"id":"e","created_at":"2026-11-20T09:00:00Z","event_time":"2026-11-20T09:00:00Z",'
        '"task_id":"t","status":"running"}'
    )
    assert event.status is TaskStatus.RUNNING
