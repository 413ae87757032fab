"""Open enums: an enum value the client does not know yet is kept, not rejected.

The server adds enum members faster than clients are regenerated. A closed enum would make an
old client crash on a new task status; these bases turn an unknown value into a pseudo-member
named ``UNRECOGNIZED_<value>`` that keeps the value, dumps it back unchanged, and reports
``is_known == False``.

Int enums read as their names (``print(task.status)`` shows ``COMPLETED``), while they stay
ints for comparisons, arithmetic, ``%d``/``:d`` formatting and JSON.
"""

from __future__ import annotations

from enum import Enum, IntEnum
from typing import Any

__all__ = ["OpenIntEnum", "OpenStrEnum"]

# The presentation types of int's format spec; a spec without one (width, alignment) is for text.
_NUMERIC_FORMATS = frozenset("bcdoxXneEfFgG%")


class OpenIntEnum(IntEnum):
    """An int enum that accepts unknown values and member names ("completed" -> COMPLETED).

    ``str()`` and ``format()`` give the member name (``f"{s:<12}"`` pads it); a numeric format
    spec (``f"{s:d}"``, ``f"{s:03d}"``) and ``int()`` give the number.
    """

    def __str__(self) -> str:
        return self._name_

    def __format__(self, format_spec: str) -> str:
        if format_spec and format_spec[-1] in _NUMERIC_FORMATS:
            return int.__format__(int(self), format_spec)
        return str.__format__(self._name_, format_spec)

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, str):
            text = value.strip()
            member = cls.__members__.get(text.upper())
            if member is not None:
                return member
            try:
                value = int(text)
            except ValueError:
                return None
            if value in cls._value2member_map_:
                return cls._value2member_map_[value]
        if isinstance(value, bool) or not isinstance(value, int):
            return None
        pseudo = int.__new__(cls, value)
        pseudo._name_ = f"UNRECOGNIZED_{value}"
        pseudo._value_ = value
        # setdefault keeps one pseudo-member per value, so identity comparisons stay stable.
        return cls._value2member_map_.setdefault(value, pseudo)

    @property
    def is_known(self) -> bool:
        """False for a value this version of the client was not generated with."""
        return self._name_ in type(self).__members__


class OpenStrEnum(str, Enum):
    """A str enum that accepts unknown values; ``str()`` gives the raw value."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str):
            return None
        pseudo = str.__new__(cls, value)
        pseudo._name_ = f"UNRECOGNIZED_{value}"
        pseudo._value_ = value
        return cls._value2member_map_.setdefault(value, pseudo)

    def __str__(self) -> str:
        return str(self.value)

    @property
    def is_known(self) -> bool:
        """False for a value this version of the client was not generated with."""
        return self._name_ in type(self).__members__
