"""The exception tree of the client, and the one place lower-layer errors become part of it.

Every error the package raises derives from :class:`InferenceError`. HTTP errors carry the
status, the server's error code, the request id and the body. An error response becomes its class
here (:func:`error_from_response`); an httpx error becomes an :class:`APIConnectionError` here
(:func:`map_exception`, or the :class:`map_exceptions` context manager), called by the transport
only: nothing above it sees an httpx exception.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from inferencesh._json import json_array, json_object
from inferencesh._logging import redact

if TYPE_CHECKING:
    import httpx

    from inferencesh._generated.models import ChatDTO, RequirementError, TaskDTO

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AgentRunError",
    "AuthenticationError",
    "BadRequestError",
    "ChatStreamError",
    "ConflictError",
    "FileTooLargeError",
    "FileUploadError",
    "GoneError",
    "InferenceError",
    "InternalServerError",
    "InvalidInputError",
    "InvalidResponseError",
    "MissingAPIKeyError",
    "NotFoundError",
    "OutputValidationError",
    "PermissionDeniedError",
    "RateLimitError",
    "RateLimitInfo",
    "RequirementsNotMetError",
    "SessionEndedError",
    "SessionError",
    "SessionExpiredError",
    "SessionNotFoundError",
    "SignInRequiredError",
    "TaskFailedError",
    "TaskStreamError",
    "UnprocessableEntityError",
    "WaitTimeoutError",
    "error_from_response",
    "map_exception",
    "map_exceptions",
    "parse_rate_limit",
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


class SignInRequiredError(PermissionDeniedError):
    """HTTP 403 ``requires_sign_in``: approving or rejecting tool calls needs the account
    holder's own session; an API key may not do it."""


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

    def __init__(self, message: str, *, task: TaskDTO) -> None:
        super().__init__(message)
        self.task = task

    @property
    def task_id(self) -> str | None:
        """The id of the failed task."""
        return self.task.id or None


class TaskStreamError(InferenceError):
    """The task stream could not be kept open and the task is not finished."""


class WaitTimeoutError(InferenceError, TimeoutError):
    """``timeout=`` ran out before the task finished (or the agent's turn did)."""


# Agents.


class ChatStreamError(InferenceError):
    """The chat stream could not be kept open and the turn is not finished."""


class AgentRunError(InferenceError, RuntimeError):
    """``run()``: the agent's run failed, was cancelled or rejected; ``.chat`` is the last state."""

    def __init__(self, message: str, *, chat: ChatDTO | None = None) -> None:
        super().__init__(message)
        self.chat = chat


class OutputValidationError(InferenceError, ValueError):
    """``run()``: the finish tool's output does not match the agent's ``output_schema``."""

    def __init__(self, message: str, *, output: Any, errors: list[str]) -> None:
        super().__init__(message)
        self.output = output
        self.errors = errors


# Files.


class FileUploadError(InferenceError):
    """Uploading a file failed; ``.filename`` names it and ``__cause__`` holds the reason."""

    def __init__(self, message: str, *, filename: str | None) -> None:
        super().__init__(message)
        self.filename = filename


class FileTooLargeError(InferenceError, ValueError):
    """An app's ``File`` download exceeded its size limit."""


# From the wire: which class an error response becomes.

_STATUS_ERRORS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    410: GoneError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}
_SESSION_ERRORS: dict[str, type[APIError]] = {
    "session_not_found": SessionNotFoundError,
    "session_expired": SessionExpiredError,
    "session_ended": SessionEndedError,
}
# For v1 bodies that report a failure inside a 200.
_CODE_ERRORS: dict[str, type[APIError]] = {
    "invalid_request": BadRequestError,
    "validation_error": UnprocessableEntityError,
    "unauthorized": AuthenticationError,
    "forbidden": PermissionDeniedError,
    "not_found": NotFoundError,
    "conflict": ConflictError,
    "rate_limited": RateLimitError,
    "internal_error": InternalServerError,
}


def _error_class(status: int, code: str | None) -> type[APIError]:
    key = (code or "").lower()
    cls = _SESSION_ERRORS.get(key) or _STATUS_ERRORS.get(status)
    if cls is None and status >= 500:
        cls = InternalServerError
    return cls or _CODE_ERRORS.get(key) or APIError


def parse_rate_limit(headers: Mapping[str, str]) -> RateLimitInfo:
    """Read ``X-RateLimit-Remaining``, ``X-RateLimit-Reset`` and ``Retry-After``."""
    lowered = {key.lower(): value for key, value in headers.items()}
    remaining: int | None
    try:
        remaining = int(lowered["x-ratelimit-remaining"])
    except (KeyError, ValueError):
        remaining = None
    reset: float | None
    try:
        reset = float(lowered["x-ratelimit-reset"])
    except (KeyError, ValueError):
        reset = None
    return RateLimitInfo(
        remaining=remaining, reset=reset, retry_after=retry_after(lowered.get("retry-after"))
    )


