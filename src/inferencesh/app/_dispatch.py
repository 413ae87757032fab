"""How a runtime drives an app: find its functions, call setup and run the way the app wrote them.

Apps in the wild write ``setup(self)``, ``setup(self, metadata)`` or ``setup(self, config)``, and
``run(self, input)`` or ``run(self, input, metadata)``; any public async method is a function
selectable by name, and one written as an async generator streams progress.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
import typing
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from inferencesh.app._file import File
from inferencesh.app._models import BaseApp, Metadata

__all__ = ["AppHandle", "FunctionInfo", "load_app_class"]

_LIFECYCLE = {"setup", "unload", "on_cancel"}

Progress = Callable[[Any], Awaitable[None]]


def load_app_class(target: str) -> type[BaseApp]:
    """Import an app: ``module:Class``, ``file.py[:Class]`` or a folder with ``inference.py``."""
    module_name, _, class_name = target.partition(":")
    if os.path.isdir(module_name):
        module_name = os.path.join(module_name, "inference.py")
    if module_name.endswith(".py") or os.sep in module_name:
        path = Path(module_name).resolve()
        sys.path.insert(0, str(path.parent))
        spec = importlib.util.spec_from_file_location(f"_infsh_app_{path.parent.name}", path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(module_name)
    if class_name:
        found: Any = module
        for part in class_name.split("."):
            found = getattr(found, part)
        if not (isinstance(found, type) and issubclass(found, BaseApp)):
            raise TypeError(f"{target} is not a BaseApp subclass")
        return found
    candidates = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, BaseApp)
        and value is not BaseApp
        and value.__module__ == module.__name__
    ]
    named = [value for value in candidates if value.__name__ == "App"]
    if named or len(candidates) == 1:
        return (named or candidates)[0]
    raise ImportError(f"{target}: expected one BaseApp subclass (or one named App)")


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception:  # an annotation that does not resolve is treated as absent
        return {}


def _model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _is_metadata(name: str, annotation: Any) -> bool:
    model = _model(annotation)
    return (model is not None and issubclass(model, Metadata)) or (
        model is None and name == "metadata"
    )


@dataclass(frozen=True)
class FunctionInfo:
    """One callable function of an app."""

    name: str
    input_model: type[BaseModel] | None
    output_model: type[BaseModel] | None
    wants_metadata: bool
    streaming: bool

    def schema(self) -> dict[str, Any]:
        """``{name, input_schema, output_schema, kind}`` as the apps endpoint lists it."""
        return {
            "name": self.name,
            "input_schema": self.input_model.model_json_schema() if self.input_model else {},
            "output_schema": self.output_model.model_json_schema() if self.output_model else {},
            "kind": "run",
        }


def _function_info(name: str, fn: Callable[..., Any]) -> FunctionInfo | None:
    params = list(inspect.signature(fn).parameters.values())[1:]
    if not params:
        return None
    hints = _hints(fn)
    output: Any = hints.get("return")
    streaming = inspect.isasyncgenfunction(fn)
    if streaming and typing.get_args(output):
        output = typing.get_args(output)[0]
    return FunctionInfo(
        name=name,
        input_model=_model(hints.get(params[0].name)),
        output_model=_model(output),
        wants_metadata=any(_is_metadata(p.name, hints.get(p.name)) for p in params[1:]),
        streaming=streaming,
    )


def _files_in(value: Any, found: list[tuple[str, File]], where: str = "input") -> None:
    if isinstance(value, File):
        found.append((where, value))
    elif isinstance(value, BaseModel):
        for key in type(value).model_fields:
            _files_in(getattr(value, key), found, f"{where}.{key}")
        for key, extra in (value.__pydantic_extra__ or {}).items():
            _files_in(extra, found, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(typing.cast(list[Any], value)):
            _files_in(item, found, f"{where}.{index}")
    elif isinstance(value, dict):
        items: dict[Any, Any] = value  # pyright: ignore[reportUnknownVariableType]
        for key, item in items.items():
            _files_in(item, found, f"{where}.{key}")


def serialize_output(value: Any) -> tuple[Any, list[str]]:
    """The JSON form of a function's result, and the local paths of the files in it."""
    found: list[tuple[str, File]] = []
    _files_in(value, found)
    files = [file for _, file in found]
    if isinstance(value, BaseModel):
        data = value.model_dump(mode="json", by_alias=True)
    else:
        data = to_jsonable_python(value, fallback=str)
    return data, [file.path for file in files if file.path]


def _use_upload(file: File, known: dict[str, Any]) -> None:
    if file.names_local_path:
        # What the caller's path said about the file is not about this one.
        file.filename = file.content_type = file.size = None
        file.names_local_path = False
    file.path = str(known["path"])
    file.filename = file.filename or known.get("filename")
    file.content_type = file.content_type or known.get("content_type")
    size = known.get("size")
    file.size = size if isinstance(size, int) else file.size


