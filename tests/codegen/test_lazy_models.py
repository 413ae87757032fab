"""The generated models load and build on first use, and read exactly as if built at import.

``_generated/models/`` holds one module per type (the types of a reference cycle share one), its
``__init__`` loads a name on first access, and a model builds its validator the first time it
validates. Each test runs in a fresh interpreter: this process has loaded and built models
already.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from inferencesh._generated import models

FIXTURES = Path(__file__).parent / "fixtures"
PACKAGE = Path(models.__file__).parent

# Prints which generated modules are loaded and which models have a built validator.
STATE = """
import json, sys
pydantic = "pydantic.main" in sys.modules
from pydantic import BaseModel
loaded = sorted(
    name.rsplit(".", 1)[1] for name in sys.modules
    if name.startswith("inferencesh._generated.models.")
)
built = sorted(
    value.__name__
    for name in loaded
    for value in vars(sys.modules["inferencesh._generated.models." + name]).values()
    if isinstance(value, type) and issubclass(value, BaseModel) and value.__pydantic_complete__
)
print(json.dumps({"loaded": loaded, "built": built, "pydantic": pydantic}))
"""


def fresh(code: str, *args: str, stdin: str = "") -> Any:
    """What ``code`` prints as JSON (its last line), run in a new interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def referenced(module: str) -> set[str]:
    """The generated modules ``module`` imports, read from its source."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    prefix = "inferencesh._generated.models."
    return {
        node.module.removeprefix(prefix)
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(prefix)
    }


def closure(module: str) -> set[str]:
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(referenced(name))
    return seen


def test_importing_an_enum_loads_that_enum_alone_and_no_pydantic() -> None:
    state = fresh("from inferencesh import TaskStatus\n" + STATE)
    assert state == {"loaded": ["task_status"], "built": [], "pydantic": False}


def test_the_types_module_loads_only_the_names_used() -> None:
    state = fresh("from inferencesh.types import TaskStatus, ToolParamType\n" + STATE)
    assert state == {"loaded": ["task_status", "tool_param_type"], "built": [], "pydantic": False}


def test_importing_a_model_creates_the_types_it_refers_to_and_builds_none() -> None:
    state = fresh("from inferencesh._generated.models import TaskResultDTO\n" + STATE)
    assert set(state["loaded"]) == closure("task_result_dto")
    assert "task_dto" not in state["loaded"]
    assert state["built"] == []


def test_a_model_builds_the_first_time_it_validates_and_only_it() -> None:
    code = (
        "from inferencesh._generated.models import TaskResultDTO\n"
        "from inferencesh._runtime.base import TOLERANT\n"
        "TaskResultDTO.model_validate({'id': 't1', 'socket': {}}, context=TOLERANT)\n" + STATE
    )
    state = fresh(code)
    # SocketAccess was read as part of TaskResultDTO; it builds when it validates on its own.
    assert "socket_access" in state["loaded"]
    assert state["built"] == ["TaskResultDTO"]


def test_a_model_of_a_reference_cycle_resolves_its_fields_when_it_builds() -> None:
    code = """
import json
from inferencesh._generated.models import AgentVersionDTO, TaskDTO
before = AgentVersionDTO.__pydantic_fields_complete__
AgentVersionDTO.model_validate({"tools": None, "id": "v"}, context={"inferencesh_tolerant": True})
field = AgentVersionDTO.model_fields["tools"]
print(json.dumps([before, AgentVersionDTO.__pydantic_fields_complete__, str(field.annotation),
                  TaskDTO.__pydantic_fields_complete__]))
"""
    before, after, annotation, task_complete = fresh(code)
    assert (before, after) == (False, True)
    assert "AgentToolDTO" in annotation and "ForwardRef" not in annotation
    # The last type of a cycle refers to the others only: its fields resolve when it is created.
    assert task_complete is True


def test_fields_left_unresolved_at_creation_read_as_they_will_once_built() -> None:
    # The read plan of WireModel looks at the fields as the class was created; a field naming a
    # type its cycle defines later is resolved only when the class builds.
    code = """
import json, typing
from pydantic import BaseModel
from inferencesh._generated import models
out = {}
for name in models.__all__:
    cls = getattr(models, name)
    if isinstance(cls, type) and issubclass(cls, BaseModel):
        unresolved = {
            field: [info.default, info.alias, info.is_required()]
            for field, info in cls.model_fields.items()
            if isinstance(info.annotation, typing.ForwardRef)
        }
        if unresolved:
            cls.model_rebuild()
            for field, seen in unresolved.items():
                args = typing.get_args(cls.model_fields[field].annotation)
                seen.append(len(args) == 2 and type(None) in args)
            out[name] = unresolved
print(json.dumps(out))
"""
    unresolved = fresh(code)
    assert "AgentDTO" in unresolved and "TaskDTO" not in unresolved
    for name, fields in unresolved.items():
        for field, (default, alias, required, optional) in fields.items():
            assert (default, alias, required, optional) == (None, None, False, True), (name, field)


# Reads every body tolerantly and strictly; with "eager", after building every generated model
# first, as the single-module models did at import.
READ = """
import json, sys
from inferencesh._generated import models
from inferencesh._runtime.base import TOLERANT
from inferencesh._runtime.envelope import CursorListResponse
from inferencesh._runtime.pagination import SyncPage

