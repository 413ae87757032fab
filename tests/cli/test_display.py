"""The command's display, both ways: drawn by rich (the ``cli`` extra) and by the plain fallback,
on a stream that says it is a terminal; and the pieces the output is built from."""

from __future__ import annotations

import base64
import io
import re
import sys

import pytest

from inferencesh._cli import _display
from inferencesh._cli._common import to_json
from inferencesh._cli._display import (
    Progress,
    RichProgress,
    TracebackFilter,
    open_progress,
    print_table,
)
from inferencesh.types import TaskDTO, TaskLog, TaskStatus

TRACEBACK = """\
about to fail
Traceback (most recent call last):
  File "app.py", line 3, in run
    raise KeyError("x")
KeyError: 'x'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "app.py", line 5, in run
    raise RuntimeError("kaboom")
RuntimeError: kaboom
"""


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def plain(screen: str) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)


@pytest.fixture
def without_rich(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if the cli extra were not installed."""
    monkeypatch.setitem(sys.modules, "rich", None)


@pytest.fixture(autouse=True)
def a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm")


def task(status: int, log: str = "") -> TaskDTO:
    """A task update with the app's log so far (the fields the display reads)."""
    now = "2026-11-20T09:00:00Z"
    entry = {"id": "l1", "task_id": "t1", "created_at": now, "updated_at": now, "log_type": 1}
    content = base64.b64encode(log.encode()).decode()
    logs = [TaskLog.model_validate(entry | {"content": content})]
    return TaskDTO.model_construct(id="t1", status=TaskStatus(status), logs=logs, output={})


def test_tracebacks_are_dropped_from_streamed_logs() -> None:
    drop = TracebackFilter()
    pieces = [TRACEBACK[i : i + 7] for i in range(0, len(TRACEBACK), 7)]  # as it streams
    pieces.append("after the failure\n")
    shown = "".join(drop.feed(piece) for piece in pieces)
    assert shown == "about to fail\nafter the failure\n"
    assert drop.dropped
    untouched = TracebackFilter()
    assert untouched.feed("  indented output\nTracebacks are words too\n") == (
        "  indented output\nTracebacks are words too\n"
    )
    assert not untouched.dropped
    # A message over several lines, written with the traceback: all of it goes.
    pydantic = TracebackFilter()
    shown = pydantic.feed(
        'Traceback (most recent call last):\n  File "app.py", line 1\n'
        "ValidationError: 1 validation error for In\nby\n  Input should be an integer\n"
    )
    assert shown == "" and pydantic.feed("a later log line\n") == "a later log line\n"


def test_rich_draws_the_status_line_when_installed() -> None:
    screen = Terminal()
    progress = open_progress(screen)
    assert isinstance(progress, RichProgress)
    with progress:
        progress.waiting("starting infsh/echo")
        progress.note("a log line [not markup]")
        progress.status("task t1", "running", 0.5)
    shown = plain(screen.getvalue())
    assert "starting infsh/echo waiting" in shown
    assert "a log line [not markup]" in shown
    assert re.search(r"task t1 running \d+\.\ds .* 50%", shown), shown


def test_the_plain_status_line_without_rich(without_rich: None) -> None:
    screen = Terminal()
    progress = open_progress(screen)
    assert type(progress) is Progress
    with progress:
        progress.waiting("starting infsh/echo")
        progress.note("a log line")
        progress.status("task t1", "running", 0.5)
    shown = screen.getvalue()
    assert "\r\x1b[2K" in shown  # redrawn in place
    assert re.search(r"[|/\\-]  starting infsh/echo  waiting  \d+\.\ds", shown)
    assert "a log line\n" in shown
    assert re.search(r"task t1  running  \d+\.\ds  \[#{10}-{10}\]  50%", shown)


def test_off_a_terminal_each_change_is_one_line() -> None:
    log = io.StringIO()
    progress = open_progress(log)
    assert type(progress) is Progress
    with progress:
        progress.waiting("starting infsh/echo")  # no spinner, no line
        progress.status("task t1", "running")
        progress.status("task t1", "running")
        progress.status("task t1", "completed")
    lines = log.getvalue().splitlines()
    assert [line.split("  ")[:2] for line in lines] == [
        ["task t1", "running"],
        ["task t1", "completed"],
    ]


@pytest.mark.parametrize("rich", [True, False], ids=["rich", "plain"])
def test_app_logs_are_shown_without_tracebacks_unless_verbose(
    rich: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not rich:
        monkeypatch.setitem(sys.modules, "rich", None)
    for verbose in (False, True):
        screen = Terminal()
        with open_progress(screen, verbose) as progress:
            progress.task(task(7, TRACEBACK))
            progress.task(task(7, TRACEBACK + "after the failure\n"))  # logs grow
        shown = plain(screen.getvalue())
        assert "about to fail" in shown and "after the failure" in shown
        assert ("RuntimeError: kaboom" in shown) is verbose
        assert ("the app's traceback is hidden; -v shows it" in shown) is not verbose


def test_tables_are_plain_off_a_terminal_and_rich_on_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [["text", "string", "yes", "", "[b]words[/b]"]]
    headers = ["field", "type", "required", "default", "description"]
    print_table(headers, rows)
    assert capsys.readouterr().out.splitlines() == [
        "field  type    required  default  description",
        "-----  ------  --------  -------  ------------",
        "text   string  yes                [b]words[/b]",
    ]
    monkeypatch.setattr(_display, "is_live", lambda stream: True)
    print_table(headers, rows)
    out = capsys.readouterr().out
    assert "─" in out  # rich's rule under the header
    assert re.search(r"text +string +yes +\[b\]words\[/b\]", out)  # cells are text, not markup


def test_json_output_names_the_numbered_statuses() -> None:
    dumped = to_json(task(10))
    assert dumped["status"] == 10 and dumped["status_name"] == "completed"
    assert dumped["logs"][0]["log_type"] == 1 and dumped["logs"][0]["log_type_name"] == "run"
    assert list(dumped).index("status_name") == list(dumped).index("status") + 1
