"""The HTTP face of the runtime: the platform's routes, envelopes and errors, on starlette."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import urllib.parse
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any

import pydantic_core
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from inferencesh._generated.routes import ROUTES
from inferencesh.local._agents import Agents
from inferencesh.local._engine import Engine
from inferencesh.local._errors import ApiError, problem_body
from inferencesh.local._fanout import END
from inferencesh.local._hosts import is_loopback_host

__all__ = ["create_app"]

logger = logging.getLogger("inferencesh.local")

_JSON_BODY_LIMIT = 64 * 1024 * 1024
# Deeper than this, a body is refused before it becomes Python objects (the JSON parser's own
# recursion limit): deep enough for any real input, and far from Python's recursion limit.
_JSON_DEPTH_LIMIT = 200
_NDJSON = "application/x-ndjson"
_SSE = "text/event-stream"

Handler = Callable[[Request], Awaitable[Response]]


def _problem(status: int, code: str, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse(
        problem_body(status, code, detail, **extra),
        status_code=status,
        media_type="application/problem+json",
    )


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        # Unset optional fields are left out: the spec types them as absent, not null.
        return value.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if isinstance(value, list):
        return [_dump(item) for item in value]  # pyright: ignore[reportUnknownVariableType]
    return value


def _ok(payload: Any = None) -> JSONResponse:
    return JSONResponse({"data": _dump(payload), "messages": []})


def _too_large() -> ApiError:
    return ApiError(413, "payload_too_large", f"the request body is over {_JSON_BODY_LIMIT} bytes")


async def _json(request: Request, *, optional: bool = False) -> Any:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > _JSON_BODY_LIMIT:
        raise _too_large()
    # Counted while reading: a chunked body declares no length.
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > _JSON_BODY_LIMIT:
            raise _too_large()
        parts.append(chunk)
    raw = b"".join(parts)
    if not raw.strip():
        if optional:
            return {}
        raise ApiError(400, "invalid_request", "a JSON request body is required")
    try:
        # NaN and Infinity are not JSON; nesting past the parser's limit is refused as it reads.
        return pydantic_core.from_json(raw, allow_inf_nan=False)
    except ValueError as exc:
        if "recursion limit" in str(exc):
            raise ApiError(
                400,
                "invalid_request",
                f"the request body is nested deeper than {_JSON_DEPTH_LIMIT} levels",
            ) from None
        raise ApiError(400, "invalid_request", "the request body is not valid JSON") from None


def _flag(request: Request, name: str) -> bool:
    """A boolean query parameter (absent: false)."""
    value = request.query_params.get(name)
    if value is None or value.lower() in ("", "false", "0"):
        return False
    if value.lower() in ("true", "1"):
        return True
    raise ApiError(400, "validation_error", f"{name}: {value!r} is not true or false")


def _integer(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ApiError(400, "validation_error", f"{name}: {value!r} is not an integer") from None


def _not_served(operation: str, method: str, path: str) -> Handler:
    async def answer(request: Request) -> Response:
        return _problem(
            501,
            "not_implemented",
            f"{operation} ({method} {path}) is not served by the local runtime",
            operation=operation,
        )

    return answer


def _route(path: str, handlers: dict[str, Handler]) -> Route:
    """One route for all methods of a path: 405 and ``OPTIONS`` list them all in ``Allow``."""
    allow = ", ".join([*handlers, *(["HEAD"] if "GET" in handlers else []), "OPTIONS"])

    async def dispatch(request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(status_code=204, headers={"Allow": allow})
        method = "GET" if request.method == "HEAD" else request.method
        return await handlers[method](request)

    return Route(path, dispatch, methods=[*handlers, "OPTIONS"])


def _specificity(path: str) -> int:
    """Fewer literal segments sort later: ``/apps/run`` is tried before ``/apps/{app_id}``."""
    return -sum(1 for part in path.strip("/").split("/") if not part.startswith("{"))


def spec_routes(served: dict[str, Handler]) -> list[Route]:
    """A route per path of the spec (``ROUTES``): its served operations, 501 for the others.

    Paths are tried from the most literal one down, so a request matches the route a reader of
    the spec expects where two templates match it; a method only a less literal template has
    still reaches it.
    """
    by_path: dict[str, dict[str, Handler]] = {}
    known: set[str] = set()
    for method, path, operation in ROUTES:
        known.add(operation)
        handler = served.get(operation) or _not_served(operation, method, path)
        by_path.setdefault(path, {})[method] = handler
    unknown = sorted(set(served) - known)
    if unknown:
        raise ValueError(f"handlers for operations the spec does not have: {unknown}")
    ordered = sorted(by_path, key=_specificity)
    return [_route(path, by_path[path]) for path in ordered]


def _host_name(host: str) -> str:
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class _Guard:
    """Who may ask: bearer API keys (the configured one, or any ``inf_`` key when none is
    configured), signed download URLs, upload URLs (checked by their token), and, on a loopback
    bind, only requests addressed to a loopback name or the public URL's host (a web page cannot
    rebind its own host name to this runtime)."""

    def __init__(
        self,
        app: ASGIApp,
        api_key: str | None,
        *,
        loopback_only: bool,
        signature_ok: Callable[[str, str], bool],
        public_host: str | None = None,
    ) -> None:
        self.app = app
        self.api_key = api_key
        self.loopback_only = loopback_only
        self.signature_ok = signature_ok
        self.public_host = public_host

    def _allowed(self, header: str) -> bool:
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key:
            return False
        if self.api_key is None:
            return key.startswith("inf_")
        return hmac.compare_digest(key.encode(), self.api_key.encode())

    def _refusal(self, scope: Scope) -> JSONResponse | None:
        headers = {name: value.decode("latin-1").strip() for name, value in scope["headers"]}
        host = headers.get(b"host")
        name = None if host is None else _host_name(host)
        if (
            self.loopback_only
            and name is not None
            and not is_loopback_host(name)
            and name.lower() != self.public_host
        ):
            return _problem(
                403,
                "host_not_allowed",
                f"this runtime only answers requests addressed to a loopback name, not {host!r}",
            )
        parts = scope["path"].strip("/").split("/")
        is_file = len(parts) >= 3 and parts[0] == "files"
        if is_file and parts[2] == "upload":
            return None  # the upload URL's token is checked by its handler
        if self._allowed(headers.get(b"authorization", "")):
            return None
        query = scope.get("query_string", b"").decode("latin-1")
        if is_file and parts[2] == "content" and self.signature_ok(scope["path"], query):
            return None
        if is_file and parts[2] == "content":
            return _problem(
                401,
                "unauthorized",
                "a download needs the API key or a signed URL that has not expired"
                " (GET /files/{id} gives a fresh one)",
            )
        return _problem(401, "unauthorized", "Invalid API key")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self._refusal(scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(
    engine: Engine,
    *,
    api_key: str | None,
    heartbeat_interval: float,
    agents: Agents | None = None,
    loopback_only: bool = True,
) -> ASGIApp:
    """The ASGI app of a runtime around ``engine`` (and its agents).

    ``loopback_only``: the runtime is bound to loopback, so requests must name a loopback host.
    """
    if agents is None:
        agents = Agents(engine)
    public_url = engine.config.public_url

    def origin(request: Request) -> str:
        """Where the caller reaches this runtime: the public URL, or the request's own Host."""
        if public_url:
            return public_url.rstrip("/")
        if "host" not in request.headers:
            return engine.config.base_url
        return str(request.base_url).rstrip("/")

    async def run_task(request: Request) -> Response:
        return _ok(engine.tasks.create(await _json(request), origin(request)))

    async def get_app(request: Request) -> Response:
        params = request.path_params
        return _ok(await engine.apps.get(params["namespace"], params["name"]))

    async def get_app_by_id(request: Request) -> Response:
        return _ok(await engine.apps.get_by_id(request.path_params["app_id"]))

    async def get_app_version(request: Request) -> Response:
        params = request.path_params
        return _ok(await engine.apps.get_version(params["app_id"], params["version_id"]))

    async def delete_app(request: Request) -> Response:
        engine.apps.delete(request.path_params["app_id"])
        return _ok()

    async def get_task(request: Request) -> Response:
        return _ok(engine.tasks.get(request.path_params["task_id"]))

    async def delete_task(request: Request) -> Response:
        files = _flag(request, "files")
        engine.tasks.delete(request.path_params["task_id"], files=files)
        return _ok()

    async def list_tasks(request: Request) -> Response:
        return _ok(engine.tasks.list_page(await _json(request, optional=True)))

    async def featured_tasks(request: Request) -> Response:
        body: dict[str, Any] = {
            "filters": [{"field": "is_featured", "operator": "eq", "value": True}]
        }
        query = request.query_params
        if "limit" in query:
            body["limit"] = _integer(query["limit"], "limit")
        if "cursor" in query:
            body["cursor"] = query["cursor"]
        return _ok(engine.tasks.list_page(body))

    async def task_files(request: Request) -> Response:
        role = request.query_params.get("role")
        return _ok(engine.tasks.files_of(request.path_params["task_id"], role))

    async def delete_task_files(request: Request) -> Response:
        role = request.query_params.get("role")
        return _ok(engine.tasks.delete_files(request.path_params["task_id"], role))

    async def task_status(request: Request) -> Response:
        return _ok(engine.tasks.status(request.path_params["task_id"]))

    async def cancel_task(request: Request) -> Response:
        await _json(request, optional=True)
        engine.tasks.cancel(request.path_params["task_id"])
        return _ok()

    def stream(
        request: Request,
        first: list[dict[str, Any]],
        queue: asyncio.Queue[dict[str, Any]] | None,
        release: Callable[[], None],
        *,
        named: bool = False,
    ) -> Response:
        """Snapshot lines, then queued updates until END, with heartbeats while idle.

        ``named``: in SSE, typed events ``{"event", "data"}`` become ``event:`` lines (the chat
        stream's legacy form); otherwise every message is one ``data:`` line.
        """
        sse = _SSE in request.headers.get("accept", "")

        def encode(message: dict[str, Any]) -> bytes:
            if sse and named and "event" in message:
                data = json.dumps(message["data"], separators=(",", ":"))
                return f"event: {message['event']}\ndata: {data}\n\n".encode()
            text = json.dumps(message, separators=(",", ":"))
            return f"data: {text}\n\n".encode() if sse else f"{text}\n".encode()

        heartbeat = b": heartbeat\n\n" if sse else b'{"type":"heartbeat"}\n'

        async def body() -> AsyncIterator[bytes]:
            try:
                for message in first:
                    yield encode(message)
                if queue is None:
                    return
                while True:
                    try:
                        item = await asyncio.wait_for(queue.get(), heartbeat_interval)
                    except asyncio.TimeoutError:
                        yield heartbeat
                        continue
                    if item is END:
                        return
                    yield encode(item)
            finally:
                release()

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(body(), media_type=_SSE if sse else _NDJSON, headers=headers)

    async def stream_task(request: Request) -> Response:
        task_id = request.path_params["task_id"]
        snapshot, queue = engine.tasks.subscribe(task_id)

        def release() -> None:
            if queue is not None:
                engine.tasks.unsubscribe(task_id, queue)

        return stream(request, [snapshot], queue, release)

    async def task_logs(request: Request) -> Response:
        return _ok(engine.tasks.logs(request.path_params["task_id"]))

    async def create_files(request: Request) -> Response:
        return _ok(engine.files.create(await _json(request), origin(request)))

    async def list_files(request: Request) -> Response:
        return _ok(engine.files.list_page(await _json(request, optional=True)))

    async def list_apps(request: Request) -> Response:
        return _ok(engine.apps.list_page(await _json(request, optional=True)))

    async def list_chats(request: Request) -> Response:
        return _ok(agents.chats.list_page(await _json(request, optional=True)))

    async def get_file(request: Request) -> Response:
        return _ok(engine.files.get(request.path_params["file_id"]))

    async def delete_file(request: Request) -> Response:
        engine.files.delete(request.path_params["file_id"])
        return _ok()

    async def upload_file(request: Request) -> Response:
        params = request.path_params
        dto, part = engine.files.begin_upload(params["file_id"], params["token"])
        limit = engine.config.max_upload_bytes
        declared = request.headers.get("content-length")
        size = 0
        try:
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise ApiError(413, "payload_too_large", f"uploads are limited to {limit} bytes")
            with part.open("wb") as out:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise ApiError(
                            413, "payload_too_large", f"uploads are limited to {limit} bytes"
                        )
                    out.write(chunk)
            engine.files.finish_upload(dto, part, size, request.headers.get("content-type"))
        except ClientDisconnect:
            # Nobody is left to answer; the upload URL stays valid for another try.
            logger.warning(
                "upload of file %s stopped after %d bytes: the client disconnected"
                " (the upload URL can be used again)",
                dto.id,
                size,
            )
            return Response(status_code=400)
        finally:
            part.unlink(missing_ok=True)
            engine.files.end_upload(dto.id)
        return Response(status_code=200)

    async def download_file(request: Request) -> Response:
        path, dto = engine.files.content(request.path_params["file_id"])
        return FileResponse(
            path,
            media_type=dto.content_type or "application/octet-stream",
            filename=dto.filename,
            content_disposition_type="inline",
        )

    async def list_sessions(request: Request) -> Response:
        return _ok(engine.sessions.list())

    async def get_session(request: Request) -> Response:
        return _ok(engine.sessions.get(request.path_params["session_id"]))

    async def end_session(request: Request) -> Response:
        await engine.sessions.end(request.path_params["session_id"])
        return _ok()

    async def keepalive(request: Request) -> Response:
        return _ok(engine.sessions.keepalive(request.path_params["session_id"]))

    async def run_agent(request: Request) -> Response:
        return _ok(agents.runs.run(await _json(request)))

    async def create_agent(request: Request) -> Response:
        return _ok(agents.templates.create(await _json(request)))

    async def get_agent(request: Request) -> Response:
        return _ok(agents.templates.get_by_id(request.path_params["agent_id"]))

    async def get_agent_by_name(request: Request) -> Response:
        params = request.path_params
        return _ok(agents.templates.get(params["namespace"], params["name"]))

    async def delete_agent(request: Request) -> Response:
        agents.templates.delete(request.path_params["agent_id"])
        return _ok()

    async def update_chat(request: Request) -> Response:
        return _ok(agents.chats.update(request.path_params["chat_id"], await _json(request)))

    async def delete_chat(request: Request) -> Response:
        await agents.runs.delete_chat(request.path_params["chat_id"])
        return _ok()

    async def send_chat_message(request: Request) -> Response:
        return _ok(agents.runs.send_message(request.path_params["chat_id"], await _json(request)))

    async def get_chat(request: Request) -> Response:
        return _ok(agents.chats.get(request.path_params["chat_id"]))

    async def chat_status(request: Request) -> Response:
        return _ok(agents.chats.status(request.path_params["chat_id"]))

    async def stop_chat(request: Request) -> Response:
        await _json(request, optional=True)
        agents.chats.stop(request.path_params["chat_id"])
        return _ok()

    async def chat_messages(request: Request) -> Response:
        query = request.query_params
        page = agents.chats.list_messages(
            request.path_params["chat_id"], query.get("limit"), query.get("cursor")
        )
        return _ok(page)

    async def stream_chat(request: Request) -> Response:
        chat_id = request.path_params["chat_id"]
        snapshot, queue = agents.chats.subscribe(chat_id)
        return stream(
            request, snapshot, queue, lambda: agents.chats.unsubscribe(chat_id, queue), named=True
        )

    async def tool_result(request: Request) -> Response:
        agents.runs.tool_result(request.path_params["invocation_id"], await _json(request))
        return _ok()

    async def tool_invoke(request: Request) -> Response:
        await _json(request, optional=True)
        agents.runs.approve(request.path_params["invocation_id"])
        return _ok()

    async def tool_reject(request: Request) -> Response:
        body = await _json(request, optional=True)
        agents.runs.reject(request.path_params["invocation_id"], body)
        return _ok()

    async def resolve_interrupt(request: Request) -> Response:
        body = await _json(request)
        return _ok(agents.runs.resolve_interrupt(request.path_params["interrupt_id"], body))

    async def run_interrupts(request: Request) -> Response:
        return _ok(agents.runs.run_interrupts(request.path_params["run_id"]))

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return _problem(exc.status, exc.code, exc.detail, **exc.extra)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
        response = _problem(exc.status_code, code, str(exc.detail))
        response.headers.update(exc.headers or {})  # Allow, on 405
        return response

    async def on_disconnect(request: Request, exc: Exception) -> Response:
        logger.warning("a client disconnected before its request was read; the request was dropped")
        return Response(status_code=400)  # nobody is left to read it

    async def on_error(request: Request, exc: Exception) -> Response:
        return _problem(500, "internal_error", f"{type(exc).__name__}: {exc}")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncGenerator[None]:
        await engine.start()
        try:
            yield
        finally:
            await agents.close()
            await engine.close()

    served: dict[str, Handler] = {
        "tasks.create": run_task,
        "tasks.list": list_tasks,
        "tasks.featured": featured_tasks,
        "tasks.get": get_task,
        "tasks.delete": delete_task,
        "tasks.status": task_status,
        "tasks.stream": stream_task,
        "tasks.cancel": cancel_task,
        "tasks.logs": task_logs,
        "tasks.files": task_files,
        "tasks.delete_files": delete_task_files,
        "files.create": create_files,
        "files.list": list_files,
        "files.get": get_file,
        "files.delete": delete_file,
        "sessions.list": list_sessions,
        "sessions.get": get_session,
        "sessions.end": end_session,
        "sessions.keepalive": keepalive,
        "apps.list": list_apps,
        "apps.get": get_app_by_id,
        "apps.get_by_name": get_app,
        "apps.get_version": get_app_version,
        "apps.delete": delete_app,
        "agents.run": run_agent,
        "agents.save": create_agent,
        "agents.get": get_agent,
        "agents.get_by_name": get_agent_by_name,
        "agents.delete": delete_agent,
        "chats.list": list_chats,
        "chats.get": get_chat,
        "chats.update": update_chat,
        "chats.delete": delete_chat,
        "chats.status": chat_status,
        "chats.stop": stop_chat,
        "chats.stream": stream_chat,
        "chats.list_messages": chat_messages,
        "chats.send_message": send_chat_message,
        "tools.result": tool_result,
        "tools.invoke": tool_invoke,
        "tools.reject": tool_reject,
        "interrupts.resolve": resolve_interrupt,
        "agent_runs.interrupts": run_interrupts,
    }
    routes = [
        *spec_routes(served),
        # The runtime's own upload and download URLs (the platform's are on a storage host).
        Route("/files/{file_id}/upload/{token}", upload_file, methods=["PUT"]),
        Route("/files/{file_id}/content/{name:path}", download_file, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            ApiError: on_api_error,
            HTTPException: on_http_error,
            ClientDisconnect: on_disconnect,
            Exception: on_error,
        },
    )
    public_host = urllib.parse.urlsplit(public_url).hostname if public_url else None
    return _Guard(
        app,
        api_key,
        loopback_only=loopback_only,
        signature_ok=engine.files.signature_ok,
        public_host=public_host,
    )
