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
import zipfile
from pathlib import Path
from typing import Any

import pytest

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


def test_importing_an_enum_builds_no_model() -> None:
    modules = loaded_after("from inferencesh import TaskStatus")
    models = {m for m in modules if m.startswith("inferencesh._generated.models.")}
    assert models == {"inferencesh._generated.models.task_status"}
    assert "pydantic.main" not in modules


# A first use in a fresh interpreter: a client, a created task, then a full task, over HTTP.
FIRST_USE = """
import json, sys
from pydantic import BaseModel
import inferencesh

def built():
    return sorted(
        value.__name__
        for name, module in list(sys.modules.items())
        if name.startswith("inferencesh._generated.models.")
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, BaseModel) and value.__pydantic_complete__
    )

client = inferencesh.inference(api_key="k", base_url=sys.argv[1])
created = client.tasks.run({"app": "infsh/echo", "input": {"text": "hi"}}, wait=False)
after_run = built()
task = client.tasks.get(created.id)
print(json.dumps({
    "created": [type(created).__name__, created.id, repr(created.status)],
    "after_run": after_run,
    "task": [type(task).__name__, repr(task.status), task.output, task["app_id"]],
    "app": [type(task.app).__name__, task.app.version.env, task.app.version.metadata],
    "logs": [type(log).__name__ for log in task.logs],
    "after_get": built(),
}))
"""


