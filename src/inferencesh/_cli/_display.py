"""Terminal output: the live status line of a running command, and tables.

On a terminal with the ``cli`` extra (rich) installed, rich draws the status line (spinner,
progress bar, transfer sizes) and the tables. Without rich, a plain status line is redrawn in
place (a ticker thread keeps the spinner and the elapsed time moving). Off a terminal each change
is one plain line, so logs and CI output stay readable, and tables are plain aligned text.
"""

from __future__ import annotations

import base64
import binascii
import os
import shutil
import sys
import threading
import time
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TextIO, cast

from inferencesh._status import parse_status

if TYPE_CHECKING:
    from inferencesh._generated.models import TaskDTO

__all__ = ["Progress", "TracebackFilter", "open_progress", "print_table", "status_name", "table"]

_SPINNER = "|/-\\"
_TICK_SECONDS = 0.2
_TRACEBACK_HEAD = "Traceback (most recent call last):"
_CHAINED = (
    "During handling of the above exception",
    "The above exception was the direct cause",
)


def status_name(value: Any) -> str:
    """``running``, ``completed``, ... for a wire status."""
    status = parse_status(value)
    return status.name.lower() if status is not None else "unknown"


def is_live(stream: TextIO | None) -> bool:
    """Whether ``stream`` is a terminal that can redraw a line in place."""
    try:
        return stream is not None and stream.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        return False


def _rich_available() -> bool:
    try:
        import rich  # noqa: F401  # pyright: ignore[reportUnusedImport]
    except ImportError:
        return False
    return True


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"


def _bar(fraction: float, width: int = 20) -> str:
    fraction = min(max(fraction, 0.0), 1.0)
    filled = int(round(fraction * width))
    return f"[{'#' * filled}{'-' * (width - filled)}] {fraction * 100:3.0f}%"


def _tenths(fraction: float | None) -> int | None:
    # Without a terminal, progress is printed in steps of 10% rather than at every update.
    return None if fraction is None else int(fraction * 10)


class TracebackFilter:
    """Drops Python tracebacks from an app's log text (the failure's one line says why).

    Fed the log in pieces as it streams; keeps a partial last line until it is complete. An
    exception's message may run over several lines (pydantic's do): the lines that arrive with
    the exception line, up to a blank line, are taken as its message.
    """

    def __init__(self) -> None:
        self._pending = ""
        self._inside = False
        self._message = False  # the exception line was in this piece: its message may go on
        self._after = False  # just past a traceback: a chained one may follow
        self.dropped = False

    def feed(self, text: str) -> str:
        """The lines of ``text`` (plus what was pending) that are not part of a traceback."""
        lines = (self._pending + text).split("\n")
        self._pending = lines.pop()
        kept = "".join(line + "\n" for line in lines if self._keep(line))
        self._message = False
        return kept

    def _keep(self, line: str) -> bool:
        bare = line.strip().lstrip("+| ").strip()
        if bare.startswith(_TRACEBACK_HEAD) or bare.startswith("Exception Group Traceback"):
            self._inside, self._after, self.dropped = True, False, True
            return False
        if self._inside:
            if line[:1] in (" ", "\t") or not line.strip():
                return False
            # The first line at the margin is the exception itself: the end of this traceback.
            self._inside, self._message, self._after = False, True, True
            return False
        if not line.strip() or line.startswith(_CHAINED):
            self._message = False
            return not self._after
        if self._message:
            return False
        self._after = False
        return True


