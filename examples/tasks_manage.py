"""Task management: get a task, follow an existing one, cancel one, wait with a timeout.

python examples/tasks_manage.py
"""

from __future__ import annotations

from _env import api

from inferencesh import TaskFailedError, TaskStatus, WaitTimeoutError, inference


def main() -> None:
    with api() as (base_url, key), inference(api_key=key, base_url=base_url) as client:
        task = client.tasks.run({"app": "infsh/slow", "input": {"seconds": 0.5}}, wait=False)
        print(f"started task {task.id}")

        # The current state, at any time.
        print(f"get: status={client.tasks.get(task.id).status.name}")

        # Follow an existing task; the stream's result is its final state.
        with client.tasks.stream(task.id) as stream:
            for update in stream:
                print(f"stream: {update.status.name}")
        assert stream.result is not None
        print(f"stream: result output={stream.result['output']}")

        # A wait that runs out raises WaitTimeoutError; the task keeps running.
        slow = client.tasks.run({"app": "infsh/slow", "input": {"seconds": 30}}, wait=False)
        try:
            client.tasks.wait_for_completion(slow.id, timeout=0.5)
        except WaitTimeoutError:
            print(f"wait: task {slow.id} still running after 0.5 s")

        # Cancel it; waiting for a cancelled task raises TaskFailedError with its final state.
        client.tasks.cancel(slow.id)
        try:
            client.tasks.wait_for_completion(slow.id)
        except TaskFailedError as exc:
            cancelled = exc.task["status"] == TaskStatus.CANCELLED
            print(f"cancel: task {exc.task_id} cancelled={cancelled}")


if __name__ == "__main__":
    main()
