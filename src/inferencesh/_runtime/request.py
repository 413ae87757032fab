"""What a generated method sends, decided without I/O.

A generated method checks its arguments and builds a :class:`Call` (method, escaped path, JSON
body, query, how to read the payload); the transport executes it with the per-call
:class:`RequestOptions`. Every check here runs before anything is sent and fails with an
``InvalidInputError`` that names the argument.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypedDict, TypeVar, cast
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from inferencesh._errors import InvalidInputError

__all__ = [
    "JSON",
    "NOTHING",
    "OPTION_NAMES",
    "Call",
    "CursorAt",
    "RequestOptions",
    "Returns",
    "check_options",
    "inline_body",
    "json_body",
    "list_of",
    "model_of",
    "query",
    "request_body",
    "segment",
    "split_options",
]

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

PayloadKind = Literal["model", "list", "json", "none"]
CursorAt = Literal["body", "query"]
QueryValue = str | int | float | bool


class RequestOptions(TypedDict, total=False):
    """Per-call options every generated method takes as keyword arguments.

    ``timeout`` replaces the client's timeout for this call (``None``: no timeout);
    ``extra_headers``, ``extra_query`` and ``extra_body`` are merged into the request as sent,
    over what the method itself set: the way to use a field the schema does not list yet.
    """

    timeout: float | httpx.Timeout | None
    extra_headers: Mapping[str, str]
    extra_query: Mapping[str, QueryValue]
    extra_body: Mapping[str, Any]


OPTION_NAMES = frozenset(RequestOptions.__annotations__)


@dataclass(frozen=True)
class Returns(Generic[T]):
    """How the payload of a success response becomes the method's result."""

    kind: PayloadKind
    model: type[BaseModel] | None = None


# One Returns per model and kind: every call of a generated method asks for the same one.
_RETURNS: dict[tuple[str, type[BaseModel]], Returns[Any]] = {}


def model_of(model: type[M]) -> Returns[M]:
    """The payload is one ``model``."""
    found = _RETURNS.get(("model", model))
    if found is None:
        found = _RETURNS[("model", model)] = Returns("model", model)
    return found


def list_of(item: type[M]) -> Returns[list[M]]:
    """The payload is a JSON array of ``item`` (``null`` reads as empty)."""
    found = _RETURNS.get(("list", item))
    if found is None:
        found = _RETURNS[("list", item)] = Returns("list", item)
    return found


JSON: Returns[Any] = Returns("json")
"""The payload as decoded JSON, untyped."""
NOTHING: Returns[None] = Returns("none")
"""No payload: the method returns ``None``."""


@dataclass(slots=True)
class Call(Generic[T]):
    """One HTTP request of a generated method. ``body`` is the JSON body as sent.

    Treated as immutable (``with_cursor`` and ``with_extras`` return new calls); not frozen only
    because a frozen dataclass costs a few microseconds more to build, on every call.
    """

    method: str
    path: str
    returns: Returns[T]
    body: dict[str, Any] | None = None
    params: dict[str, QueryValue] | None = None
    cursor: CursorAt | None = None
    """Where a cursor-paged list takes the next page's cursor."""

    @property
    def sent_cursor(self) -> Any:
        """The cursor this call asks for (``None`` for the first page)."""
        source = self.body if self.cursor == "body" else self.params
        return (source or {}).get("cursor")

    def with_cursor(self, cursor: str) -> Call[T]:
        """The same call for the page that starts at ``cursor``."""
        if self.cursor == "body":
            return dataclasses.replace(self, body={**(self.body or {}), "cursor": cursor})
        return dataclasses.replace(self, params={**(self.params or {}), "cursor": cursor})

    def with_extras(self, options: RequestOptions) -> Call[T]:
        """The call with ``extra_query`` and ``extra_body`` merged in."""
        extra_query = options.get("extra_query")
        extra_body = options.get("extra_body")
        if not extra_query and not extra_body:
            return self
        params = {**(self.params or {}), **(extra_query or {})} if extra_query else self.params
        body = {**(self.body or {}), **(extra_body or {})} if extra_body else self.body
        return dataclasses.replace(self, params=params, body=body)


def _describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _string_keyed(value: object) -> Mapping[str, object] | None:
    """``value`` as a mapping with string keys, or ``None`` when it is not one."""
    if not isinstance(value, Mapping):
        return None
    mapping = cast("Mapping[object, object]", value)
    if not all(isinstance(key, str) for key in mapping):
        return None
    return cast("Mapping[str, object]", mapping)


def check_options(options: Mapping[str, object]) -> RequestOptions:
    """Refuse an unknown per-call option or a value of the wrong kind."""
    if not options:
        return cast(RequestOptions, options)
    for key, value in options.items():
        if key not in OPTION_NAMES:
            raise InvalidInputError(
                f"unknown argument {key!r}; the per-call options are "
                f"{', '.join(sorted(OPTION_NAMES))}"
            )
        if key == "timeout":
            if value is None or isinstance(value, httpx.Timeout):
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise InvalidInputError(
                    f"timeout must be a number of seconds > 0, an httpx.Timeout or None, "
                    f"got {_describe(value)}"
                )
            continue
        mapping = _string_keyed(value)
        if mapping is None:
            raise InvalidInputError(
                f"{key} must be a dict with string keys, got {_describe(value)}"
            )
        if key == "extra_headers" and not all(isinstance(v, str) for v in mapping.values()):
            raise InvalidInputError(f"extra_headers values must be strings, got {_describe(value)}")
    return cast(RequestOptions, options)


