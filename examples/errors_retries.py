"""Errors and retries: one exception tree under ``InferenceError``, and retry settings.

python examples/errors_retries.py
"""

from __future__ import annotations

from _env import api

from inferencesh import (
    APIError,
    AuthenticationError,
    InferenceError,
    InvalidInputError,
    NotFoundError,
    TaskFailedError,
    inference,
)


def main() -> None:
    with api() as (base_url, key):
        # Retries: GETs, cancels and keepalives are retried on 408/429/5xx and connection
        # errors with backoff; creating calls only when they cannot have run twice.
        client = inference(api_key=key, base_url=base_url, max_retries=4, timeout=30.0)
        with client:
            print(f"client: max_retries={client.max_retries}")

            # A task that fails raises TaskFailedError (also a RuntimeError) with its state.
            try:
                client.tasks.run({"app": "infsh/fail", "input": {"message": "boom"}})
            except TaskFailedError as exc:
                print(f"TaskFailedError: {exc.task['error']} (task {exc.task_id})")

            # HTTP errors carry the status, the server's code and the request id.
            try:
                client.tasks.run({"app": "nobody/nothing", "input": {}})
            except NotFoundError as exc:
                print(f"NotFoundError: status={exc.status_code} code={exc.code}")

            # Bad input is refused before anything is sent, naming the field and the range.
            try:
                client.tasks.run(
                    {"app": "infsh/echo", "input": {}, "session": "new", "session_timeout": 0}
                )
            except InvalidInputError as exc:
                print(f"InvalidInputError: {exc}")

        # A key the server refuses (the local runtime takes only inf_ keys).
        with inference(api_key="wrong-key", base_url=base_url, max_retries=0) as bad:
            try:
                bad.tasks.get("anything")
            except AuthenticationError as exc:
                print(f"AuthenticationError: status={exc.status_code}")
            except APIError as exc:  # a real server may answer differently
                print(f"APIError: status={exc.status_code}")
            except InferenceError as exc:
                print(f"InferenceError: {exc}")


if __name__ == "__main__":
    main()
