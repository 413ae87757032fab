"""Cursor lists: a ``CursorListRequest`` applied to the records of one kind.

Records come in creation order, newest first (``sort: [{field: created_at, dir: asc}]`` turns
that round). A cursor is the position of the last record of the page before, so a page is read
from an index however long the history is. ``filters`` and ``search`` are checked against each
record as ``GET`` returns it (JSON, a dotted ``field`` reaches into objects); the records are
read in order until a page is full. ``limit`` is 1 to 100 (20 when absent).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from inferencesh._generated.models import CursorListRequest, Filter, FilterOperator
from inferencesh._runtime import CursorListResponse
from inferencesh.local._errors import ApiError
from inferencesh.local._records import parse

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "ListQuery", "list_query", "page"]

ItemT = TypeVar("ItemT")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
_FIELD = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_SORTABLE = ("created_at",)
_MISSING = object()


def _bad(detail: str) -> ApiError:
    return ApiError(400, "validation_error", detail)


def _lookup(record: Any, path: str) -> Any:
    value = record
    for part in path.split("."):
        if not isinstance(value, dict):
            return _MISSING
        value = cast(dict[str, Any], value).get(part, _MISSING)
    return value


def _like(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    parts = [".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _ordered(value: Any, wanted: Any) -> bool:
    numbers = (int, float)
    both_numbers = isinstance(value, numbers) and isinstance(wanted, numbers)
    both_text = isinstance(value, str) and isinstance(wanted, str)
    return (both_numbers or both_text) and not isinstance(value, bool)


@dataclass(frozen=True)
class _Condition:
    field: str
    operator: FilterOperator
    value: Any

    def holds(self, record: Any) -> bool:
        found = _lookup(record, self.field)
        value = None if found is _MISSING else found
        op, wanted = self.operator, self.value
        if op == FilterOperator.OP_EQUAL:
            return bool(value == wanted)
        if op == FilterOperator.OP_NOT_EQUAL:
            return bool(value != wanted)
        if op == FilterOperator.OP_IN:
            return value in wanted
        if op == FilterOperator.OP_NOT_IN:
            return value not in wanted
        if op in (FilterOperator.OP_IS_NULL, FilterOperator.OP_IS_NOT_NULL):
            return (value is None) == (op == FilterOperator.OP_IS_NULL)
        if op in (FilterOperator.OP_IS_EMPTY, FilterOperator.OP_IS_NOT_EMPTY):
            empty = value is None or value in ("", [], {})
            return empty == (op == FilterOperator.OP_IS_EMPTY)
        if op in (FilterOperator.OP_CONTAINS, FilterOperator.OP_NOT_CONTAINS):
            if isinstance(value, str):
                inside = isinstance(wanted, str) and wanted in value
            else:
                inside = isinstance(value, (list, dict)) and wanted in value
            return inside == (op == FilterOperator.OP_CONTAINS)
        if op in (FilterOperator.OP_LIKE, FilterOperator.OP_I_LIKE):
            ignore = op == FilterOperator.OP_I_LIKE
            return isinstance(value, str) and bool(
                _like(str(wanted), ignore_case=ignore).fullmatch(value)
            )
        if not _ordered(value, wanted):
            return False
        if op == FilterOperator.OP_GREATER:
            return bool(value > wanted)
        if op == FilterOperator.OP_GREATER_EQUAL:
            return bool(value >= wanted)
        if op == FilterOperator.OP_LESS:
            return bool(value < wanted)
        return bool(value <= wanted)


def _condition(index: int, item: Filter) -> _Condition:
    where = f"filters.{index}"
    if not item.field or not _FIELD.match(item.field):
        raise _bad(f"{where}.field: {item.field!r} is not a field name (name or a.b.c)")
    operator = item.operator
    if operator is None or not operator.is_known:
        allowed = ", ".join(op.value for op in FilterOperator if op.is_known)
        raise _bad(f"{where}.operator: {operator!r} is not one of {allowed}")
    value: Any = item.value
    needs_list = (FilterOperator.OP_IN, FilterOperator.OP_NOT_IN)
    if operator in needs_list and not isinstance(value, list):
        raise _bad(f"{where}.value: {operator.value} needs a list of values")
    patterns = (FilterOperator.OP_LIKE, FilterOperator.OP_I_LIKE)
    if operator in patterns and not isinstance(value, str):
        raise _bad(f"{where}.value: {operator.value} needs a string pattern")
    return _Condition(item.field, operator, value)


@dataclass(frozen=True)
class ListQuery:
    """One page request: its size, where it starts, its order and what it keeps."""

    limit: int = DEFAULT_LIMIT
    after: int | None = None
    ascending: bool = False
    conditions: tuple[_Condition, ...] = ()
    term: str | None = None
    exact: bool = False

    @property
    def selective(self) -> bool:
        """Whether records must be looked at (filters or a search), not only counted."""
        return bool(self.conditions) or bool(self.term)

    def keeps(self, record: Any, searchable: Iterable[str]) -> bool:
        """Whether ``record`` (as JSON) passes the filters and the search."""
        if not all(condition.holds(record) for condition in self.conditions):
            return False
        if not self.term:
            return True
        term = self.term.lower()
        for field in searchable:
            value = _lookup(record, field)
            if isinstance(value, str):
                text = value.lower()
                if (text == term) if self.exact else (term in text):
                    return True
        return False


def list_query(body: Any) -> ListQuery:
    """A ``CursorListRequest`` body as a query; 400 naming the field for what cannot be served."""
    request = parse(CursorListRequest, body if body is not None else {})
    limit = DEFAULT_LIMIT if request.limit is None else request.limit
    if not 1 <= limit <= MAX_LIMIT:
        raise _bad(f"limit: {limit} is not between 1 and {MAX_LIMIT}")
    after = None
    if request.cursor:
        if not request.cursor.isdigit() or len(request.cursor) > 18:
            raise _bad(f"cursor: {request.cursor!r} is not a cursor this runtime gave out")
        after = int(request.cursor)
    if request.direction not in (None, "", "next", "forward"):
        raise _bad(f"direction: {request.direction!r} is not served here (only 'next')")
    ascending = False
    for index, order in enumerate(request.sort or []):
        if (order.field or "created_at") not in _SORTABLE:
            raise _bad(f"sort.{index}.field: {order.field!r} is not sortable (only created_at)")
        direction = (order.dir or "desc").lower()
        if direction not in ("asc", "desc"):
            raise _bad(f"sort.{index}.dir: {order.dir!r} is not 'asc' or 'desc'")
        ascending = direction == "asc"
    conditions = tuple(_condition(i, item) for i, item in enumerate(request.filters or []))
    search = request.search
    return ListQuery(
        limit=limit,
        after=after,
        ascending=ascending,
        conditions=conditions,
        term=search.term if search is not None and search.term else None,
        exact=bool(search is not None and search.exact),
    )


def page(
    rows: Iterator[tuple[int, dict[str, Any]]],
    query: ListQuery,
    build: Callable[[dict[str, Any]], ItemT],
    searchable: Iterable[str] = (),
) -> CursorListResponse[ItemT]:
    """One page of ``rows`` (position, record JSON; in the query's order, after its cursor)."""
    fields = tuple(searchable)
    kept: list[tuple[int, dict[str, Any]]] = []
    more = False
    for position, record in rows:
        if query.selective and not query.keeps(record, fields):
            continue
        if len(kept) == query.limit:
            more = True
            break
        kept.append((position, record))
    return CursorListResponse[ItemT](
        items=[build(record) for _, record in kept],
        next_cursor=str(kept[-1][0]) if more and kept else None,
        has_next=more,
        has_previous=query.after is not None,
        items_per_page=query.limit,
    )
