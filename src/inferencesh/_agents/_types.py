"""Public types of the agent layer: tool calls and deltas; and the output schema check.

The agent errors are in the one exception tree, ``inferencesh._errors``."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from inferencesh._json import json_array as _arr
from inferencesh._json import json_object as _obj

__all__ = ["AgentDelta", "ToolCallInfo", "schema_errors"]


@dataclass(frozen=True)
class ToolCallInfo:
    """A tool call that waits for this client: a client tool's input, or an approval.

    ``args`` are the parsed arguments; ``awaiting_approval`` is true when the agent waits for
    ``approve_tool(id)`` / ``reject_tool(id, reason)`` rather than for a result.
    """

    id: str
    name: str
    args: dict[str, Any]
    type: str | None = None
    awaiting_approval: bool = False
    invocation: dict[str, Any] = field(default_factory=dict[str, Any], repr=False)

    @property
    def requires_approval(self) -> bool:
        """Same as ``awaiting_approval`` (the name the JS docs use)."""
        return self.awaiting_approval

    @classmethod
    def from_invocation(cls, invocation: Mapping[str, Any], approval: bool) -> ToolCallInfo:
        function = _obj(invocation.get("function")) or {}
        name = function.get("name")
        args = _obj(function.get("arguments"))
        kind = invocation.get("type")
        kind = getattr(kind, "value", kind)
        return cls(
            id=str(invocation.get("id")),
            name=name if isinstance(name, str) else "",
            args=dict(args) if args is not None else {},
            type=kind if isinstance(kind, str) else None,
            awaiting_approval=approval,
            invocation=dict(invocation),
        )


@dataclass(frozen=True)
class AgentDelta:
    """A token delta of a message: ``output`` is everything merged so far (``response`` text)."""

    message_id: str
    delta: dict[str, Any]
    output: dict[str, Any]
    seq: int | None
    caught_up: str = ""
    """Reply text that reached this client in a message state rather than as a delta (sent
    before the stream opened, or while it reconnected), handed out ahead of this delta's text.
    When an assistant message of the turn ends with text that no delta handed out, a last delta
    carries it here (``delta`` is then ``{}`` and ``seq`` ``None``)."""

    @property
    def text(self) -> str:
        """The reply text new to this client: ``caught_up`` and then ``delta["response"]``.

        Joined, the ``text`` of every delta of a turn's reply is that reply (so far).
        """
        value = self.delta.get("response")
        return self.caught_up + value if isinstance(value, str) else self.caught_up


# A structural JSON Schema check (the keywords an output schema uses); no $ref resolution.

_TYPE_NAMES = ("null", "boolean", "integer", "number", "string", "array", "object")


def _is_type(name: str, value: Any) -> bool:
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if name == "number":
        return True
    return isinstance(value, int) or (math.isfinite(value) and value.is_integer())


def schema_errors(value: Any, schema: Any, path: str = "$", limit: int = 20) -> list[str]:
    """The ways ``value`` breaks the JSON Schema ``schema`` (empty when it matches)."""
    errors: list[str] = []
    _check(value, schema, path, errors, limit)
    return errors[:limit]


def _check(value: Any, schema: Any, path: str, errors: list[str], limit: int) -> None:
    if len(errors) >= limit or schema is True or schema is None:
        return
    if schema is False:
        errors.append(f"{path}: no value is allowed here")
        return
    rules = _obj(schema)
    if rules is None:
        return
    expected = rules.get("type")
    names = [expected] if isinstance(expected, str) else list(_arr(expected) or [])
    known = [name for name in names if isinstance(name, str) and name in _TYPE_NAMES]
    if known and not any(_is_type(name, value) for name in known):
        errors.append(f"{path}: expected {' or '.join(known)}, got {_kind(value)}")
        return
    if "const" in rules and value != rules["const"]:
        errors.append(f"{path}: must be {rules['const']!r}")
    choices = _arr(rules.get("enum"))
    if choices is not None and value not in choices:
        errors.append(f"{path}: must be one of {choices!r}, got {value!r}")
    for combinator in ("allOf",):
        for sub in _arr(rules.get(combinator)) or ():
            _check(value, sub, path, errors, limit)
    for combinator in ("anyOf", "oneOf"):
        subs = _arr(rules.get(combinator))
        if subs is not None:
            matches = sum(1 for sub in subs if not schema_errors(value, sub, path, 1))
            if matches == 0 or (combinator == "oneOf" and matches > 1):
                errors.append(f"{path}: does not match {combinator}")
    if isinstance(value, dict):
        _check_object(cast("dict[str, Any]", value), rules, path, errors, limit)
    elif isinstance(value, list):
        _check_array(cast("list[Any]", value), rules, path, errors, limit)  # type: ignore[redundant-cast]
    elif isinstance(value, str):
        _check_string(value, rules, path, errors)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        _check_number(value, rules, path, errors)


def _check_object(
    value: dict[str, Any], rules: dict[str, Any], path: str, errors: list[str], limit: int
) -> None:
    properties = _obj(rules.get("properties")) or {}
    for name in _arr(rules.get("required")) or ():
        if isinstance(name, str) and name not in value:
            errors.append(f"{path}: missing required property {name!r}")
    extra = rules.get("additionalProperties", True)
    for name, item in value.items():
        where = f"{path}.{name}"
        if name in properties:
            _check(item, properties[name], where, errors, limit)
        elif extra is False:
            errors.append(f"{path}: unexpected property {name!r}")
        else:
            _check(item, extra, where, errors, limit)


def _check_array(
    value: list[Any], rules: dict[str, Any], path: str, errors: list[str], limit: int
) -> None:
    low, high = rules.get("minItems"), rules.get("maxItems")
    if isinstance(low, int) and len(value) < low:
        errors.append(f"{path}: needs at least {low} items, got {len(value)}")
    if isinstance(high, int) and len(value) > high:
        errors.append(f"{path}: allows at most {high} items, got {len(value)}")
    items = rules.get("items")
    if items is not None and not isinstance(items, list):
        for index, item in enumerate(value):
            _check(item, items, f"{path}[{index}]", errors, limit)


def _check_string(value: str, rules: dict[str, Any], path: str, errors: list[str]) -> None:
    low, high = rules.get("minLength"), rules.get("maxLength")
    if isinstance(low, int) and len(value) < low:
        errors.append(f"{path}: needs at least {low} characters")
    if isinstance(high, int) and len(value) > high:
        errors.append(f"{path}: allows at most {high} characters")
    pattern = rules.get("pattern")
    if isinstance(pattern, str):
        try:
            if re.search(pattern, value) is None:
                errors.append(f"{path}: does not match the pattern {pattern!r}")
        except re.error:
            pass


def _check_number(value: float, rules: dict[str, Any], path: str, errors: list[str]) -> None:
    checks: tuple[tuple[str, Callable[[float, float], bool], str], ...] = (
        ("minimum", operator.ge, ">="),
        ("maximum", operator.le, "<="),
        ("exclusiveMinimum", operator.gt, ">"),
        ("exclusiveMaximum", operator.lt, "<"),
    )
    for key, test, sign in checks:
        bound = rules.get(key)
        if isinstance(bound, (int, float)) and not isinstance(bound, bool):
            if not test(value, bound):
                errors.append(f"{path}: must be {sign} {bound}, got {value}")


def _kind(value: Any) -> str:
    for name in _TYPE_NAMES:
        if _is_type(name, value):
            return name
    return type(value).__name__
