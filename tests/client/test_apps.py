"""``client.apps``: the generated apps endpoints, on both clients."""

from __future__ import annotations

from typing import Any

import pytest

from inferencesh import Inference, NotFoundError
from inferencesh.types import AppDTO


def test_get_by_name_gives_the_app_and_its_schema(client: Inference) -> None:
    app = client.apps.get_by_name("infsh", "stream")
    assert isinstance(app, AppDTO)
    assert app.namespace == "infsh" and app.name == "stream"
    assert app.version is not None
    assert "text" in app.version.input_schema["properties"]
    assert client.apps is client.apps  # one namespace object per client


def test_an_unknown_app_is_not_found(client: Inference) -> None:
    with pytest.raises(NotFoundError):
        client.apps.get_by_name("infsh", "no-such-app")


async def test_async_client_has_the_same_namespace(aclient: Any) -> None:
    app = await aclient.apps.get_by_name("infsh", "echo")
    assert isinstance(app, AppDTO) and app.name == "echo"
