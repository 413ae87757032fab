"""Every public sync call has an async twin with the same name and parameters."""

from __future__ import annotations

import inspect

import pytest

from inferencesh import (
    Agent,
    AsyncAgent,
    AsyncInference,
    AsyncSession,
    AsyncTaskStream,
    Inference,
    Session,
    TaskStream,
)
from inferencesh._async.agent import AsyncAgents
from inferencesh._async.files import AsyncFiles
from inferencesh._async.tasks import AsyncTasks
from inferencesh._generated.sync.agent import Agents
from inferencesh._generated.sync.files import Files
from inferencesh._generated.sync.tasks import Tasks
from inferencesh._sessions import AsyncSessions, Sessions

PAIRS = [
    (Inference, AsyncInference),
    (Tasks, AsyncTasks),
    (Files, AsyncFiles),
    (Sessions, AsyncSessions),
    (Session, AsyncSession),
    (TaskStream, AsyncTaskStream),
    (Agent, AsyncAgent),
    (Agents, AsyncAgents),
]


def public(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls)
        if not name.startswith("_") and callable(member)
    }


@pytest.mark.parametrize(("sync", "async_"), PAIRS, ids=[p[0].__name__ for p in PAIRS])
def test_async_twin_has_the_same_methods_and_parameters(sync: type, async_: type) -> None:
    sync_methods, async_methods = public(sync), public(async_)
    assert sync_methods.keys() == async_methods.keys()
    for name, signature in sync_methods.items():
        assert list(signature.parameters) == list(async_methods[name].parameters), name
        for param, value in signature.parameters.items():
            assert value.default == async_methods[name].parameters[param].default, (name, param)


def test_namespaces_and_properties_match() -> None:
    for name in ("tasks", "files", "sessions", "base_url", "max_retries"):
        assert hasattr(Inference, name) and hasattr(AsyncInference, name)
