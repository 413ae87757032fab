"""A local runtime serving the built-in apps and the gallery test app, and a way to generate a
typed module from it with the command and import it."""

from __future__ import annotations

import importlib.util
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from inferencesh import AsyncInference, Inference
from inferencesh._cli import main
from inferencesh.local import LocalRuntime

GALLERY = Path(__file__).parent / "apps" / "gallery"
KEY = "inf_local_typed"

Generate = Callable[..., ModuleType]


@pytest.fixture(scope="session")
def runtime() -> Iterator[LocalRuntime]:
    with LocalRuntime(heartbeat_interval=0.2, apps=[("tests/gallery", str(GALLERY))]) as rt:
        yield rt


@pytest.fixture
def client(runtime: LocalRuntime) -> Iterator[Inference]:
    with Inference(api_key=KEY, base_url=runtime.base_url, strict_responses=True) as c:
        yield c


@pytest.fixture
async def aclient(runtime: LocalRuntime) -> AsyncIterator[AsyncInference]:
    async with AsyncInference(api_key=KEY, base_url=runtime.base_url, strict_responses=True) as c:
        yield c


def import_file(path: Path, name: str | None = None) -> ModuleType:
    """Import a generated module under a name of its own (registered, as pydantic needs)."""
    name = name or f"typed_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def generate_into(folder: Path, runtime: LocalRuntime, ref: str, *options: str) -> ModuleType:
    """Run ``inferencesh types REF -o FILE`` against ``runtime`` and import FILE."""
    path = folder / f"typed_{uuid.uuid4().hex[:12]}.py"
    argv = ["types", ref, "-o", str(path), "-q", "--base-url", runtime.base_url]
    assert main([*argv, "--api-key", KEY, *options]) == 0
    return import_file(path, path.stem)


@pytest.fixture
def generate(runtime: LocalRuntime, tmp_path: Path) -> Iterator[Generate]:
    """``generate("infsh/counter", "--function", "process")``: the command's module, imported."""
    names: list[str] = []

    def run(ref: str, *options: str) -> ModuleType:
        module = generate_into(tmp_path, runtime, ref, *options)
        names.append(module.__name__)
        return module

    yield run
    for name in names:
        sys.modules.pop(name, None)


@pytest.fixture(scope="session")
def gallery(runtime: LocalRuntime, tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """The typed module of the gallery app, generated once."""
    return generate_into(tmp_path_factory.mktemp("gallery"), runtime, "tests/gallery")


@pytest.fixture(scope="session")
def counter(runtime: LocalRuntime, tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """The typed module of the built-in counter app (it has a setup), generated once."""
    return generate_into(tmp_path_factory.mktemp("counter"), runtime, "infsh/counter")
