"""Records of tasks, sessions, files and chats, kept in SQLite so a restarted runtime still answers.

Each kind is one table: ``seq`` (the rowid, so insertion order costs nothing to keep), the record
``id``, ``open`` (1 while the record can still change: a task not finished, a session active;
what a restart has to look at), ``at`` (when it was first stored) and the JSON ``data``. Every
query a request or a write makes is answered from an index, so the cost of a write does not grow
with the history.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["Store"]

_KINDS = ("tasks", "sessions", "files", "chats", "agent_runs")


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
            self._create(kind)

    def _create(self, kind: str) -> None:
        columns = [row[1] for row in self._db.execute(f"PRAGMA table_info({kind})")]
        legacy = bool(columns) and "open" not in columns
        if legacy:
            # Stores written before the open/at columns: keep the order, look at every record once.
            self._db.execute(f"ALTER TABLE {kind} RENAME TO {kind}_legacy")
        self._db.execute(
            f"CREATE TABLE IF NOT EXISTS {kind} (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
            " open INTEGER NOT NULL, at REAL NOT NULL, data TEXT NOT NULL)"
        )
        self._db.execute(f"CREATE INDEX IF NOT EXISTS {kind}_open ON {kind} (open) WHERE open = 1")
        self._db.execute(f"CREATE INDEX IF NOT EXISTS {kind}_at ON {kind} (at)")
        if legacy:
            self._db.execute("BEGIN")
            self._db.execute(
                f"INSERT INTO {kind} (id, open, at, data) "
                f"SELECT id, 1, ?, data FROM {kind}_legacy ORDER BY seq",
                (time.time(),),
            )
            self._db.execute(f"DROP TABLE {kind}_legacy")
            self._db.execute("COMMIT")

    def put(self, kind: str, record_id: str, data: dict[str, Any], *, open: bool = False) -> None:
        """Insert or replace one record; ``open`` marks one a restart must look at."""
        text = json.dumps(data, separators=(",", ":"))
        with self._lock:
            self._db.execute(
                f"INSERT INTO {kind} (id, open, at, data) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET data = excluded.data, open = excluded.open",
                (record_id, int(open), time.time(), text),
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

    def rows(
        self, kind: str, *, after: int | None = None, ascending: bool = False, batch: int = 64
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        """Records with their position, newest first (or oldest), starting after ``after``.

        Read ``batch`` at a time from the primary key, so a page costs the same at any depth.
        """
        order, compare = ("ASC", ">") if ascending else ("DESC", "<")
        position = after
        while True:
            where = "" if position is None else f"WHERE seq {compare} ?"
            params: tuple[Any, ...] = () if position is None else (position,)
            with self._lock:
                found = self._db.execute(
                    f"SELECT seq, data FROM {kind} {where} ORDER BY seq {order} LIMIT ?",
                    (*params, batch),
                ).fetchall()
            for seq, text in found:
                yield int(seq), dict(json.loads(text))
            if len(found) < batch:
                return
            position = int(found[-1][0])

    def open_records(self, kind: str) -> list[dict[str, Any]]:
        """The records still marked open, oldest first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT data FROM {kind} WHERE open = 1 ORDER BY seq"
            ).fetchall()
        return [dict(json.loads(row[0])) for row in rows]

    def count(self, kind: str) -> int:
        """How many records of a kind there are."""
        with self._lock:
            row = self._db.execute(f"SELECT COUNT(*) FROM {kind}").fetchone()
        return int(row[0])

    def prune(
        self, kind: str, *, keep: int | None = None, before: float | None = None
    ) -> list[str]:
        """Delete closed records beyond the newest ``keep`` or stored before ``before``.

        Returns the ids deleted.
        """
        clauses: list[str] = []
        params: list[Any] = []
        with self._lock:
            if keep is not None:
                row = self._db.execute(
                    f"SELECT seq FROM {kind} ORDER BY seq DESC LIMIT 1 OFFSET ?", (keep,)
                ).fetchone()
                if row is not None:
                    clauses.append("seq <= ?")
                    params.append(row[0])
            if before is not None:
                clauses.append("at < ?")
                params.append(before)
            if not clauses:
                return []
            where = f"open = 0 AND ({' OR '.join(clauses)})"
            ids = [r[0] for r in self._db.execute(f"SELECT id FROM {kind} WHERE {where}", params)]
            if ids:
                self._db.execute(f"DELETE FROM {kind} WHERE {where}", params)
        return ids

    def delete(self, kind: str, record_id: str) -> None:
        """Remove one record (no error when it does not exist)."""
        with self._lock:
            self._db.execute(f"DELETE FROM {kind} WHERE id = ?", (record_id,))

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
