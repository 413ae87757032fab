"""The exception tree of the client.

Every error the client raises derives from :class:`InferenceError`. HTTP errors carry the status,
the server's error code, the request id and the body; lower-layer (httpx) errors are translated in
one place, the transport.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inferencesh._generated.models import RequirementError

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "FileUploadError",
    "GoneError",
    "InferenceError",
    "InternalServerError",
    "InvalidInputError",
    "InvalidResponseError",
    "MissingAPIKeyError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RateLimitInfo",
    "RequirementsNotMetError",
    "SessionEndedError",
    "SessionError",
    "SessionExpiredError",
    "SessionNotFoundError",
    "TaskFailedError",
    "TaskStreamError",
    "UnprocessableEntityError",
    "WaitTimeoutError",
]


class InferenceError(Exception):
    """Base class of every error raised by this package."""


# Errors raised before anything is sent.


class MissingAPIKeyError(InferenceError, ValueError):
    """No API key was given and ``INFERENCE_API_KEY`` is not set."""


class InvalidInputError(InferenceError, ValueError):
    """A request was refused before sending: the message names the field and what is allowed."""


# Network errors: no HTTP response was read.


class APIConnectionError(InferenceError):
    """The server could not be reached, or the connection broke before a response was read."""


class APITimeoutError(APIConnectionError):
    """The request timed out (connect, read, write or pool)."""


# HTTP errors: the server answered with an error status.


class RateLimitInfo:
    """Rate-limit headers of a response: ``X-RateLimit-Remaining/Reset`` and ``Retry-After``."""

    __slots__ = ("remaining", "reset", "retry_after")

    def __init__(
        self, *, remaining: int | None, reset: float | None, retry_after: float | None
    ) -> None:
        self.remaining = remaining
        self.reset = reset
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return (
            f"RateLimitInfo(remaining={self.remaining!r}, reset={self.reset!r}, "
            f"retry_after={self.retry_after!r})"
        )


class APIError(InferenceError):
    """The server answered with an error status (or an unreadable body)."""

    status_code: int
    code: str | None
    request_id: str | None
    body: Any
    headers: Mapping[str, str]

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str | None = None,
        request_id: str | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.request_id = request_id
        self.body = body
        self.headers = dict(headers or {})

    @property
    def rate_limit(self) -> RateLimitInfo:
        """The rate-limit headers the server sent with this error."""
        from inferencesh._transport import parse_rate_limit

        return parse_rate_limit(self.headers)

    def __str__(self) -> str:
        parts = [f"HTTP {self.status_code}"]
        if self.code:
            parts.append(self.code)
        text = f"{' '.join(parts)}: {self.message}"
        if self.request_id:
            text += f" (request id {self.request_id})"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status_code={self.status_code}, code={self.code!r}, "
            f"message={self.message!r}, request_id={self.request_id!r})"
        )


class InvalidResponseError(APIError):
    """A success status with a body the client cannot read (not JSON, truncated, wrong shape)."""


class BadRequestError(APIError):
    """HTTP 400: the server refused the request as malformed."""


class AuthenticationError(APIError):
    """HTTP 401: the API key is missing, wrong or revoked."""


class PermissionDeniedError(APIError):
    """HTTP 403: the key may not do this (``requires_sign_in``, ``insufficient_scope``, ...)."""


class NotFoundError(APIError):
    """HTTP 404: the task, file, session or app does not exist."""


class ConflictError(APIError):
    """HTTP 409: the resource is in a state that forbids this (e.g. a leased worker)."""


class GoneError(APIError):
    """HTTP 410: the resource existed but is no longer usable."""


class RequirementsNotMetError(APIError):
    """HTTP 412: the app needs secrets, credentials or scopes; see ``.errors``."""

    def __init__(self, message: str, *, errors: list[RequirementError], **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.errors = errors


class UnprocessableEntityError(APIError):
    """HTTP 422: the input did not validate against the app's schema."""


class RateLimitError(APIError):
    """HTTP 429: too many requests; ``.rate_limit`` says when to come back."""


class InternalServerError(APIError):
    """HTTP 5xx: the server (or a gateway in front of it) failed."""


# Sessions: mapped from the server's error codes.


class SessionError(APIError):
    """Base class of the session errors."""


class SessionNotFoundError(SessionError, NotFoundError):
    """HTTP 404 ``SESSION_NOT_FOUND``: no such session."""


class SessionExpiredError(SessionError, GoneError):
    """HTTP 410 ``SESSION_EXPIRED``: the session idled past its timeout."""


class SessionEndedError(SessionError, GoneError):
    """HTTP 410 ``SESSION_ENDED``: the session was ended (also raised by a call after ``end()``)."""


# Tasks.


class TaskFailedError(InferenceError, RuntimeError):
    """A task ended failed, cancelled or rejected; ``.task`` is its last state."""

    def __init__(self, message: str, *, task: Any) -> None:
        super().__init__(message)
        self.task = task

    @property
    def task_id(self) -> str | None:
        """The id of the failed task."""
        value = self.task.get("id") if self.task is not None else None
        return value if isinstance(value, str) else None


class TaskStreamError(InferenceError):
    """The task stream could not be kept open and the task is not finished."""


class WaitTimeoutError(InferenceError, TimeoutError):
    """``wait_for_completion(timeout=...)`` ran out before the task finished."""


# Files.


class FileUploadError(InferenceError):
    """Uploading a file failed; ``.filename`` names it and ``__cause__`` holds the reason."""

    def __init__(self, message: str, *, filename: str | None) -> None:
        super().__init__(message)
        self.filename = filename
