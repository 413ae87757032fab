"""``infsh/scripted-llm``: the local runtime's deterministic stand-in for a language model.

The local runtime has no real LLM. Every agent's ``core_app`` is answered by this model,
whatever ref the config names (``infsh/scripted-llm`` is the documented one). One user message
is one turn, played by these rules:

1. **Tool calls.** Each line of the message of the form ``call NAME`` or ``call NAME {json}``
   (``{json}`` a JSON object: the arguments; absent means ``{}``), where ``NAME`` is a tool of
   the agent, is one tool call, made in the order of the lines, one after the other. A line
   naming an unknown tool, or whose arguments are not a JSON object, is ordinary text.
   How each call runs depends on the tool (see ``_agents``): client tools wait for
   ``POST /tools/{id}``, tools with ``require_approval`` first wait for ``/invoke`` or
   ``/reject``, app tools run a task, HTTP/call and hook tools make their request.
2. **Reply.** The assistant's text is these sentences, joined by one space:
   ``"NAME returned RESULT."`` per completed call, ``"NAME was rejected: REASON."`` per
   rejected one, ``"NAME failed: ERROR."`` per failed one (in call order); then
   ``"Attached: a.txt, b.png."`` when the message had attachments; then
   ``"You said: TEXT"`` with the message's remaining text (call lines removed, stripped) when
   it is not empty. A message with none of these gets ``"Hello."``.
   The reply streams as ``delta`` events (``resource_id`` = the assistant message id, ``seq``
   rising per chat), one per word, ``agent_token_delay`` seconds apart: ``{"response":
   "first"}``, then ``{"response": " next"}``… so concatenating ``response`` gives the text
   exactly; the assistant message then holds it as one ``text`` content part.
3. **Finish.** When the agent has an ``output_schema`` or enables the ``finish`` internal tool,
   the turn ends with a call of the internal ``finish`` tool (a completed ``internal``
   invocation named ``finish`` on the assistant message) whose arguments become
   ``chat.output`` (and the run's ``output``). The values come from ``key=value`` tokens in the
   user's message (``value`` runs to the next whitespace): each property of the schema takes
   its token, converted to the property's type (integer, number, boolean ``true/false/1/0/yes/
   no``, array = comma-separated items, string); a property with no token, or a token that does
   not convert, takes its type's default (``""``, ``0``, ``0.0``, ``false``, ``[]``, ``{}``,
   ``null``). Without a schema (finish only) the output is every ``key=value`` token, as strings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

__all__ = ["MODEL_REF", "Outcome", "finish_output", "plan", "reply", "words"]

MODEL_REF = "infsh/scripted-llm"
_CALL = re.compile(r"^\s*call\s+(?P<name>[A-Za-z0-9_.:-]+)\s*(?P<args>\{.*\})?\s*$")
_PAIR = re.compile(r"(?<!\S)(?P<key>[A-Za-z_][\w.-]*)=(?P<value>\S*)")
_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}


@dataclass(frozen=True)
class Outcome:
    """How one tool call ended: ``completed``, ``rejected`` or ``failed``, and its text."""

    name: str
    status: str
    text: str


def plan(text: str, tools: Iterable[str]) -> tuple[list[tuple[str, dict[str, Any]]], str]:
    """The tool calls a message asks for, and the text left without the call lines."""
    known = set(tools)
    calls: list[tuple[str, dict[str, Any]]] = []
    rest: list[str] = []
    for line in text.splitlines():
        match = _CALL.match(line)
        if match and match["name"] in known:
            arguments: Any = {}
            if match["args"]:
                try:
                    arguments = json.loads(match["args"])
                except ValueError:
                    arguments = None
            if isinstance(arguments, dict):
                calls.append((match["name"], cast(dict[str, Any], arguments)))
                continue
        rest.append(line)
    return calls, "\n".join(rest).strip()


def reply(rest: str, outcomes: Iterable[Outcome], attachments: Iterable[str] = ()) -> str:
    """The assistant's text for a turn (rule 2)."""
    parts: list[str] = []
    for outcome in outcomes:
        if outcome.status == "completed":
            parts.append(f"{outcome.name} returned {outcome.text}.")
        elif outcome.status == "rejected":
            parts.append(f"{outcome.name} was rejected: {outcome.text or 'no reason given'}.")
        else:
            parts.append(f"{outcome.name} failed: {outcome.text}.")
    names = list(attachments)
    if names:
        parts.append(f"Attached: {', '.join(names)}.")
    if rest:
        parts.append(f"You said: {rest}")
    return " ".join(parts) or "Hello."


def words(text: str) -> list[str]:
    """The reply as stream chunks: the first word, then each next word with its leading space."""
    pieces = text.split(" ")
    return [pieces[0], *(f" {piece}" for piece in pieces[1:])]


def _convert(value: str, schema: Mapping[str, Any]) -> Any:
    kind = schema.get("type")
    if isinstance(kind, list):
        choices: list[Any] = kind  # pyright: ignore[reportUnknownVariableType]
        options = [k for k in choices if k != "null"]
        kind = options[0] if options else "null"
    if kind == "integer":
        return int(value)
    if kind == "number":
        return float(value)
    if kind == "boolean":
        lowered = value.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(value)
    if kind == "array":
        items = cast(Mapping[str, Any], schema.get("items") or {})
        return [_convert(item, items) for item in value.split(",") if item]
    if kind in ("object", "null"):
        raise ValueError(value)
    return value


def _default(schema: Mapping[str, Any]) -> Any:
    kind = schema.get("type")
    if isinstance(kind, list):
        choices: list[Any] = kind  # pyright: ignore[reportUnknownVariableType]
        options = [k for k in choices if k != "null"]
        kind = options[0] if options else "null"
    defaults: dict[Any, Any] = {
        "string": "",
        "integer": 0,
        "number": 0.0,
        "boolean": False,
        "array": [],
        "object": {},
    }
    return defaults.get(kind)


def finish_output(text: str, schema: Any) -> Any:
    """The finish tool's arguments for a message (rule 3)."""
    pairs = {match["key"]: match["value"] for match in _PAIR.finditer(text)}
    if not isinstance(schema, dict) or not schema:
        return pairs
    root = cast(dict[str, Any], schema)
    properties = cast(dict[str, Any], root.get("properties") or {})
    if root.get("type") not in (None, "object") and not properties:
        return _default(root)
    output: dict[str, Any] = {}
    for key, raw in properties.items():
        prop = cast(dict[str, Any], raw) if isinstance(raw, dict) else {}
        if key in pairs:
            try:
                output[key] = _convert(pairs[key], prop)
                continue
            except ValueError:
                pass
        output[key] = _default(prop)
    return output
