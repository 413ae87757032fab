"""The data dir: one runtime at a time, a store whose cost does not grow with history,
retention, and the command saying where data lives."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from local_helpers import run_and_wait

from inferencesh.local import DataDirInUseError, LocalRuntime
from inferencesh.local._store import Store

HEADERS = {"Authorization": "Bearer inf_test_key"}


def test_a_second_runtime_on_the_same_data_dir_refuses_to_start(tmp_path: Path) -> None:
    with LocalRuntime(data_dir=tmp_path):
        second = LocalRuntime(data_dir=tmp_path)
        with pytest.raises(DataDirInUseError, match=rf"in use .*\(pid {os.getpid()}\)") as info:
            second.start()
        assert info.value.pid == str(os.getpid())
    with LocalRuntime(data_dir=tmp_path) as again:
        assert again.base_url


def test_serve_says_where_data_lives_and_a_second_serve_names_the_holder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    command = [sys.executable, "-m", "inferencesh", "serve", "--port", "0"]
    command += ["--data-dir", str(data), "--keep-tasks", "100", "--max-workers", "2"]
    command += ["--task-timeout", "30", "--worker-memory", "2048"]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout is not None
        base_url = first.stdout.readline().rsplit(" ", 1)[1].strip()
        storage = first.stdout.readline()
        assert f"data: {data.resolve()}" in storage and "the newest 100 tasks" in storage
        with httpx.Client(base_url=base_url, headers=HEADERS) as http:
            task = run_and_wait(http, {"app": "infsh/echo", "input": {"a": 1}})
            assert task["status"] == 10
        second = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        assert second.returncode == 2
        assert f"(pid {first.pid})" in second.stderr and str(data) in second.stderr
    finally:
        first.terminate()
        assert first.wait(timeout=60) == 0


def _plans(store: Store, statements: list[str]) -> list[str]:
    details: list[str] = []
    connection = store._db  # noqa: SLF001 - the plans of the store's own statements
    for statement in statements:
        if statement.startswith(("PRAGMA", "BEGIN", "COMMIT", "CREATE", "ALTER", "DROP")):
            continue
        plan = connection.execute(f"EXPLAIN QUERY PLAN {statement}").fetchall()
        details += [f"{statement} -> {row[3]}" for row in plan]
    return details


def test_store_reads_and_writes_are_answered_from_indexes(tmp_path: Path) -> None:
    # What each request and each write of a task costs must not grow with the history kept.
    store = Store(tmp_path / "s.sqlite3")
    seen: list[str] = []
    store._db.set_trace_callback(seen.append)  # noqa: SLF001
    for index in range(20):
        store.put("tasks", f"t{index}", {"n": index})
    store.put("tasks", "t3", {"n": 33})
    store.get("tasks", "t5")
    store.delete("tasks", "t7")
    store._db.set_trace_callback(None)  # noqa: SLF001
    assert not any("MAX(" in statement.upper() for statement in seen), seen
    # Bound parameters are shown inline by the trace; the plan is the same with any value.
    details = _plans(store, seen)
    assert details and not [line for line in details if "-> SCAN" in line], details
    store.put("tasks", "open", {"n": -1}, open=True)
    seen.clear()
    store._db.set_trace_callback(seen.append)  # noqa: SLF001
    assert store.open_records("tasks") == [{"n": -1}]
    store._db.set_trace_callback(None)  # noqa: SLF001
    assert not [line for line in _plans(store, seen) if "-> SCAN" in line]
    # The newest five are "open", t19 .. t16; an open record is never pruned.
    assert store.prune("tasks", keep=5) == [f"t{n}" for n in range(16) if n != 7]
    assert store.count("tasks") == 5
    assert store.prune("tasks", keep=0) == ["t16", "t17", "t18", "t19"]
    store.close()


def test_old_stores_are_migrated_in_order(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE tasks (id TEXT PRIMARY KEY, seq INTEGER, data TEXT NOT NULL)")
    db.executemany(
        "INSERT INTO tasks VALUES (?, ?, ?)", [("b", 2, '{"n": 2}'), ("a", 1, '{"n": 1}')]
    )
    db.commit()
    db.close()
    store = Store(path)
    assert store.all("tasks") == [{"n": 1}, {"n": 2}]
    assert store.open_records("tasks") == [{"n": 1}, {"n": 2}]
    store.close()


def test_retention_keeps_the_newest_tasks_and_drops_old_records(tmp_path: Path) -> None:
    ids: list[str] = []
    with (
        LocalRuntime(data_dir=tmp_path) as rt,
        httpx.Client(base_url=rt.base_url, headers=HEADERS) as http,
    ):
        for index in range(5):
            ids.append(run_and_wait(http, {"app": "infsh/echo", "input": {"n": index}})["id"])
    with (
        LocalRuntime(data_dir=tmp_path, keep_tasks=3) as rt,
        httpx.Client(base_url=rt.base_url, headers=HEADERS) as http,
    ):
        found = [http.get(f"/tasks/{task_id}").status_code for task_id in ids]
        assert found == [404, 404, 200, 200, 200]
        assert "the newest 3 tasks" in rt.storage and "3 tasks stored" in rt.storage
    with (
        LocalRuntime(data_dir=tmp_path, keep_days=1e-9) as rt,
        httpx.Client(base_url=rt.base_url, headers=HEADERS) as http,
    ):
        assert [http.get(f"/tasks/{task_id}").status_code for task_id in ids[2:]] == [404] * 3
