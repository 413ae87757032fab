"""Terminal output: the live status line of a running task, and plain tables.

On a terminal the status line is redrawn in place (a ticker thread keeps the elapsed time
moving between updates); elsewhere each change is one plain line, so logs and CI output stay
readable.
"""

from __future__ import annotations

import base64
import binascii
import os
import shutil
import threading
import time
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TextIO, cast

from inferencesh._status import parse_status

if TYPE_CHECKING:
    from inferencesh._generated.models import TaskDTO

__all__ = ["Progress", "status_name", "table"]

_SPINNER = "|/-\\"
_TICK_SECONDS = 0.2


def status_name(value: Any) -> str:
    """``running``, ``completed``, ... for a wire status."""
    status = parse_status(value)
    return status.name.lower() if status is not None else "unknown"


def _is_live(stream: TextIO) -> bool:
    try:
        return stream.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        return False


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


class Progress:
    """Progress of one command on ``stream`` (``None``: silent)."""

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream
        self._live = stream is not None and _is_live(stream)
        self._lock = threading.Lock()
        self._start = time.monotonic()
        self._label = ""
        self._status = ""
        self._fraction: float | None = None
        self._shown = False
        self._tick = 0
        self._log_seen: dict[int, int] = {}
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    @property
    def elapsed(self) -> float:
        """Seconds since the progress started."""
        return time.monotonic() - self._start

    def __enter__(self) -> Progress:
        if self._live:
            self._ticker = threading.Thread(target=self._run_ticker, daemon=True)
            self._ticker.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

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
            if self._live and self._status:
                self._draw()
            else:
                self._stream.flush()

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
                self.note(data[seen:].decode("utf-8", errors="replace").rstrip("\n"))
        output = task.get("output")
        fraction: float | None = None
        if isinstance(output, dict):
            value: Any = cast(dict[str, Any], output).get("progress")
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                fraction = float(value)
        self.status(f"task {task.id}", status_name(task.status), fraction)


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
