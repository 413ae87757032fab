"""internal_tools(): only capabilities of the generated InternalToolsConfig, set ones sent."""

from __future__ import annotations

import pytest

from inferencesh import AgentConfig, InvalidInputError, internal_tools
from inferencesh.tools import as_internal_tools
from inferencesh.types import InternalToolsConfig

OFFERED = [
    "plan",
    "memory",
    "widget",
    "finish",
    "skills",
    "meta",
    "artifact",
    "agent",
    "remote",
    "knowledge",
    "wait",
]


def test_empty_builder_sends_nothing() -> None:
    assert internal_tools().to_dict() == {}


@pytest.mark.parametrize("capability", OFFERED)
def test_each_capability_sets_its_field(capability: str) -> None:
    builder = internal_tools()
    getattr(builder, capability)()
    assert builder.to_dict() == {capability: True}
    getattr(builder, capability)(False)
    assert builder.to_dict() == {capability: False}


def test_every_generated_field_is_offered_or_deliberately_left_out() -> None:
    left_out = {"host_context", "spawn"}
    assert set(InternalToolsConfig.model_fields) == set(OFFERED) | left_out
    for name in left_out | {"web_search", "code_execution", "image_generation"}:
        assert not hasattr(internal_tools(), name)


def test_all_and_none() -> None:
    everything = {"plan": True, "memory": True, "widget": True, "finish": True}
    assert internal_tools().all().to_dict() == everything
    assert internal_tools().all().none().meta().to_dict() == {
        "plan": False,
        "memory": False,
        "widget": False,
        "finish": False,
        "meta": True,
    }


def test_build_is_the_generated_model_and_fits_agent_config() -> None:
    config = internal_tools().plan().memory().build()
    assert isinstance(config, InternalToolsConfig)
    agent = AgentConfig.model_validate({"internal_tools": config})
    assert agent.to_wire() == {"internal_tools": {"plan": True, "memory": True}}


def test_as_internal_tools_accepts_builder_model_and_dict() -> None:
    builder = internal_tools().finish()
    assert as_internal_tools(builder).model_dump(exclude_unset=True) == {"finish": True}
    model = builder.build()
    assert as_internal_tools(model) is model
    assert as_internal_tools({"plan": True}).plan is True
    with pytest.raises(InvalidInputError, match="internal_tools must be"):
        as_internal_tools("plan")  # type: ignore[arg-type]


def test_flags_must_be_bools() -> None:
    with pytest.raises(InvalidInputError, match="internal_tools plan must be True or False"):
        internal_tools().plan("yes")  # type: ignore[arg-type]