def split_options(kwargs: Mapping[str, Any]) -> tuple[dict[str, Any], RequestOptions]:
    """Keyword arguments -> (request body fields, per-call options)."""
    fields: dict[str, Any] = {}
    options: dict[str, Any] = {}
    for key, value in kwargs.items():
        (options if key in OPTION_NAMES else fields)[key] = value
    return fields, check_options(options)


def segment(name: str, value: object) -> str:
    """A path parameter, checked and escaped as exactly one path segment."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"{name} must be a non-empty string, got {_describe(value)}")
    # Many proxies decode %2F before routing; an id is never meant to span segments.
    if "/" in value or value in (".", ".."):
        raise InvalidInputError(f"{name} must be a single path segment, got {_describe(value)}")
    return quote(value, safe="")


def query(values: Mapping[str, QueryValue | None]) -> dict[str, QueryValue] | None:
    """The query parameters that were given; an argument left as ``None`` is not sent."""
    given = {key: value for key, value in values.items() if value is not None}
    return given or None


def inline_body(values: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON body from keyword arguments; an argument left as ``None`` is not sent."""
    body = {key: value for key, value in values.items() if value is not None}
    return json_body(body, "body")


def json_body(value: object, name: str = "body") -> dict[str, Any]:
    """A free-form JSON object body (the schema names no type for it)."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", by_alias=True, exclude_unset=True)
    mapping = _string_keyed(value)
    if mapping is None:
        raise InvalidInputError(
            f"{name} must be a JSON object (a dict with string keys), got {_describe(value)}"
        )
    return dict(mapping)


def request_body(model: type[M], body: object, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body of ``model`` from a positional ``body`` (model or dict) and keyword fields.

    Only the fields that were set are sent. A key of a dict or keyword argument that the model
    does not define is refused, at any depth, naming it (``extra_body=`` sends one anyway). A
    model instance is sent as it was built, unknown fields included.
    """
    if fields:
        _check_keys(model, _validate(model, fields))
    if isinstance(body, model) and not fields:
        return body.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if body is None:
        values: dict[str, Any] = {}
    elif isinstance(body, BaseModel):
        values = body.model_dump(by_alias=True, exclude_unset=True)
    elif isinstance(body, Mapping):
        values = dict(cast("Mapping[str, Any]", body))
    else:
        raise InvalidInputError(
            f"body must be a {model.__name__} or a dict, got {type(body).__name__}"
        )
    values.update(fields)
    request = _validate(model, values)
    if not isinstance(body, BaseModel):
        _check_keys(model, request)
    return request.model_dump(mode="json", by_alias=True, exclude_unset=True)


def _validate(model: type[M], values: Mapping[str, Any]) -> M:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise InvalidInputError(_validation_message(model, exc)) from None


def _check_keys(model: type[BaseModel], request: BaseModel) -> None:
    unknown = _unknown_keys(request, "")
    if unknown:
        where, cls = unknown
        allowed = ", ".join(sorted(field.alias or name for name, field in cls.model_fields.items()))
        raise InvalidInputError(
            f"unknown field {where!r} in {model.__name__} (a {cls.__name__} has: {allowed}); "
            "use extra_body= to send a field the schema does not list"
        )


def _validation_message(model: type[BaseModel], exc: ValidationError) -> str:
    problems: list[str] = []
    for error in exc.errors()[:5]:
        where = ".".join(str(part) for part in error["loc"]) or "body"
        problems.append(f"{where}: {error['msg']} (got {_describe(error.get('input'))})")
    return f"invalid {model.__name__}: " + "; ".join(problems)


def _unknown_keys(value: object, where: str) -> tuple[str, type[BaseModel]] | None:
    """The first key no model of the validated tree defines, with the model that lacks it."""
    if isinstance(value, BaseModel):
        extra = value.__pydantic_extra__
        if extra:
            key = sorted(extra)[0]
            return (f"{where}.{key}" if where else key), type(value)
        fields = type(value).model_fields
        for name in value.model_fields_set:
            field = fields.get(name)
            label = field.alias if field is not None and field.alias else name
            found = _unknown_keys(
                getattr(value, name, None), f"{where}.{label}" if where else label
            )
            if found:
                return found
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(cast("Sequence[object]", value)):
            found = _unknown_keys(item, f"{where}[{index}]")
            if found:
                return found
    elif isinstance(value, dict):
        for entry, item in cast("dict[object, object]", value).items():
            found = _unknown_keys(item, f"{where}.{entry}")
            if found:
                return found
    return None