class AppHandle:
    """A loaded app class and the way to call it."""

    def __init__(self, app_class: type[BaseApp]) -> None:
        self.app_class = app_class
        self.app: BaseApp | None = None
        self.functions: dict[str, FunctionInfo] = {}
        for name in dir(app_class):
            if name.startswith("_") or name in _LIFECYCLE or hasattr(BaseModel, name):
                continue
            fn = getattr(app_class, name)
            owner = next((c for c in app_class.__mro__ if name in vars(c)), BaseApp)
            if owner is BaseApp or not issubclass(owner, BaseApp):
                continue
            if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
                info = _function_info(name, fn)
                if info is not None:
                    self.functions[name] = info

    @property
    def default_function(self) -> str:
        """``run`` when the app has it, else its first function."""
        declared = getattr(self.app_class, "default_function", None)
        if isinstance(declared, str) and declared in self.functions:
            return declared
        return "run" if "run" in self.functions or not self.functions else min(self.functions)

    def _setup_params(self) -> list[tuple[str, Any]]:
        fn = self.app_class.setup
        hints = _hints(fn)
        params = list(inspect.signature(fn).parameters.values())[1:]
        plain = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        return [(p.name, hints.get(p.name)) for p in params if p.kind in plain]

    def describe(self) -> dict[str, Any]:
        """Schemas of the app: ``input_schema``, ``output_schema``, ``setup_schema``, functions."""
        setup_schema: dict[str, Any] = {}
        for name, annotation in self._setup_params():
            model = _model(annotation)
            if model is not None and not _is_metadata(name, annotation):
                setup_schema = model.model_json_schema()
        functions = {name: info.schema() for name, info in self.functions.items()}
        default = functions.get(self.default_function, {})
        return {
            "input_schema": default.get("input_schema", {}),
            "output_schema": default.get("output_schema", {}),
            "setup_schema": setup_schema,
            "functions": functions,
            "default_function": self.default_function,
        }

    async def setup(self, setup: dict[str, Any] | None, metadata: Metadata) -> None:
        """Create the app object and run its ``setup`` with the arguments it asks for."""
        self.app = self.app_class()
        args: list[Any] = []
        for name, annotation in self._setup_params():
            model = _model(annotation)
            if _is_metadata(name, annotation):
                args.append(metadata)
            elif model is not None:
                args.append(model.model_validate(setup or {}))
            else:
                args.append(setup or {})
        await self.app.setup(*args)

    async def prepare(
        self, function: str, data: Any, uploads: dict[str, dict[str, Any]] | None = None
    ) -> tuple[FunctionInfo, Any]:
        """Validate the input of ``function`` and fetch the files it names.

        With ``uploads`` (a runtime's own files: ``{uri: {path, filename, content_type,
        size}}``), a file given by one of those URIs is read from its path, and a file that
        names a local path is refused: a caller never gets the runtime's disk read for it.
        """
        info = self.functions.get(function)
        if info is None:
            known = ", ".join(sorted(self.functions)) or "none"
            raise LookupError(f"function {function!r} not found (the app has: {known})")
        value: Any = data if data is not None else {}
        if info.input_model is not None:
            value = info.input_model.model_validate(value)
        found: list[tuple[str, File]] = []
        _files_in(value, found)
        for where, file in found:
            if uploads is not None:
                upload = uploads.get(file.uri or "")
                if upload is not None:
                    _use_upload(file, upload)
                    continue
                if file.names_local_path:
                    named = file.uri or file.path
                    raise PermissionError(
                        f"{where}: {named!r} names a path on the runtime's machine, which apps"
                        " never read for a caller; pass the uri of a file uploaded to this"
                        " runtime (POST /files), a URL or a data: URI"
                    )
            await file.download()
        return info, value

    async def call(
        self, info: FunctionInfo, value: Any, metadata: Metadata, on_progress: Progress
    ) -> Any:
        """Call a prepared function; an async generator reports each yield to ``on_progress``."""
        assert self.app is not None, "setup() was not called"
        fn = getattr(self.app, info.name)
        args: list[Any] = [value, metadata] if info.wants_metadata else [value]
        if not info.streaming:
            return await fn(*args)
        stream: AsyncIterator[Any] = fn(*args)
        last: Any = None
        produced = False
        async for item in stream:
            produced, last = True, item
            await on_progress(item)
        if not produced:
            raise RuntimeError(f"{info.name} finished without yielding any output")
        return last

    async def on_cancel(self) -> None:
        """Tell the app its task was cancelled, if it has an ``on_cancel`` hook."""
        hook = getattr(self.app, "on_cancel", None)
        if self.app is not None and hook is not None and inspect.iscoroutinefunction(hook):
            await hook()

    async def unload(self) -> None:
        """Run the app's ``unload``."""
        if self.app is not None:
            await self.app.unload()
