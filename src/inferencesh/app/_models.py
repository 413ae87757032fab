"""The base classes an app is written with."""

from __future__ import annotations

import inspect
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["BaseApp", "BaseAppInput", "BaseAppOutput", "BaseAppSetup", "Metadata"]


def _declaration_order(schema: dict[str, Any], cls: type[Any]) -> None:
    """List ``properties`` and ``required`` as the class declares them.

    The app store draws its form in this order. The fields a class declares itself come first,
    then the inherited ones; a field that only overrides an inherited one keeps its old place.
    """
    fields: dict[str, Any] = getattr(cls, "model_fields", {})
    inherited: set[str] = set()
    for base in cls.__mro__[1:]:
        inherited.update(getattr(base, "model_fields", {}))
    own = [name for name in inspect.get_annotations(cls) if name in fields]
    order = [name for name in own if name not in inherited]
    order += [name for name in fields if name not in order]
    wire = [fields[name].alias or name for name in order]
    properties: dict[str, Any] | None = schema.get("properties")
    if properties:
        ranked = {key: properties[key] for key in wire if key in properties}
        ranked.update({key: value for key, value in properties.items() if key not in ranked})
        schema["properties"] = ranked
    required: list[str] | None = schema.get("required")
    if required:
        schema["required"] = [key for key in wire if key in required] + [
            key for key in required if key not in wire
        ]


# A default built by one of these is an empty container, which JSON can say; other factories
# (a uuid, a timestamp) have no default worth publishing.
_EMPTY_CONTAINERS: dict[Any, type[Any]] = {
    list: list,
    tuple: list,
    set: list,
    frozenset: list,
    dict: dict,
}


def _container_defaults(schema: dict[str, Any], cls: type[Any]) -> None:
    """Publish ``default_factory=list`` (or dict, set, tuple) as ``"default": []`` (or ``{}``).

    pydantic leaves such a field out of both ``default`` and ``required``, so a form or a typed
    client generated from the schema would not know that it is empty rather than absent.
    """
    properties: dict[str, Any] = schema.get("properties") or {}
    fields: dict[str, Any] = getattr(cls, "model_fields", {})
    for name, field in fields.items():
        key = field.alias or name
        factory = field.default_factory
        if key in properties and "default" not in properties[key] and factory in _EMPTY_CONTAINERS:
            properties[key]["default"] = _EMPTY_CONTAINERS[factory]()


def _app_schema(schema: dict[str, Any], cls: type[Any]) -> None:
    _declaration_order(schema, cls)
    _container_defaults(schema, cls)


class _OrderedSchemaModel(BaseModel):
    model_config = ConfigDict(json_schema_extra=_app_schema)


class BaseAppSetup(_OrderedSchemaModel):
    """Setup parameters of an app (``setup`` in the run request); workers are warm per setup."""


class BaseAppInput(_OrderedSchemaModel):
    """Input of an app function; its JSON schema lists fields in declaration order."""


class BaseAppOutput(_OrderedSchemaModel):
    """Output of an app function; its JSON schema lists fields in declaration order."""


class Metadata(BaseModel):
    """What the runtime tells an app about the current worker and task."""

    model_config = ConfigDict(extra="allow")

    app_id: str | None = None
    app_version_id: str | None = None
    worker_id: str | None = None
    gpu_ids: list[str] | None = None
    task_id: str | None = None
    team_id: str | None = None
    user_id: str | None = None

    def update(self, other: dict[str, Any] | BaseModel) -> None:
        """Copy the values of ``other`` onto this object."""
        values = other.model_dump() if isinstance(other, BaseModel) else other
        for key, value in values.items():
            setattr(self, key, value)


class BaseApp(BaseModel):
    """An inference app: ``setup`` once per warm worker, ``run`` per task, ``unload`` at exit.

    >>> class App(BaseApp):
    ...     async def run(self, input_data: BaseAppInput) -> BaseAppOutput:
    ...         return BaseAppOutput()
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="allow")

    # The loose signatures are deliberate: apps override them as ``setup(self)``,
    # ``setup(self, metadata)``, ``run(self, input, metadata)`` or an async generator ``run``,
    # and type checkers accept any of those over ``(*args: Any, **kwargs: Any) -> Any``.
    async def setup(self, *args: Any, **kwargs: Any) -> Any:
        """Load models and other resources; called once before the first task."""

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """Handle one task (``async def``); override with your input and output types."""
        raise NotImplementedError("the app does not implement run()")

    async def unload(self) -> None:
        """Free resources; called when the worker stops."""
