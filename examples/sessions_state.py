"""Sessions: state kept in one warm worker across calls.

``infsh/counter`` keeps a counter in memory: ``run`` adds ``by``, ``process`` remembers a step.

    python examples/sessions_state.py
"""

from __future__ import annotations

from _env import api

from inferencesh import SessionEndedError, inference


def main() -> None:
    with api() as (base_url, key), inference(api_key=key, base_url=base_url) as client:
        # By hand: start with session="new", continue with the session id, end it.
        first = client.tasks.run(
            {"app": "infsh/counter", "input": {"by": 5}, "session": "new", "session_timeout": 120}
        )
        session_id = first["session_id"]
        second = client.tasks.run(
            {"app": "infsh/counter", "input": {"by": 2}, "session": session_id}
        )
        print(f"manual: count {first['output']['count']} -> {second['output']['count']}")
        info = client.sessions.get(session_id)
        print(f"manual: session {info.status.value}, {info.call_count} calls")
        listed = [session.id for session in client.sessions.list()]
        print(f"manual: listed={session_id in listed}")
        client.sessions.end(session_id)
        print(f"manual: ended, now {client.sessions.get(session_id).status.value}")

        # The context manager: call() runs any function of the app; the session ends on exit.
        with client.session("infsh/counter", input={"by": 1}) as session:
            session.call("process", {"step": 1})
            last = session.call("process", {"step": 2})
            print(f"context: history={last['output']['history']} count={last['output']['count']}")
            for update in session.call("run", {"by": 10}, stream=True):
                if update.get("output"):
                    print(f"context: streamed count={update['output']['count']}")
        try:
            session.call("run", {"by": 1})
        except SessionEndedError:
            print("context: session ended on exit")


if __name__ == "__main__":
    main()
