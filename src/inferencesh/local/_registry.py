"""Which apps a runtime serves, and how a worker process imports each one."""

from __future__ import annotations

import importlib.util
import inspect
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from inferencesh.local._builtin import BUILTIN_APPS

__all__ = ["AppSpec", "Registry", "parse_ref"]

DEFAULT_NAMESPACE = "local"
_REF = re.compile(r"^(?P<ns>[A-Za-z0-9][\w.-]*)/(?P<name>[A-Za-z0-9][\w.-]*)$")


def parse_ref(ref: str) -> tuple[str, str | None]:
    """``ns/name[@version][:function]`` -> (``ns/name``, function or None)."""
    base, _, function = ref.partition(":")
    base = base.split("@", 1)[0]
    return base, function or None


@dataclass(frozen=True)
class AppSpec:
    """An app the runtime can run: its ref, the import target a worker loads, its secrets."""

    ref: str
    target: str
    secrets: tuple[str, ...] = ()
    optional_secrets: tuple[str, ...] = ()
    config: dict[str, Any] = field(default_factory=lambda: {}, hash=False, compare=False)

    @property
    def namespace(self) -> str:
        return self.ref.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.ref.split("/", 1)[1]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.-]+", "-", text.lower()).strip("-") or "app"


def _check_ref(ref: str) -> str:
    if "/" not in ref:
        ref = f"{DEFAULT_NAMESPACE}/{ref}"
    if not _REF.match(ref):
        raise ValueError(f"an app ref is 'namespace/name', not {ref!r}")
    return ref


def _secrets(config: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    required: list[str] = []
    optional: list[str] = []
    entries: list[Any] = list(config.get("secrets") or [])
    for entry in entries:
        if isinstance(entry, str):
            required.append(entry)
        elif isinstance(entry, dict):
            item = cast(dict[str, Any], entry)
            if item.get("key"):
                (optional if item.get("optional") else required).append(str(item["key"]))
    return tuple(required), tuple(optional)


def spec_from_folder(folder: str | os.PathLike[str], ref: str | None = None) -> AppSpec:
    """An app folder: ``inference.py`` and an optional ``inf.yml`` (name, namespace, secrets)."""
    path = Path(folder).resolve()
    if not (path / "inference.py").is_file():
        raise ValueError(f"{path} has no inference.py")
    config: dict[str, Any] = {}
    for name in ("inf.yml", "inf.yaml"):
        if (path / name).is_file():
            import yaml  # type: ignore[import-untyped]

            loaded: Any = yaml.safe_load((path / name).read_text()) or {}
            if isinstance(loaded, dict):
                table: dict[Any, Any] = loaded  # pyright: ignore[reportUnknownVariableType]
                config = {str(key): value for key, value in table.items()}
            break
    if ref is None:
        namespace = str(config.get("namespace") or DEFAULT_NAMESPACE)
        ref = f"{_slug(namespace)}/{_slug(str(config.get('name') or path.name))}"
    required, optional = _secrets(config)
    return AppSpec(_check_ref(ref), str(path), required, optional, config)


def _import_name(cls: type) -> str:
    """How a worker process can import ``cls``'s module: by name if that finds it, else by path."""
    path = inspect.getfile(cls)
    if cls.__module__ != "__main__":
        try:
            found = importlib.util.find_spec(cls.__module__)
        except (ImportError, ValueError):
            found = None
        if found is not None and found.origin and os.path.samefile(found.origin, path):
            return cls.__module__
    return path


def spec_from_target(target: Any, ref: str | None = None, secrets: tuple[str, ...] = ()) -> AppSpec:
    """An app given as a class, a ``module:Class`` string or a folder path."""
    if isinstance(target, type):
        text = f"{_import_name(target)}:{target.__qualname__}"
        default_name = target.__name__
    else:
        text = os.fspath(cast("str | os.PathLike[str]", target))
        if ":" not in text or os.path.isdir(text):
            spec = spec_from_folder(text, ref)
            return AppSpec(spec.ref, spec.target, spec.secrets + secrets, spec.optional_secrets)
        default_name = text.rsplit(":", 1)[1]
    if ref is None:
        ref = f"{DEFAULT_NAMESPACE}/{_slug(default_name)}"
    return AppSpec(_check_ref(ref), text, secrets)


class Registry:
    """The apps of one runtime, by ref."""

    def __init__(self) -> None:
        self._apps: dict[str, AppSpec] = {
            ref: AppSpec(ref, target) for ref, target in BUILTIN_APPS.items()
        }

    def add(self, spec: AppSpec) -> AppSpec:
        """Register (or replace) an app."""
        self._apps[spec.ref] = spec
        return spec

    def remove(self, ref: str) -> None:
        """Unregister an app."""
        self._apps.pop(parse_ref(ref)[0], None)

    def get(self, ref: str) -> AppSpec | None:
        """The app for ``ns/name[@version][:function]``, or None."""
        return self._apps.get(parse_ref(ref)[0])

    def refs(self) -> list[str]:
        """Every registered ref."""
        return sorted(self._apps)
