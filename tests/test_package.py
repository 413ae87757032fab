"""The package surface: light import, lazy names that all resolve, typed marker, metadata and
the sdist."""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import inferencesh

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


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


def test_version_has_one_source() -> None:
    assert importlib.metadata.version("inferencesh") == inferencesh.__version__
    with (ROOT / "pyproject.toml").open("rb") as handle:
        project = tomllib.load(handle)["project"]
    assert "version" not in project and "version" in project["dynamic"]


def test_metadata_names_license_pythons_and_typing() -> None:
    metadata = importlib.metadata.metadata("inferencesh")
    assert metadata["License-Expression"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    classifiers = set(metadata.get_all("Classifier") or [])
    versions = {f"Programming Language :: Python :: 3.{minor}" for minor in (10, 11, 12, 13)}
    assert versions | {"Typing :: Typed"} <= classifiers
    # PEP 639: with a license expression, a license classifier is an error for the index.
    assert not any(item.startswith("License ::") for item in classifiers)
    urls = metadata.get_all("Project-URL") or []
    assert any(url.startswith("Homepage, https://") for url in urls)
    assert metadata["Author"]
    requires = metadata.get_all("Requires-Dist") or []
    assert any(req.startswith("rich") and "extra == 'cli'" in req for req in requires)


def test_sdist_ships_sources_and_no_caches(tmp_path: Path) -> None:
    from hatchling.builders.sdist import SdistBuilder

    # A copy of the working tree (its caches included), plus a cache of every kind; without
    # .gitignore, as an unpacked sdist is: the build configuration alone must keep caches out.
    tree = tmp_path / "tree"
    ignored = shutil.ignore_patterns(".venv", ".matrix", ".git", ".gitignore", ".mypy_cache")
    shutil.copytree(ROOT, tree, ignore=ignored)
    for cache in ("src/inferencesh/__pycache__", ".pytest_cache", ".hypothesis", ".mypy_cache"):
        (tree / cache).mkdir(parents=True, exist_ok=True)
        (tree / cache / "entry.pyc").write_bytes(b"cached")
    [built] = SdistBuilder(str(tree)).build(directory=str(tmp_path / "dist"))
    with tarfile.open(built) as archive:
        names = [name.split("/", 1)[1] for name in archive.getnames() if "/" in name]
    top = {name.split("/", 1)[0] for name in names}
    assert {"src", "tests", "schema", "codegen", "LICENSE", "pyproject.toml", "Makefile"} <= top
    assert "src/inferencesh/py.typed" in names
    cached = re.compile(r"(^|/)(__pycache__|\.\w+_cache|\.hypothesis|\.venv|\.matrix)(/|$)|\.pyc$")
    assert not [name for name in names if cached.search(name)]
