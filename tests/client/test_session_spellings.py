"""``client.session(...)`` is spelled the same on both clients: ``with`` / ``async with`` directly,
or kept (``session = client.session(...)`` / ``session = await client.session(...)``)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from inferencesh import (
    AsyncInference,
    AsyncSession,
    Inference,
    InvalidInputError,
    Session,
    SessionEndedError,
    TaskFailedError,
)

from .conftest import Recorder

COUNTER = "infsh/counter"
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


async def test_async_with_the_call_itself_starts_and_ends_the_session(
    aclient: AsyncInference,
) -> None:
    async with aclient.session(COUNTER, input={"by": 2}) as session:
        assert isinstance(session, AsyncSession)
        assert session.result.output["count"] == 2
        assert (await session.call("run", {"by": 3})).output["count"] == 5
    assert (await aclient.sessions.get(session.session_id)).status == "ended"
    with pytest.raises(SessionEndedError):
        await session.call("run", {"by": 1})


async def test_awaiting_the_call_keeps_the_session_until_it_is_ended(
    aclient: AsyncInference,
) -> None:
    session = await aclient.session(COUNTER, input={"by": 1})
    assert isinstance(session, AsyncSession)
    assert (await session.call("run", {"by": 1})).output["count"] == 2
    assert (await session.info()).status == "active"
    await session.end()
    assert (await aclient.sessions.get(session.session_id)).status == "ended"


async def test_the_older_spelling_still_works(aclient: AsyncInference) -> None:
    async with await aclient.session(COUNTER) as session:
        assert session.session_id
    assert (await aclient.sessions.get(session.session_id)).status == "ended"


async def test_async_with_a_failing_first_call_raises_and_leaves_no_session(
    aclient: AsyncInference,
) -> None:
    with pytest.raises(TaskFailedError) as info:
        async with aclient.session("infsh/fail"):
            pytest.fail("the block must not run when the session did not start")
    session_id = info.value.task.session_id
    assert session_id and (await aclient.sessions.get(session_id)).status == "ended"


async def test_the_block_raising_still_ends_the_session(aclient: AsyncInference) -> None:
    with pytest.raises(KeyError):
        async with aclient.session(COUNTER) as session:
            raise KeyError("boom")
    assert (await aclient.sessions.get(session.session_id)).status == "ended"


def test_sync_with_and_kept_session(client: Inference) -> None:
    with client.session(COUNTER, input={"by": 2}) as entered:
        assert isinstance(entered, Session)
    assert client.sessions.get(entered.session_id).status == "ended"
    kept = client.session(COUNTER)  # started at once: the blocking call waits for it
    assert isinstance(kept, Session) and client.sessions.get(kept.session_id).status == "active"
    kept.end()


async def test_bad_input_is_refused_at_the_call_before_anything_is_sent(
    recorder: Recorder,
) -> None:
    import httpx

    http = httpx.AsyncClient(transport=httpx.MockTransport(recorder))
    async with AsyncInference(
        api_key="inf_test", base_url="http://127.0.0.1:9", http_client=http
    ) as offline:
        with pytest.raises(InvalidInputError, match="session_timeout"):
            offline.session(COUNTER, session_timeout=0)  # not awaited: refused already
    await http.aclose()
    assert recorder.requests == []


TYPED = """\
from typing_extensions import assert_type

from inferencesh import AsyncInference, AsyncSession, Inference, Session


def blocking(client: Inference) -> None:
    assert_type(client.session("a/b"), Session)
    with client.session("a/b") as session:
        assert_type(session, Session)


async def awaiting(client: AsyncInference) -> None:
    assert_type(await client.session("a/b"), AsyncSession)
    async with client.session("a/b") as session:
        assert_type(session, AsyncSession)
    async with await client.session("a/b") as session:
        assert_type(session, AsyncSession)
"""


def test_both_spellings_are_typed_as_the_session(tmp_path: Path) -> None:
    source = tmp_path / "spellings.py"
    source.write_text(TYPED)
    mypy = subprocess.run(
        [str(BIN / "mypy"), "--strict", "--cache-dir", str(tmp_path / "cache"), str(source)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert mypy.returncode == 0, mypy.stdout
    pyright = subprocess.run(
        [str(BIN / "pyright"), str(source)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert re.search(r"\b0 errors", pyright.stdout), pyright.stdout
