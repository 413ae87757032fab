"""Apps the runtime tests register besides the built-in ones."""

from __future__ import annotations

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