def test_a_first_result_validates_as_before_in_a_fresh_interpreter() -> None:
    from tests.endpoints._loopback import Loopback, Seen, envelope

    fixtures = ROOT / "tests" / "codegen" / "fixtures"
    created = json.loads((fixtures / "TaskResultDTO.json").read_text())
    task = json.loads((fixtures / "TaskDTO.json").read_text())
    version = {**task, "id": "ver_3c1d", "env": None, "metadata": None, "input_schema": {}}
    app = {**task, "id": "app_echo", "version": version, "category": "text", "images": {}}

    def answer(seen: Seen) -> Any:
        if seen.method == "POST" and seen.path == "/apps/run":
            return envelope(created)
        return envelope({**task, "id": seen.path.rsplit("/", 1)[1], "app": app})

    with Loopback(answer) as server:
        done = subprocess.run(
            [sys.executable, "-c", FIRST_USE, server.base_url],
            capture_output=True,
            text=True,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["created"] == ["TaskResultDTO", created["id"], "<TaskStatus.COMPLETED: 10>"]
    # The first result built its own validator and that of the body sent, nothing else.
    assert out["after_run"] == ["ApiAppRunRequest", "TaskResultDTO"]
    assert out["task"] == ["TaskDTO", "<TaskStatus.COMPLETED: 10>", task["output"], "app_echo"]
    # AppDTO and AppVersionDTO come before TaskDTO in their cycle: read nested, null maps are {}.
    assert out["app"] == ["AppDTO", {}, {}]
    assert out["logs"] == ["TaskLog"]
    assert out["after_get"] == ["ApiAppRunRequest", "TaskDTO", "TaskResultDTO"]


def test_without_the_server_extra_the_local_runtime_says_what_to_install() -> None:
    script = (
        "import sys\n"
        "sys.modules['uvicorn'] = None  # as if the server extra were not installed\n"
        "try:\n"
        "    from inferencesh.local import LocalRuntime\n"
        "except ModuleNotFoundError as exc:\n"
        "    print(exc.name, '|', exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    name, message = out.strip().split(" | ")
    assert name == "uvicorn"
    assert "pip install 'inferencesh[server]'" in message and "uvicorn" in message


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
    urls = dict(url.split(", ", 1) for url in metadata.get_all("Project-URL") or [])
    assert set(urls) >= {"Homepage", "Documentation", "Source"}
    assert all(url.startswith("https://") for url in urls.values())
    assert metadata["Author"]
    assert metadata["Requires-Python"] == ">=3.10"
    assert metadata["Description-Content-Type"] == "text/markdown"


def test_each_user_extra_pulls_in_what_it_is_for() -> None:
    metadata = importlib.metadata.metadata("inferencesh")
    requires = metadata.get_all("Requires-Dist") or []

    def extra(name: str) -> set[str]:
        marker = f"extra == '{name}'"
        return {re.split(r"[<>=!;\[ ]", req, maxsplit=1)[0] for req in requires if marker in req}

    assert {"server", "cli", "types"} <= set(metadata.get_all("Provides-Extra") or [])
    assert extra("server") == {"starlette", "uvicorn", "pyyaml"}
    assert extra("cli") == {"rich"}
    assert extra("types") == {"datamodel-code-generator"}
    # The dev extra names the types extra; the built metadata must carry it resolved.
    assert "datamodel-code-generator" in extra("dev")
    assert not [req for req in requires if req.startswith("inferencesh")]


def makefile_paths() -> set[str]:
    """The paths the Makefile's lint and typecheck recipes run on."""
    recipe = re.compile(r"^\t\$\(BIN\)/(?:ruff check|ruff format --check|mypy) (.+)$", re.M)
    return {
        path for line in recipe.findall((ROOT / "Makefile").read_text()) for path in line.split()
    }


CACHED = re.compile(r"(^|/)(__pycache__|\.\w+_cache|\.hypothesis|\.venv|\.matrix)(/|$)|\.pyc$")


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the working tree (its caches included), plus a cache of every kind; without
    .gitignore, as an unpacked sdist is: the build configuration alone must keep caches out."""
    tree = tmp_path_factory.mktemp("package") / "tree"
    ignored = shutil.ignore_patterns(
        ".venv", ".matrix", ".interop", ".git", ".gitignore", ".mypy_cache", "dist"
    )
    shutil.copytree(ROOT, tree, ignore=ignored)
    for cache in ("src/inferencesh/__pycache__", ".pytest_cache", ".hypothesis", ".mypy_cache"):
        (tree / cache).mkdir(parents=True, exist_ok=True)
        (tree / cache / "entry.pyc").write_bytes(b"cached")
    (tree / "src" / "inferencesh" / "stray.pyc").write_bytes(b"cached")
    return tree


def test_sdist_ships_sources_and_no_caches(tree: Path, tmp_path: Path) -> None:
    from hatchling.builders.sdist import SdistBuilder

    [built] = SdistBuilder(str(tree)).build(directory=str(tmp_path))
    with tarfile.open(built) as archive:
        names = [name.split("/", 1)[1] for name in archive.getnames() if "/" in name]
    top = {name.split("/", 1)[0] for name in names}
    assert {"src", "tests", "schema", "codegen", "LICENSE", "pyproject.toml", "Makefile"} <= top
    assert {"README.md", ".ci/matrix", "src/inferencesh/py.typed"} <= set(names)
    # An unpacked sdist runs `make lint` and `make typecheck`: every path they name is there.
    assert {"src", "tests", "examples"} <= makefile_paths()
    assert makefile_paths() <= top
    assert not [name for name in names if CACHED.search(name)]


def test_wheel_ships_the_typed_package_its_license_and_entry_points(
    tree: Path, tmp_path: Path
) -> None:
    from hatchling.builders.wheel import WheelBuilder

    [built] = WheelBuilder(str(tree)).build(directory=str(tmp_path))
    with zipfile.ZipFile(built) as archive:
        names = archive.namelist()
        info = next(name.split("/", 1)[0] for name in names if ".dist-info/" in name)
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
        license_text = archive.read(f"{info}/licenses/LICENSE").decode()
    assert {name.split("/", 1)[0] for name in names} == {"inferencesh", info}
    assert "inferencesh/py.typed" in names
    assert license_text.startswith("MIT License")
    assert not [name for name in names if CACHED.search(name)]
    assert "inferencesh = inferencesh.__main__:main" in entry_points.split("[pytest11]")[0]
    assert "inferencesh = inferencesh.testing" in entry_points.split("[pytest11]")[1]
