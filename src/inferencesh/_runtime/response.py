"""The parsed result of a call together with the HTTP response it came from."""

from __future__ import annotations

from typing import Generic, TypeVar

import httpx

__all__ = ["APIResponse"]

T = TypeVar("T")


class APIResponse(Generic[T]):
    """What ``client.<group>.with_raw_response.<method>(...)`` returns.

    ``parsed`` (or ``parse()``) is the value the plain method returns; ``status_code``,
    ``headers`` and ``request_id`` come from the HTTP response, ``http_response`` is all of it
    (its body already read).
    """

    __slots__ = ("http_response", "parsed")

    def __init__(self, parsed: T, http_response: httpx.Response) -> None:
        self.parsed = parsed
        self.http_response = http_response

    def parse(self) -> T:
        """The parsed value (the same object every time)."""
        return self.parsed

    @property
    def status_code(self) -> int:
        """The HTTP status of the response."""
        return self.http_response.status_code

    @property
    def headers(self) -> httpx.Headers:
        """The response headers."""
        return self.http_response.headers

    @property
    def request_id(self) -> str | None:
        """The server's ``X-Request-ID`` for this call, to quote in a support request."""
        value: str | None = self.http_response.headers.get("x-request-id")
        return value

    def __repr__(self) -> str:
        return (
            f"APIResponse(status_code={self.status_code}, request_id={self.request_id!r}, "
            f"parsed={type(self.parsed).__name__})"
        )