def retry_after(value: str | None) -> float | None:
    """Seconds from now that a ``Retry-After`` value (seconds or an HTTP date) asks for."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def snippet(text: str, limit: int = 200) -> str:
    """``text`` on one line, cut after ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def safe_headers(response: httpx.Response) -> dict[str, str]:
    """The response headers with any secret in them redacted."""
    return {name: redact(value) for name, value in response.headers.items()}


def error_from_response(response: httpx.Response) -> APIError:
    """The typed exception for an error response (problem+json, legacy or garbage)."""
    status = response.status_code
    headers = safe_headers(response)
    request_id = response.headers.get("x-request-id")
    text = redact(response.text)
    body: Any = None
    try:
        body = json.loads(text) if text.strip() else None
    except ValueError:
        body = text
    code: str | None = None
    message: str | None = None
    problem = json_object(body)
    if problem is not None:
        legacy = json_object(problem.get("error"))
        if legacy is not None:
            code = _str_or_none(legacy.get("code"))
            message = _str_or_none(legacy.get("message"))
        body = problem
        problem_type = _str_or_none(body.get("type"))
        if problem_type and "/errors/" in problem_type:
            code = problem_type.rsplit("/errors/", 1)[1].strip("/") or code
        code = code or _str_or_none(body.get("code"))
        message = (
            message
            or _str_or_none(body.get("detail"))
            or _str_or_none(body.get("title"))
            or _str_or_none(body.get("message"))
            or snippet(json.dumps(body), 500)
        )
        if status == 412 and json_array(problem.get("errors")) is not None:
            return _requirements_error(problem, status, headers, request_id, code)
    elif text.strip():
        message = f"{response.reason_phrase or 'error'}: {snippet(text)}"
    message = message or response.reason_phrase or f"HTTP {status}"
    cls = _error_class(status, code)
    return cls(
        message, status_code=status, code=code, request_id=request_id, body=body, headers=headers
    )


def _requirements_error(
    body: dict[str, Any],
    status: int,
    headers: dict[str, str],
    request_id: str | None,
    code: str | None,
) -> RequirementsNotMetError:
    from inferencesh._generated.models import RequirementError

    errors = [
        RequirementError.model_validate(item) for item in body["errors"] if isinstance(item, dict)
    ]
    message = (errors[0].message if errors else None) or "requirements not met"
    return RequirementsNotMetError(
        message,
        errors=errors,
        status_code=status,
        code=code or "requirements_not_met",
        request_id=request_id,
        body=body,
        headers=headers,
    )


def v1_error(response: httpx.Response, body: dict[str, Any]) -> APIError:
    """The typed exception of a v1 envelope ``{success: false, error}`` (often inside a 200)."""
    error = body.get("error")
    status = body.get("status")
    status_code = status if isinstance(status, int) and status >= 400 else response.status_code
    code = message = None
    legacy = json_object(error)
    if legacy is not None:
        code = _str_or_none(legacy.get("code"))
        message = _str_or_none(legacy.get("message"))
    elif isinstance(error, str):
        message = error
    cls = _error_class(status_code, code)
    return cls(
        redact(message or "request failed"),
        status_code=status_code,
        code=code,
        request_id=response.headers.get("x-request-id"),
        body=json.loads(redact(json.dumps(body))),
        headers=safe_headers(response),
    )


def invalid_response(response: httpx.Response, message: str) -> InvalidResponseError:
    """A success response whose body the client cannot read."""
    return InvalidResponseError(
        message,
        status_code=response.status_code,
        request_id=response.headers.get("x-request-id"),
        body=snippet(redact(response.text), 500),
        headers=safe_headers(response),
    )


# From the connection layer: httpx errors, translated at the transport and nowhere else.


def map_exception(exc: Exception, method: str, path: str) -> APIConnectionError:
    """The client's error for an httpx transport error of ``method path``."""
    import httpx

    detail = redact(str(exc)) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"{method} {path} timed out ({type(exc).__name__}): {detail}")
    return APIConnectionError(f"{method} {path} failed: {detail}")


class map_exceptions:
    """``with map_exceptions("PUT", path):`` turns an httpx transport error raised inside into
    :func:`map_exception`'s error (the original is its ``__cause__``)."""

    __slots__ = ("method", "path")

    def __init__(self, method: str, path: str) -> None:
        self.method = method
        self.path = path

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None or not isinstance(exc, Exception):
            return
        import httpx

        if isinstance(exc, httpx.TransportError):
            raise map_exception(exc, self.method, self.path) from exc
