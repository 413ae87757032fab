"""Cursor pages, sync and async, across several pages of a loopback server.

The server pages a list of numbered items: ``POST /tasks/list`` takes the cursor in its body, ``GET
/tasks/featured`` in the query; both answer with ``next_cursor`` until the last page.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.endpoints._loopback import Loopback, Seen, envelope
from tests.endpoints._spec import operations, sample_payload

from inferencesh import AsyncInference, Inference
from inferencesh._generated.models import TaskDTO
from inferencesh._runtime.pagination import AsyncPage, AsyncPager, SyncPage

TASK = sample_payload(next(op for op in operations() if op.operation_id == "tasks.get"))
TOTAL = 7


def paged(seen: Seen) -> Any:
    """Items ``t0``..``t6`` in pages of ``limit`` (default 3), cursor = index of the next item."""
    source = (seen.json() or {}) if seen.method == "POST" else seen.query
    start = int(source.get("cursor") or 0)
    limit = int(source.get("limit") or 3)
    end = min(start + limit, TOTAL)
    items = [{**TASK, "id": f"t{i}"} for i in range(start, end)]
    more = end < TOTAL
    return envelope(
        {
            "items": items,
            "next_cursor": str(end) if more else None,
            "has_next": more,
            "has_previous": start > 0,
        }
    )


@pytest.fixture
def server() -> Iterator[Loopback]:
    with Loopback(paged) as srv:
        yield srv


@pytest.fixture
def client(server: Loopback) -> Iterator[Inference]:
    with Inference(api_key="inf_test", base_url=server.base_url, max_retries=0) as c:
        yield c


@pytest.fixture
async def aclient(server: Loopback) -> Any:
    async with AsyncInference(api_key="inf_test", base_url=server.base_url, max_retries=0) as c:
        yield c


def ids(items: Any) -> list[str]:
    return [item.id for item in items]


def test_iterating_a_page_walks_every_page(client: Inference, server: Loopback) -> None:
    page = client.tasks.list(limit=3)
    assert isinstance(page, SyncPage) and all(isinstance(t, TaskDTO) for t in page.items)
    assert ids(page.items) == ["t0", "t1", "t2"] and page.has_more
    assert ids(page) == [f"t{i}" for i in range(TOTAL)]
    assert [seen.json() for seen in server.seen] == [
        {"limit": 3},
        {"limit": 3, "cursor": "3"},
        {"limit": 3, "cursor": "6"},
    ]


def test_next_page_until_none(client: Inference) -> None:
    page: SyncPage[TaskDTO] | None = client.tasks.list({"limit": 4})
    seen: list[list[str]] = []
    while page is not None:
        seen.append(ids(page.items))
        page = page.next_page()
    assert seen == [["t0", "t1", "t2", "t3"], ["t4", "t5", "t6"]]


def test_iter_pages_and_the_last_page_has_no_more(client: Inference) -> None:
    pages = list(client.tasks.list(limit=3).iter_pages())
    assert [len(p.items) for p in pages] == [3, 3, 1]
    assert [p.has_more for p in pages] == [True, True, False]
    assert pages[-1].next_page() is None


def test_a_query_cursor_page(client: Inference, server: Loopback) -> None:
    assert ids(client.tasks.featured(limit=5)) == [f"t{i}" for i in range(TOTAL)]
    assert [seen.query for seen in server.seen] == [{"limit": "5"}, {"limit": "5", "cursor": "5"}]


def test_the_options_of_the_first_call_apply_to_every_page(
    client: Inference, server: Loopback
) -> None:
    list(client.tasks.list(limit=3, extra_headers={"X-Trace": "p"}, extra_query={"v": "2"}))
    assert [(s.headers["x-trace"], s.query) for s in server.seen] == [("p", {"v": "2"})] * 3


def test_a_server_that_repeats_its_cursor_ends_the_walk(client: Inference) -> None:
    def stuck(seen: Seen) -> Any:
        return envelope({"items": [TASK], "next_cursor": "same", "has_next": True})

    with Loopback(stuck) as srv, Inference(api_key="k", base_url=srv.base_url) as c:
        assert len(list(c.tasks.list(cursor="same"))) == 1
        assert len(srv.seen) == 1


def test_a_page_still_reads_like_the_page_model(client: Inference) -> None:
    page = client.tasks.list(limit=3)
    assert page["next_cursor"] == "3" and page.get("has_next") is True
    assert "items" in dict(page)


def test_raw_page_fetches_the_next_pages(client: Inference) -> None:
    raw = client.tasks.with_raw_response.list(limit=3)
    assert raw.status_code == 200
    assert ids(raw.parsed) == [f"t{i}" for i in range(TOTAL)]


async def test_async_for_over_the_call_walks_every_page(
    aclient: AsyncInference, server: Loopback
) -> None:
    pager = aclient.tasks.list(limit=3)
    assert isinstance(pager, AsyncPager) and server.seen == []  # nothing sent before use
    assert [task.id async for task in pager] == [f"t{i}" for i in range(TOTAL)]
    assert len(server.seen) == 3


async def test_await_gives_the_first_page_and_next_page_follows(aclient: AsyncInference) -> None:
    page: AsyncPage[TaskDTO] | None = await aclient.tasks.list(limit=4)
    assert isinstance(page, AsyncPage)
    seen: list[list[str]] = []
    while page is not None:
        seen.append(ids(page.items))
        page = await page.next_page()
    assert seen == [["t0", "t1", "t2", "t3"], ["t4", "t5", "t6"]]


async def test_async_page_iteration_and_query_cursors(aclient: AsyncInference) -> None:
    first = await aclient.tasks.featured(limit=2)
    assert [task.id async for task in first] == [f"t{i}" for i in range(TOTAL)]
    assert [len(p.items) async for p in first.iter_pages()] == [2, 2, 2, 1]


async def test_async_raw_page(aclient: AsyncInference) -> None:
    raw = await aclient.tasks.with_raw_response.list(limit=3)
    assert raw.status_code == 200 and isinstance(raw.parsed, AsyncPage)
    assert [task.id async for task in raw.parsed] == [f"t{i}" for i in range(TOTAL)]