class Progress:
    """Progress of one command on ``stream`` (``None``: silent), drawn as plain text.

    ``verbose`` keeps tracebacks in the app logs it shows.
    """

    def __init__(self, stream: TextIO | None, verbose: bool = False) -> None:
        self._stream = stream
        self._verbose = verbose
        self._live = is_live(stream)
        self._lock = threading.Lock()
        self._start = time.monotonic()
        self._label = ""
        self._status = ""
        self._fraction: float | None = None
        self._shown = False
        self._tick = 0
        self._log_seen: dict[int, int] = {}
        self._log_filters: dict[int, TracebackFilter] = {}
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    @property
    def elapsed(self) -> float:
        """Seconds since the progress started."""
        return time.monotonic() - self._start

    def __enter__(self) -> Progress:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start redrawing the status line (on a terminal)."""
        if self._live:
            self._ticker = threading.Thread(target=self._run_ticker, daemon=True)
            self._ticker.start()

    def stop(self) -> None:
        """Remove the status line for good; later notes are plain lines."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(1)
        with self._lock:
            self._clear()
            self._status = ""

    def _run_ticker(self) -> None:
        while not self._stop.wait(_TICK_SECONDS):
            with self._lock:
                if self._status:
                    self._draw()

    def _clear(self) -> None:
        if self._live and self._shown and self._stream is not None:
            self._stream.write("\r\x1b[2K")
            self._stream.flush()
            self._shown = False

    def _draw(self) -> None:
        assert self._stream is not None
        self._tick += 1
        parts = [_SPINNER[self._tick % len(_SPINNER)], self._label, self._status]
        parts.append(f"{self.elapsed:.1f}s")
        if self._fraction is not None:
            parts.append(_bar(self._fraction))
        width = shutil.get_terminal_size((80, 24)).columns - 1
        line = "  ".join(part for part in parts if part)[:width]
        self._stream.write(f"\r\x1b[2K{line}")
        self._stream.flush()
        self._shown = True

    def note(self, text: str) -> None:
        """A line of its own (above the status line on a terminal)."""
        if self._stream is None:
            return
        with self._lock:
            self._clear()
            self._stream.write(text if text.endswith("\n") else text + "\n")
            if self._live and self._status and not self._stop.is_set():
                self._draw()
            else:
                self._stream.flush()

    def waiting(self, label: str) -> None:
        """A request is on its way: a spinner on a terminal (nothing printed elsewhere)."""
        if self._live:
            self.status(label, "waiting")

    def status(self, label: str, status: str, fraction: float | None = None) -> None:
        """Set the status line; without a terminal, print it when the status changes."""
        if self._stream is None or self._stop.is_set():
            return
        with self._lock:
            changed = status != self._status or _tenths(fraction) != _tenths(self._fraction)
            self._label, self._status, self._fraction = label, status, fraction
            if self._live:
                self._draw()
            elif changed:
                bar = f"  {_bar(fraction)}" if fraction is not None else ""
                self._stream.write(f"{label}  {status}  {self.elapsed:.1f}s{bar}\n")
                self._stream.flush()

    def upload(self, name: str, sent: int, total: int | None) -> None:
        """Upload progress of one file."""
        if self._stream is None:
            return
        done = total is not None and sent >= total
        if self._live:
            fraction = sent / total if total else None
            text = f"{_size(sent)}" + (f" of {_size(total)}" if total else "")
            self.status(f"uploading {name}", text, fraction)
        elif done or sent == 0:
            self.note(f"uploading {name}  {_size(sent)}" + (" done" if done else ""))

    def task(self, task: TaskDTO) -> None:
        """Show one task update: new log text, then the status line."""
        for log in task.logs:
            kind = int(log.log_type)
            try:
                data = base64.b64decode(log.content or "")
            except (binascii.Error, ValueError):
                continue
            seen = self._log_seen.get(kind, 0)
            if len(data) > seen:
                self._log_seen[kind] = len(data)
                self._log(kind, data[seen:].decode("utf-8", errors="replace"))
        output = task.get("output")
        fraction: float | None = None
        if isinstance(output, dict):
            value: Any = cast(dict[str, Any], output).get("progress")
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                fraction = float(value)
        self.status(f"task {task.id}", status_name(task.status), fraction)

    def _log(self, kind: int, text: str) -> None:
        if not self._verbose:
            log_filter = self._log_filters.setdefault(kind, TracebackFilter())
            had_dropped = log_filter.dropped
            text = log_filter.feed(text)
            if log_filter.dropped and not had_dropped:
                text += "(the app's traceback is hidden; -v shows it)\n"
        text = text.rstrip("\n")
        if text:
            self.note(text)