if sys.argv[1] == "eager":
    for name in models.__all__:
        value = getattr(models, name)
        if isinstance(value, type) and hasattr(value, "model_rebuild"):
            value.model_rebuild()
generics = {"SyncPage[TaskDTO]": SyncPage[models.TaskDTO],
            "CursorListResponse[FileDTO]": CursorListResponse[models.FileDTO]}
out = {}
for key, body in json.loads(sys.stdin.read()).items():
    name = key.split(" ")[0]
    model = generics.get(name) or getattr(models, name)
    for mode, context in (("tolerant", TOLERANT), ("strict", None)):
        try:
            parsed = model.model_validate(body, context=context)
        except Exception as exc:
            out[f"{key} {mode}"] = [type(exc).__name__, str(exc).splitlines()[0]]
        else:
            out[f"{key} {mode}"] = [
                parsed.model_dump(mode="json"),
                sorted(parsed.model_fields_set),
                parsed.to_dict(),
                repr(getattr(parsed, "status", None)),
            ]
print(json.dumps(out, sort_keys=True))
"""


def bodies() -> dict[str, Any]:
    fixtures = {path.stem: json.loads(path.read_text()) for path in sorted(FIXTURES.glob("*.json"))}
    # First, before ChatDTO validates on its own: a ChatDTO read as part of another model.
    found: dict[str, Any] = {
        "ChatMessageDTO nested": {
            **fixtures["ChatMessageDTO"],
            "chat": {"id": "c0", "chat_messages": None, "children": None},
        }
    }
    found.update(fixtures)
    task = found["TaskDTO"]
    version = {"id": "v1", "env": None, "metadata": None, "flow_version": {"node_data": None}}
    app = {"id": "app_echo", "images": None, "version": version, "category": "brand-new"}
    agent = {"id": "ag1", "version": {"tools": None, "core_app": {"app": app}}}
    found["TaskDTO nested"] = {**task, "app": app, "agent": agent, "status": 99}
    found["TaskDTO empty"] = {}
    found["TaskDTO wrong types"] = {**task, "is_featured": "maybe", "workers": {"a": 1}}
    found["ChatDTO nested"] = {
        **found["ChatDTO"],
        "chat_messages": [{**found["ChatMessageDTO"], "chat": {"id": "c0", "children": None}}],
        "parent": {"id": "c0", "chat_messages": None},
    }
    found["SyncPage[TaskDTO]"] = {"items": [task, None], "next_cursor": "2", "has_next": True}
    found["CursorListResponse[FileDTO]"] = {"items": None}
    return found


@pytest.fixture(scope="module")
def reads() -> dict[str, Any]:
    stdin = json.dumps(bodies())
    lazy = fresh(READ, "lazy", stdin=stdin)
    eager = fresh(READ, "eager", stdin=stdin)
    return {"lazy": lazy, "eager": eager}


def test_every_body_reads_on_first_use_as_it_does_built_at_import(reads: dict[str, Any]) -> None:
    lazy, eager = reads["lazy"], reads["eager"]
    assert lazy.keys() == eager.keys() and len(lazy) == 2 * len(bodies())
    for key in lazy:
        assert lazy[key] == eager[key], key


def test_a_first_result_reads_nested_cycles_nulls_and_unknown_values(
    reads: dict[str, Any],
) -> None:
    dumped, fields_set, sent, status = reads["lazy"]["TaskDTO nested tolerant"]
    assert status == "<TaskStatus.UNRECOGNIZED_99: 99>"
    version = dumped["app"]["version"]
    # null collections of models that are created before the rest of their cycle read as empty
    assert (version["env"], version["metadata"]) == ({}, {})
    assert version["flow_version"]["node_data"] == {}
    assert dumped["agent"]["version"]["tools"] == []
    assert dumped["app"]["category"] == "brand-new"
    assert "app" in fields_set and sent["app"]["version"] == {
        "id": "v1",
        "env": {},
        "metadata": {},
        "flow_version": {"node_data": {}},
    }
    message = reads["lazy"]["ChatMessageDTO nested tolerant"][0]
    assert (message["chat"]["chat_messages"], message["chat"]["children"]) == ([], [])
    chat = reads["lazy"]["ChatDTO nested tolerant"][0]
    assert chat["chat_messages"][0]["chat"]["children"] == []
    assert chat["parent"]["chat_messages"] == []


def test_strict_and_tolerant_reads_keep_their_rules_on_first_use(reads: dict[str, Any]) -> None:
    lazy = reads["lazy"]
    assert lazy["TaskDTO empty strict"][0] == "ValidationError"
    assert lazy["TaskDTO empty tolerant"][0]["status"] == 0
    assert lazy["TaskDTO wrong types strict"][0] == "ValidationError"
    wrong = lazy["TaskDTO wrong types tolerant"][0]
    assert (wrong["is_featured"], wrong["workers"]) == ("maybe", {"a": 1})
    page, _, _, _ = lazy["SyncPage[TaskDTO] tolerant"]
    assert page["items"][0]["id"] == "tsk_8f2c1a9e" and page["has_next"] is True
    assert lazy["CursorListResponse[FileDTO] strict"][0]["items"] == []
