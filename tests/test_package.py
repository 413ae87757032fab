"""The package surface: light import, lazy names that all resolve, typed marker."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import inferencesh


def loaded_after(code: str) -> set[str]:
    script = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    return set(json.loads(out))


def test_import_loads_no_models_runtime_or_app_layer() -> None:
    modules = loaded_after("import inferencesh")
    heavy = {
        "inferencesh._generated.models",
        "inferencesh.types",
        "inferencesh.app",
        "inferencesh.local",
        "starlette",
        "uvicorn",
    }
    assert not (heavy & modules)


def test_creating_clients_loads_no_model_runtime() -> None:
    # Reading responses needs pydantic's model machinery; a client only loads it on first use.
    modules = loaded_after(
        "import inferencesh\n"
        "inferencesh.inference(api_key='k', base_url='http://127.0.0.1:9', strict_responses=True)\n"
        "inferencesh.async_inference(api_key='k', base_url='http://127.0.0.1:9')"
    )
    assert not ({"inferencesh._runtime.base", "pydantic.main"} & modules)


def test_every_public_name_is_listed_and_resolves() -> None:
    lazy = set(inferencesh._LAZY)
    assert set(inferencesh.__all__) == lazy | {"__version__"}
    for name in sorted(lazy):
        assert getattr(inferencesh, name) is not None, name
    assert dir(inferencesh) == inferencesh.__all__


def test_types_module_exports_models_and_aliases() -> None:
    from inferencesh import types

    assert "TaskDTO" in types.__all__ and "IntegrationProvider" in types.__all__
    assert "CursorListResponse" in types.__all__
    assert all(hasattr(types, name) for name in types.__all__)


def test_package_is_typed() -> None:
    assert (Path(inferencesh.__file__).parent / "py.typed").exists()
