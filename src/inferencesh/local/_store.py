"""Records of tasks, sessions and files, kept in SQLite so a restarted runtime still answers."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

__all__ = ["Store"]

_KINDS = ("tasks", "sessions", "files")


class Store:
    """JSON records by kind and id; ``path=None`` keeps them in memory."""

    def __init__(self, path: Path | None) -> None:
        target = str(path) if path is not None else ":memory:"
        # One connection, used from the server's event loop and, briefly, from the thread that
        # starts and stops it; the lock keeps those uses apart.
        self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        for kind in _KINDS:
            self._db.execute(
                f"CREATE TABLE IF NOT EXISTS {kind} "
                "(id TEXT PRIMARY KEY, seq INTEGER, data TEXT NOT NULL)"
            )

    def put(self, kind: str, record_id: str, data: dict[str, Any]) -> None:
        """Insert or replace one record."""
        text = json.dumps(data, separators=(",", ":"))
        with self._lock:
            self._db.execute(
                f"INSERT INTO {kind} (id, seq, data) VALUES (?, "
                f"(SELECT COALESCE(MAX(seq), 0) + 1 FROM {kind}), ?) "
                "ON CONFLICT(id) DO UPDATE SET data = excluded.data",
                (record_id, text),
            )

    def get(self, kind: str, record_id: str) -> dict[str, Any] | None:
        """One record, or None."""
        with self._lock:
            row = self._db.execute(f"SELECT data FROM {kind} WHERE id = ?", (record_id,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def all(self, kind: str) -> list[dict[str, Any]]:
        """Every record of a kind, oldest first."""
        with self._lock:
            rows = self._db.execute(f"SELECT data FROM {kind} ORDER BY seq").fetchall()
        return [dict(json.loads(row[0])) for row in rows]

    def delete(self, kind: str, record_id: str) -> None:
        """Remove one record (no error when it does not exist)."""
        with self._lock:
            self._db.execute(f"DELETE FROM {kind} WHERE id = ?", (record_id,))

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
