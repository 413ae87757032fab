"""Apps the runtime tests register besides the built-in ones."""

from __future__ import annotations

from collections.abc import AsyncIterator

from pydantic import Field

from inferencesh import BaseApp, BaseAppInput, BaseAppOutput, Metadata


class GreeterInput(BaseAppInput):
    name: str = Field(description="who to greet")
    punctuation: str = "!"


class GreeterOutput(BaseAppOutput):
    greeting: str
    worker_id: str | None = None


class GreeterApp(BaseApp):
    greeting: str = "Hello"

    async def setup(self, metadata: Metadata) -> None:
        self.greeting = "Hello"

    async def run(self, input_data: GreeterInput, metadata: Metadata) -> GreeterOutput:
        text = f"{self.greeting}, {input_data.name}{input_data.punctuation}"
        return GreeterOutput(greeting=text, worker_id=metadata.worker_id)

    async def shout(self, input_data: GreeterInput) -> GreeterOutput:
        return GreeterOutput(greeting=f"{self.greeting.upper()}, {input_data.name.upper()}!")


class SecretApp(BaseApp):
    async def run(self, input_data: BaseAppInput) -> BaseAppOutput:
        return BaseAppOutput()


class NanApp(BaseApp):
    async def run(self, input_data: BaseAppInput) -> dict[str, float]:
        return {"value": float("nan")}


class SizeInput(BaseAppInput):
    megabytes: float = 1.0
    stream: bool = False


class BigOutputApp(BaseApp):
    """Returns (or streams) a text of the asked size."""

    async def run(self, input_data: SizeInput) -> dict[str, str]:
        return {"text": "x" * int(input_data.megabytes * 1024 * 1024)}

    async def stream(self, input_data: SizeInput) -> AsyncIterator[dict[str, str]]:
        yield {"text": "small"}
        yield {"text": "x" * int(input_data.megabytes * 1024 * 1024)}


class MemoryHogApp(BaseApp):
    """Holds the asked amount of memory."""

    async def run(self, input_data: SizeInput) -> dict[str, int]:
        held = bytearray(int(input_data.megabytes * 1024 * 1024))
        return {"held": len(held)}
