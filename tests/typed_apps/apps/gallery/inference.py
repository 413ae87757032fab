"""A test app whose schemas use every shape a typed module has to carry: nested models, enums
(string and integer), a Literal, lists, dicts, optional fields, defaults, bounds and files."""

from __future__ import annotations

import os
import tempfile
from enum import Enum
from typing import Literal

from pydantic import Field

from inferencesh.app import BaseApp, BaseAppInput, BaseAppOutput, BaseAppSetup, File


class Color(str, Enum):
    red = "red"
    green = "green"
    blue = "blue"


class Size(int, Enum):
    small = 1
    large = 2


class Point(BaseAppInput):
    x: float
    y: float = 0.0
    label: str | None = None


class Frame(BaseAppInput):
    """A frame: a corner and the points in it."""

    corner: Point
    points: list[Point] = Field(default_factory=list)
    color: Color | None = None


class GalleryInput(BaseAppInput):
    prompt: str = Field(description="what to draw")
    steps: int = Field(4, ge=1, le=50, description="how many steps")
    color: Color = Color.red
    size: Size | None = None
    mode: Literal["fast", "slow"] = "fast"
    frames: list[Frame] = Field(default_factory=list)
    origin: Point | None = None
    tags: list[str] = []
    weights: dict[str, float] = {}
    image: File | None = Field(None, description="a text file to shout")
    masks: list[File] = []


class GalleryOutput(BaseAppOutput):
    image: File
    colors: list[Color]
    center: Point
    frames: int
    masks: list[int] = Field(default_factory=list)
    note: str | None = None


class GallerySetup(BaseAppSetup):
    model: str = Field("small", description="which model to load")
    scale: float = 1.0


class App(BaseApp):
    model: str = ""

    async def setup(self, config: GallerySetup) -> None:
        self.model = config.model

    async def run(self, input_data: GalleryInput) -> GalleryOutput:
        text = "no image"
        if input_data.image is not None and input_data.image.path:
            with open(input_data.image.path) as handle:
                text = handle.read()
        target = os.path.join(tempfile.mkdtemp(), "shout.txt")
        with open(target, "w") as handle:
            handle.write(text.upper())
        sizes = [os.path.getsize(mask.path) for mask in input_data.masks if mask.path]
        return GalleryOutput(
            image=File(path=target),
            colors=[input_data.color, *(f.color for f in input_data.frames if f.color)],
            center=input_data.origin or Point(x=0),
            frames=len(input_data.frames),
            masks=sizes,
            note=f"{self.model}:{input_data.prompt}:{input_data.steps}:{input_data.mode}",
        )

    async def outline(self, input_data: Frame) -> Point:
        """A second function: the frame's corner."""
        return input_data.corner