class RichProgress(Progress):
    """The same progress drawn by rich (the ``cli`` extra) on a terminal."""

    def __init__(self, stream: TextIO, verbose: bool = False) -> None:
        super().__init__(stream, verbose)
        from rich.console import Console, RenderableType
        from rich.progress import BarColumn, ProgressColumn, SpinnerColumn, Task, TextColumn
        from rich.progress import Progress as RichBar
        from rich.text import Text

        class Bar(ProgressColumn):
            """A bar only when the fraction is known (no pulsing bar for a plain status)."""

            def __init__(self) -> None:
                super().__init__()
                self._bar = BarColumn()

            def render(self, task: Task) -> RenderableType:
                return Text("") if task.total is None else self._bar.render(task)

        self._console = Console(file=stream, highlight=False, soft_wrap=True)
        self._bar = RichBar(
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False),
            TextColumn("{task.fields[status]}", style="bold", markup=False),
            TextColumn("{task.fields[elapsed]}", style="dim", markup=False),
            Bar(),
            TextColumn("{task.fields[percent]}", markup=False),
            console=self._console,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._row = self._bar.add_task("", total=None, status="", elapsed="", percent="")
        self._bar.update(self._row, visible=False)

    def start(self) -> None:
        self._bar.start()
        self._ticker = threading.Thread(target=self._run_ticker, daemon=True)
        self._ticker.start()

    def stop(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(1)
        with self._lock:
            self._bar.stop()
            self._status = ""

    def _draw(self) -> None:
        fraction = self._fraction
        self._bar.update(
            self._row,
            description=self._label,
            status=self._status,
            elapsed=f"{self.elapsed:.1f}s",
            total=1.0 if fraction is not None else None,
            completed=min(max(fraction, 0.0), 1.0) if fraction is not None else 0,
            percent=f"{fraction * 100:3.0f}%" if fraction is not None else "",
            visible=True,
        )

    def _clear(self) -> None:
        pass  # rich keeps notes above the live line itself

    def note(self, text: str) -> None:
        with self._lock:
            self._console.print(text.rstrip("\n"), markup=False, emoji=False)

    def status(self, label: str, status: str, fraction: float | None = None) -> None:
        if self._stop.is_set():
            return
        with self._lock:
            step = _tenths(fraction) != _tenths(self._fraction)
            changed = step or (label, status) != (self._label, self._status)
            self._label, self._status, self._fraction = label, status, fraction
            self._draw()
            if changed:  # shown now, not at the next refresh: a step may not last that long
                self._bar.refresh()


def open_progress(stream: TextIO | None, verbose: bool = False) -> Progress:
    """The progress display for ``stream``: rich on a terminal when installed, else plain."""
    if stream is not None and is_live(stream) and _rich_available():
        return RichProgress(stream, verbose)
    return Progress(stream, verbose)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain text table with aligned columns."""
    widths = [len(header) for header in headers]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=False)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(headers, widths, strict=False))]
    lines.append("  ".join("-" * width for width in widths))
    for row in rows:
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)))
    return "\n".join(line.rstrip() for line in lines)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A table on stdout: rich's (wrapped to the terminal) on a terminal, else plain text."""
    if is_live(sys.stdout) and _rich_available():
        from rich import box
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        grid = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for header in headers:
            grid.add_column(Text(header), overflow="fold")
        for row in rows:
            grid.add_row(*(Text(cell) for cell in row))  # Text: a "[x]" in a cell is not markup
        Console(file=sys.stdout, highlight=False).print(grid)
        return
    print(table(headers, rows))
