"""Run an app three ways: wait for the result, start and wait later, stream every update.

python examples/run_wait_stream.py
"""

from __future__ import annotations

from typing import Any

from _env import api

from inferencesh import TaskStatus, inference, is_terminal_status, parse_status


def main() -> None:
    with api() as (base_url, key), inference(api_key=key, base_url=base_url) as client:
        # 1. Wait (the default): the completed task, or TaskFailedError.
        result = client.tasks.run({"app": "infsh/echo", "input": {"text": "hello"}})
        print(f"wait: output={result['output']} status={result.status.name}")

        # 2. Start now, wait later.
        task = client.tasks.run({"app": "infsh/echo", "input": {"n": 2}}, wait=False)
        print(f"no-wait: task {task.id} created")
        done = client.tasks.wait_for_completion(task.id)
        print(f"no-wait: later output={done['output']}")

        # 3. Stream: typed updates as they happen; token deltas are accumulated into output.
        params = {
            "app": "infsh/stream",
            "input": {"text": "one two three", "delay": 0.05, "progress": True},
        }
        for update in client.tasks.run(params, stream=True):
            status = parse_status(update.get("status"))
            output: dict[str, Any] = update.get("output") or {}
            print(f"stream: {status.name if status else '?'} {output.get('response', '')!r}")
            if is_terminal_status(update.status):
                completed = update.status == TaskStatus.COMPLETED
                print(f"stream: final output={output['response']!r} completed={completed}")


if __name__ == "__main__":
    main()
