"""App authoring: write an app with ``BaseApp`` and serve it locally, as the platform would.

Run this file to serve the app in-process and call it with the client::

    python examples/app_authoring.py

Or serve it with the command and run it from another shell::

    inferencesh serve --app me/greeter=examples/app_authoring.py:Greeter --port 8765
    inferencesh run me/greeter -i name=Ada --base-url http://127.0.0.1:8765 --api-key inf_local
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator

import httpx
from pydantic import Field

from inferencesh import BaseApp, BaseAppInput, BaseAppOutput, BaseAppSetup, File, inference


class GreeterSetup(BaseAppSetup):
    greeting: str = Field("Hello", description="the word to greet with")


class GreeterInput(BaseAppInput):
    name: str = Field(description="who to greet")
    times: int = Field(1, ge=1, le=10, description="how many greetings")


class GreeterOutput(BaseAppOutput):
    text: str
    card: File


class SpellInput(BaseAppInput):
    word: str = Field(description="a word to spell out")


class SpellOutput(BaseAppOutput):
    spelled: str = ""


class Greeter(BaseApp):
    """Greets by name and writes the greeting to a file; ``spell`` streams letter by letter."""

    greeting: str = "Hello"
    folder: str = ""

    async def setup(self, config: GreeterSetup) -> None:
        # Runs once per warm worker: load models here.
        self.greeting = config.greeting
        self.folder = tempfile.mkdtemp(prefix="greeter-")

    async def run(self, input_data: GreeterInput) -> GreeterOutput:
        text = " ".join([f"{self.greeting}, {input_data.name}!"] * input_data.times)
        print(f"greeting {input_data.name}")  # shows up in the task's logs
        path = os.path.join(self.folder, "card.txt")
        with open(path, "w") as handle:
            handle.write(text + "\n")
        return GreeterOutput(text=text, card=File(path=path))

    async def spell(self, input_data: SpellInput) -> AsyncIterator[SpellOutput]:
        # An async generator streams partial outputs, as a language model streams tokens.
        for index in range(len(input_data.word)):
            yield SpellOutput(spelled="-".join(input_data.word[: index + 1]))


def main() -> None:
    from inferencesh.local import LocalRuntime

    with (
        LocalRuntime(apps=[("me/greeter", Greeter)]) as runtime,
        inference(api_key="inf_local", base_url=runtime.base_url) as client,
    ):
        result = client.tasks.run({"app": "me/greeter", "input": {"name": "Ada", "times": 2}})
        output = result["output"]
        print(f"run: {output['text']}")
        print(f"run: card says {httpx.get(output['card']['uri']).text.strip()!r}")

        setup = {"greeting": "Bonjour"}
        other = client.tasks.run({"app": "me/greeter", "setup": setup, "input": {"name": "Lin"}})
        print(f"setup: {other['output']['text']}")

        spell = {"app": "me/greeter", "function": "spell", "input": {"word": "abc"}}
        for update in client.tasks.run(spell, stream=True):
            if update.get("output"):
                print(f"spell: {update['output']['spelled']}")

        try:
            client.tasks.run({"app": "me/greeter", "input": {"name": "Bo", "times": 99}})
        except RuntimeError as exc:  # TaskFailedError: the input failed validation in the app
            print(f"invalid input: task failed ({str(exc).splitlines()[0]})")


if __name__ == "__main__":
    main()
