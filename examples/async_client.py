"""The async client: the same methods, awaited; many tasks at once with asyncio.gather.

python examples/async_client.py
"""

from __future__ import annotations

import asyncio

from _env import api

from inferencesh import async_inference


async def run(base_url: str, key: str) -> None:
    async with async_inference(api_key=key, base_url=base_url) as client:
        result = await client.tasks.run({"app": "infsh/echo", "input": {"text": "async"}})
        print(f"run: {result['output']}")

        # Concurrent runs; max_concurrency (default 32) bounds the requests in flight.
        results = await asyncio.gather(
            *(client.tasks.run({"app": "infsh/echo", "input": {"i": i}}) for i in range(5))
        )
        print(f"gather: {[r['output']['i'] for r in results]}")

        stream = await client.tasks.run(
            {"app": "infsh/stream", "input": {"text": "a b c"}}, stream=True
        )
        async for update in stream:
            if update.get("output"):
                print(f"stream: {update['output']['response']!r}")

        async with client.session("infsh/counter", input={"by": 3}) as session:
            again = await session.call("run", {"by": 4})
            print(f"session: count={again['output']['count']}")


def main() -> None:
    with api() as (base_url, key):
        asyncio.run(run(base_url, key))


if __name__ == "__main__":
    main()
