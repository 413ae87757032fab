"""Which apps a runtime serves, how a ref names one, and how a worker process imports each.

A ref is read as the platform reads it: ``name`` (in the caller's namespace, the runtime's
default one), ``namespace/name``, ``namespace/name@version`` (a version the runtime knows), each
optionally followed by ``:function``. Without ``@version`` (or with ``@latest``) a ref means the
app's current version (the one registered last); so does any version of an app that has only
one. An app with several versions answers only to the ones it has.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import inspect
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from inferencesh.local._builtin import BUILTIN_APPS

__all__ = [
    "DEFAULT_NAMESPACE",
    "AppRef",
    "AppSpec",
    "Registry",
    "UnknownApp",
    "parse_ref",
    "version_id",
]

DEFAULT_NAMESPACE = "local"
_PART = r"[A-Za-z0-9][\w.-]*"
_REF = re.compile(rf"^(?:(?P<ns>{_PART})/)?(?P<name>{_PART})(?:@(?P<version>{_PART}))?$")


@dataclass(frozen=True)
class AppRef:
    """A parsed app ref."""

    namespace: str | None
    name: str
    version: str | None
    function: str | None

    def base(self, default_namespace: str) -> str:
        """``namespace/name``."""
        return f"{self.namespace or default_namespace}/{self.name}"


def parse_ref(ref: str) -> AppRef:
    """``[namespace/]name[@version][:function]``; ValueError for anything else."""
    text, _, function = ref.strip().partition(":")
    match = _REF.match(text)
    if match is None or (function and not re.fullmatch(r"[A-Za-z_]\w*", function)):
        raise ValueError(f"an app ref is '[namespace/]name[@version][:function]', not {ref!r}")
    return AppRef(match["ns"], match["name"], match["version"], function or None)


@dataclass(frozen=True)
class AppSpec:
    """An app the runtime can run: its ref, version, import target and secrets."""

    ref: str
    target: str
    secrets: tuple[str, ...] = ()
    optional_secrets: tuple[str, ...] = ()
    config: dict[str, Any] = field(default_factory=lambda: {}, hash=False, compare=False)
    version: str | None = None

    @property
    def namespace(self) -> str:
        return self.ref.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.ref.split("/", 1)[1]

    @property
    def key(self) -> str:
        """``namespace/name@version`` (just the ref when the version has no name)."""
        return f"{self.ref}@{self.version}" if self.version else self.ref


def version_id(spec: AppSpec) -> str:
    """The id of an app version on this runtime (stable across restarts)."""
    text = f"{spec.ref}\0{spec.version or spec.target}"
    return f"ver_{hashlib.sha256(text.encode()).hexdigest()[:20]}"


class UnknownApp(LookupError):
    """No app answers to a ref; ``closest`` are the known refs that look most like it."""

    def __init__(self, ref: str, closest: list[str], detail: str | None = None) -> None:
        hint = f"; closest: {', '.join(closest)}" if closest else ""
        super().__init__(detail or f"App not found: {ref}{hint}")
        self.ref = ref
        self.closest = closest


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.-]+", "-", text.lower()).strip("-") or "app"


def _check_ref(ref: str, namespace: str) -> tuple[str, str | None]:
    """``(namespace/name, version)`` of a ref given at registration."""
    try:
        parsed = parse_ref(ref)
    except ValueError:
        raise ValueError(f"an app ref is 'namespace/name[@version]', not {ref!r}") from None
    if parsed.function:
        raise ValueError(f"an app ref names no function: {ref!r}")
    return parsed.base(namespace), parsed.version


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


def spec_from_folder(
    folder: str | os.PathLike[str], ref: str | None = None, namespace: str = DEFAULT_NAMESPACE
) -> AppSpec:
    """An app folder: ``inference.py`` and an optional ``inf.yml`` (name, namespace, version,
    secrets). A folder named ``name@version`` gives both when ``inf.yml`` does not."""
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
    version: str | None = None
    if ref is None:
        folder_name, _, folder_version = path.name.partition("@")
        space = _slug(str(config.get("namespace") or namespace))
        ref = f"{space}/{_slug(str(config.get('name') or folder_name))}"
        version = str(config.get("version") or folder_version or "") or None
        if version is not None:
            ref = f"{ref}@{version}"
    base, version = _check_ref(ref, namespace)
    required, optional = _secrets(config)
    return AppSpec(base, str(path), required, optional, config, version)


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


def spec_from_target(
    target: Any,
    ref: str | None = None,
    secrets: tuple[str, ...] = (),
    namespace: str = DEFAULT_NAMESPACE,
) -> AppSpec:
    """An app given as a class, a ``module:Class`` string or a folder path."""
    if isinstance(target, type):
        text = f"{_import_name(target)}:{target.__qualname__}"
        default_name = target.__name__
    else:
        text = os.fspath(cast("str | os.PathLike[str]", target))
        if ":" not in text or os.path.isdir(text):
            spec = spec_from_folder(text, ref, namespace)
            return AppSpec(
                spec.ref,
                spec.target,
                spec.secrets + secrets,
                spec.optional_secrets,
                spec.config,
                spec.version,
            )
        default_name = text.rsplit(":", 1)[1]
    base, version = _check_ref(ref or _slug(default_name), namespace)
    return AppSpec(base, text, secrets, version=version)


class Registry:
    """The apps of one runtime: each ref's versions, the current one last."""

    def __init__(self, namespace: str = DEFAULT_NAMESPACE) -> None:
        self.namespace = namespace
        self._apps: dict[str, list[AppSpec]] = {
            ref: [AppSpec(ref, target)] for ref, target in BUILTIN_APPS.items()
        }

    def has(self, spec: AppSpec) -> bool:
        """Whether an app with this ref and version is registered."""
        return any(known.version == spec.version for known in self._apps.get(spec.ref, []))

    def add(self, spec: AppSpec) -> AppSpec:
        """Register an app version (replacing one with the same version); it becomes current."""
        versions = [
            known for known in self._apps.get(spec.ref, []) if known.version != spec.version
        ]
        self._apps[spec.ref] = [*versions, spec]
        return spec

    def remove(self, ref: str) -> None:
        """Unregister every version of an app."""
        self._apps.pop(ref, None)

    def resolve(self, ref: str) -> tuple[AppSpec, str | None]:
        """The app a ref names and the function it names; UnknownApp when there is none."""
        try:
            parsed = parse_ref(ref)
        except ValueError as exc:
            raise UnknownApp(ref, self._closest(ref), str(exc)) from None
        base = parsed.base(self.namespace)
        versions = self._apps.get(base)
        if not versions:
            raise UnknownApp(ref, self._closest(base))
        if parsed.version in (None, "latest") or len(versions) == 1:
            # An app with one version answers to any version, as its current one.
            return versions[-1], parsed.function
        for spec in versions:
            names = (spec.version, version_id(spec), version_id(spec)[4:12])
            if parsed.version in names:
                return spec, parsed.function
        known = [f"{base}@{spec.version or version_id(spec)[4:12]}" for spec in versions]
        detail = f"App not found: {ref} ({base} has no version {parsed.version!r}; known: "
        raise UnknownApp(ref, known, f"{detail}{', '.join(known)})")

    def specs(self) -> list[AppSpec]:
        """Every registered app version."""
        return [spec for ref in sorted(self._apps) for spec in self._apps[ref]]

    def refs(self) -> list[str]:
        """Every registered ref (``namespace/name``)."""
        return sorted(self._apps)

    def registered(self) -> list[str]:
        """Every registered ref, in the order they were first registered."""
        return list(self._apps)

    def _closest(self, wanted: str) -> list[str]:
        refs = self.refs()
        close = difflib.get_close_matches(wanted, refs, n=3, cutoff=0.5)
        name = wanted.rsplit("/", 1)[-1]
        by_name = [ref for ref in refs if ref.rsplit("/", 1)[-1] == name]
        return list(dict.fromkeys([*by_name, *close]))[:3]
