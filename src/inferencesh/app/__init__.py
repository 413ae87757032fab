"""App authoring: the classes an inference.sh app is written with."""

from __future__ import annotations

from inferencesh.app._file import File, FileTooLargeError
from inferencesh.app._models import BaseApp, BaseAppInput, BaseAppOutput, BaseAppSetup, Metadata

__all__ = [
    "BaseApp",
    "BaseAppInput",
    "BaseAppOutput",
    "BaseAppSetup",
    "File",
    "FileTooLargeError",
    "Metadata",
]
