"""pytest fixtures for code that uses inferencesh: a local runtime and a client bound to it.

Installed with the package as a pytest plugin; the fixtures need the ``server`` extra
(``pip install 'inferencesh[server]'``). In a test::

    def test_my_pipeline(inference_client):
        result = inference_client.tasks.run({"app": "infsh/echo", "input": {"message": "hi"}})
        assert result["output"] == {"message": "hi"}

Serve your own apps next to the built-in ones with an ini option (``pyproject.toml``)::

    [tool.pytest.ini_options]
    inferencesh_apps = ["myorg/resize=my_package.resize:App", "apps/summarize"]

Each entry is ``module:Class``, a folder holding ``inference.py``, or either one prefixed with
``namespace/name=`` to choose its reference. For async code, build a client from the runtime:
``async with async_inference(api_key=..., base_url=inference_runtime.base_url) as client``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from inferencesh import Inference
    from inferencesh.local import LocalRuntime

__all__ = ["TEST_API_KEY", "inference_client", "inference_runtime"]

TEST_API_KEY = "inf_local_pytest"
SERVER_EXTRA = "pip install 'inferencesh[server]'"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "inferencesh_apps",
        "apps the inference_runtime fixture serves: module:Class or a folder, "
        "optionally prefixed with namespace/name=",
        type="linelist",
        default=[],
    )


@pytest.fixture(scope="session")
def inference_runtime(pytestconfig: pytest.Config) -> Iterator[LocalRuntime]:
    """A local inference.sh runtime on a free loopback port, shared by the test session."""
    apps: list[str] = pytestconfig.getini("inferencesh_apps")
    with _runtime_class()(port=0, apps=apps) as runtime:
        yield runtime


def _runtime_class() -> type[LocalRuntime]:
    try:
        from inferencesh.local import LocalRuntime
    except ImportError as exc:
        missing = f"no module named {exc.name!r}" if exc.name else str(exc)
    else:
        return LocalRuntime
    # Failed outside the except, so the report carries no chained ImportError.
    pytest.fail(
        f"the inference_runtime fixture needs the server extra: {SERVER_EXTRA} ({missing})",
        pytrace=False,
    )


@pytest.fixture
def inference_client(inference_runtime: LocalRuntime) -> Iterator[Inference]:
    """A blocking client for ``inference_runtime``, closed after the test."""
    from inferencesh import inference

    with inference(api_key=TEST_API_KEY, base_url=inference_runtime.base_url) as client:
        yield client
