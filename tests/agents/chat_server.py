"""A scripted chat server on 127.0.0.1 for the agent tests, independent of the local runtime.

One thread per connection (``ThreadingHTTPServer``), so a chat stream can wait for events while
tool results, approvals and new messages arrive on other connections. The wire follows
upstream-api.md: NDJSON lines ``{"event", "data", "fields"?}`` and ``{"type": "heartbeat"}``.

The scripted model reads the user's text:

* ``tool NAME {json}``: calls client tool NAME with those arguments, waits for its result, then
  replies ``"result: <result>"``;
* ``approve NAME``: calls server tool NAME with ``require_approval``; waits for invoke/reject,
  then replies ``"approved"`` or ``"rejected: <reason>"``;
* ``finish {json}``: calls the finish tool; the JSON becomes the run's and chat's ``output``;
* ``fail``: the run fails;
* anything else: replies ``"You said: <text>"``, streamed word by word as deltas.

``cut_after``: each stream connection is cut in the middle of its n-th line (counting from the
first line after the opening snapshot), up to ``max_cuts`` times; ``0`` cuts every connection
right after its snapshot.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

NOW = "2026-11-23T12:00:00Z"


def base(record_id: str) -> dict[str, Any]:
    return {
        "id": record_id,
        "short_id": record_id[:8],
        "created_at": NOW,
        "updated_at": NOW,
        "team_id": "team",
        "user_id": "user",
        "visibility": "private",
    }


class Chat:
    def __init__(self, chat_id: str, context: dict[str, str] | None) -> None:
        self.id = chat_id
        self.status = "idle"
        self.run: dict[str, Any] | None = None
        self.output: Any = None
        self.context = context or {}
        self.messages: dict[str, dict[str, Any]] = {}
        self.log: list[dict[str, Any]] = []  # every event line since the chat began

    def dto(self) -> dict[str, Any]:
        body = base(self.id)
        body.update(
            {
                "status": self.status,
                "active_run": self.run,
                "output": self.output,
                "context": self.context,
                "name": "chat",
                "description": "",
                "agent_data": {"memory": {}, "plan_steps": []},
                "chat_messages": [],
                "children": [],
                "pending_interrupts": [],
            }
        )
        return body


class ChatServer:
    """The server and its scripted model; every state change happens under ``self.cond``."""

    def __init__(
        self,
        *,
        cut_after: int | None = None,
        max_cuts: int = 0,
        sign_in_required: bool = False,
        word_delay: float = 0.0,
    ) -> None:
        self.cut_after = cut_after
        self.cuts_left = max_cuts
        self.sign_in_required = sign_in_required
        self.word_delay = word_delay
        self.cond = threading.Condition()
        self.chats: dict[str, Chat] = {}
        self.tools: dict[str, dict[str, Any]] = {}  # invocation id -> invocation
        self.answers: dict[str, Any] = {}  # invocation id -> posted body / decision
        self.requests: list[tuple[str, str, Any]] = []
        self.files: dict[str, bytes] = {}
        self.counter = 0
        self.stream_opens = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> ChatServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def posted(self, method: str, prefix: str) -> list[Any]:
        return [b for m, p, b in self.requests if m == method and p.startswith(prefix)]

    # State changes (caller holds self.cond).

    def _id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def _emit(self, chat: Chat, event: str, data: dict[str, Any], fields: Any = None) -> None:
        line: dict[str, Any] = {"event": event, "data": data}
        if fields is not None:
            line["fields"] = fields
        chat.log.append(line)
        self.cond.notify_all()

    def _set_chat(self, chat: Chat, **changes: Any) -> None:
        for key, value in changes.items():
            setattr(chat, key, value)
        wire = {"status": "status", "run": "active_run", "output": "output"}
        data = {"id": chat.id}
        data.update({wire[k]: getattr(chat, k) for k in changes})
        self._emit(chat, "chats", data, [wire[k] for k in changes])

    def _message(self, chat: Chat, role: str, text: str, status: str) -> dict[str, Any]:
        message = base(self._id("m"))
        message.update(
            {
                "chat_id": chat.id,
                "order": len(chat.messages),
                "role": role,
                "status": status,
                "content": [{"type": "text", "text": text}] if text else [],
                "tool_invocations": [],
            }
        )
        chat.messages[message["id"]] = message
        self._emit(chat, "chat_messages", json.loads(json.dumps(message)))
        return message

    def _update_message(self, chat: Chat, message: dict[str, Any], **changes: Any) -> None:
        message.update(changes)
        self._emit(chat, "chat_messages", json.loads(json.dumps(message)))

    def _invocation(
        self, chat: Chat, message: dict[str, Any], name: str, args: Any, kind: str, status: str
    ) -> dict[str, Any]:
        invocation = base(self._id("inv"))
        invocation.update(
            {
                "chat_message_id": message["id"],
                "tool_invocation_id": f"call_{self.counter}",
                "type": kind,
                "status": status,
                "function": {"name": name, "arguments": args},
            }
        )
        self.tools[invocation["id"]] = invocation
        message["tool_invocations"] = [*message["tool_invocations"], invocation]
        self._emit(chat, "chat_messages", json.loads(json.dumps(message)))
        return invocation

    # The scripted model.

    def start_turn(self, chat: Chat, text: str) -> tuple[dict[str, Any], dict[str, Any]]:
        user = self._message(chat, "user", text, "ready")
        assistant = self._message(chat, "assistant", "", "pending")
        run = {**base(self._id("run")), "agent_id": "a", "chat_id": chat.id, "state": "working"}
        self._set_chat(chat, status="busy", run=run)
        threading.Thread(target=self._play, args=(chat, text, assistant), daemon=True).start()
        return user, assistant

    def _wait_answer(self, invocation_id: str) -> Any:
        deadline = time.monotonic() + 20
        while invocation_id not in self.answers and time.monotonic() < deadline:
            self.cond.wait(0.5)
        return self.answers.get(invocation_id)

    def _play(self, chat: Chat, text: str, assistant: dict[str, Any]) -> None:
        with self.cond:
            reply, state = self._script(chat, text, assistant)
            words = re.findall(r"\S+\s*", reply)
        for seq, word in enumerate(words, 1):
            if self.word_delay:
                time.sleep(self.word_delay)
            with self.cond:
                content = [{"type": "text", "text": "".join(words[:seq])}]
                assistant["content"] = content  # what a reconnect's snapshot shows
                self._emit(
                    chat,
                    "delta",
                    {"delta": {"response": word}, "seq": seq, "resource_id": assistant["id"]},
                )
        with self.cond:
            status = "failed" if state == "failed" else "ready"
            self._update_message(
                chat, assistant, status=status, content=[{"type": "text", "text": reply}]
            )
            run = dict(chat.run or {})
            run["state"] = state
            run["output"] = chat.output if text.startswith("finish ") else None
            self._set_chat(chat, status="idle", run=run)

    def _script(self, chat: Chat, text: str, assistant: dict[str, Any]) -> tuple[str, str]:
        parts = text.split(" ", 2)
        if parts[0] == "tool" and len(parts) >= 2:
            args = json.loads(parts[2]) if len(parts) > 2 else {}
            invocation = self._invocation(chat, assistant, parts[1], args, "client", "pending")
            invocation["status"] = "awaiting_input"
            self._set_chat(
                chat, status="awaiting_input", run={**chat.run, "state": "input_required"}
            )
            self._update_message(chat, assistant)
            answer = self._wait_answer(invocation["id"])
            invocation["status"] = "completed"
            invocation["result"] = answer.get("result") if answer else None
            self._set_chat(chat, status="busy", run={**chat.run, "state": "working"})
            self._update_message(chat, assistant)
            return f"result: {invocation['result']}", "completed"
        if parts[0] == "approve" and len(parts) >= 2:
            invocation = self._invocation(chat, assistant, parts[1], {}, "app", "awaiting_approval")
            self._set_chat(
                chat, status="awaiting_input", run={**chat.run, "state": "input_required"}
            )
            answer = self._wait_answer(invocation["id"])
            approved = isinstance(answer, dict) and answer.get("decision") == "approve"
            invocation["status"] = "completed" if approved else "cancelled"
            self._set_chat(chat, status="busy", run={**chat.run, "state": "working"})
            self._update_message(chat, assistant)
            if approved:
                return "approved", "completed"
            return f"rejected: {(answer or {}).get('reason')}", "completed"
        if parts[0] == "finish":
            output = json.loads(text[len("finish ") :])
            chat.output = output
            self._set_chat(chat, output=output)
            return "done", "completed"
        if parts[0] == "fail":
            return "something broke", "failed"
        return f"You said: {text}", "completed"

    # HTTP.

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _body(self) -> Any:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                if self.headers.get("content-type", "").startswith("application/json"):
                    return json.loads(raw) if raw else None
                return raw

            def _send(self, status: int, body: Any, ctype: str = "application/json") -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                server.requests.append(("GET", self.path, None))
                match = re.fullmatch(r"/chats/([^/?]+)(/stream|/messages)?(\?.*)?", self.path)
                if not match or match.group(1) not in server.chats:
                    return self._send(404, {"detail": "not found"})
                chat = server.chats[match.group(1)]
                if match.group(2) == "/stream":
                    return self._stream(chat)
                with server.cond:
                    if match.group(2) == "/messages":
                        items = list(chat.messages.values())
                        return self._send(
                            200, {"items": items, "next_cursor": None, "has_next": False}
                        )
                    return self._send(200, chat.dto())

            def do_PUT(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                server.files[self.path] = self.rfile.read(length)
                server.requests.append(("PUT", self.path, self.headers.get("authorization")))
                self._send(200, None)

            def do_POST(self) -> None:
                body = self._body()
                server.requests.append(("POST", self.path, body))
                with server.cond:
                    if self.path == "/agents/run":
                        return self._run(body)
                    if self.path == "/files":
                        records = []
                        for item in body["files"]:
                            record = base(server._id("f"))
                            record.update(
                                {
                                    "uri": f"{server.base_url}/store/{record['id']}",
                                    "upload_url": f"{server.base_url}/store/{record['id']}",
                                    "filename": item["filename"],
                                    "content_type": item["content_type"],
                                    "size": item.get("size") or 0,
                                    "path": record["id"],
                                    "remote_path": record["id"],
                                    "category": "file",
                                    "rating": "safe",
                                }
                            )
                            records.append(record)
                        return self._send(200, records)
                    match = re.fullmatch(r"/tools/([^/]+)(/invoke|/reject)?", self.path)
                    if match and match.group(1) in server.tools:
                        if match.group(2) and server.sign_in_required:
                            return self._send(
                                403,
                                {
                                    "type": "https://api.inference.sh/errors/requires_sign_in",
                                    "title": "requires_sign_in",
                                    "status": 403,
                                    "detail": "sign in to approve tools",
                                },
                                "application/problem+json",
                            )
                        if match.group(2) == "/invoke":
                            answer: Any = {"decision": "approve"}
                        elif match.group(2) == "/reject":
                            answer = {"decision": "reject", "reason": (body or {}).get("reason")}
                        else:
                            answer = body
                        server.answers[match.group(1)] = answer
                        server.cond.notify_all()
                        return self._send(200, None)
                    match = re.fullmatch(r"/chats/([^/]+)/stop", self.path)
                    if match:
                        return self._send(200, None)
                return self._send(404, {"detail": f"no route {self.path}"})

            def _run(self, body: dict[str, Any]) -> None:
                chat_id = body.get("chat_id")
                if chat_id is None:
                    chat_id = server._id("chat")
                    server.chats[chat_id] = Chat(chat_id, body.get("context"))
                chat = server.chats[chat_id]
                user, assistant = server.start_turn(chat, body["input"]["text"])
                self._send(200, {"user_message": user, "assistant_message": assistant})

            def _stream(self, chat: Chat) -> None:
                # Subscribed before the head goes out: a client that posts once it has the head
                # misses nothing.
                with server.cond:
                    server.stream_opens += 1
                    lines: list[dict[str, Any]] = [{"event": "chats", "data": chat.dto()}]
                    for message in chat.messages.values():
                        lines.append({"event": "chat_messages", "data": message})
                    position = len(chat.log)
                    snapshot = [json.loads(json.dumps(line)) for line in lines]
                self.send_response(200)
                self.send_header("content-type", "application/x-ndjson")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                try:
                    for line in snapshot:
                        self._chunk(json.dumps(line).encode() + b"\n")
                    if server.cut_after == 0:  # cut right after the snapshot: no progress ever
                        self._chunk(b'{"type":"hea')
                        self.connection.shutdown(socket.SHUT_RDWR)
                        self.close_connection = True
                        return
                    sent = 0
                    while True:
                        with server.cond:
                            if position >= len(chat.log):
                                server.cond.wait(0.2)
                            pending = chat.log[position:]
                            position += len(pending)
                        if not pending:
                            self._chunk(b'{"type":"heartbeat"}\n')
                            continue
                        for line in pending:
                            data = json.dumps(line).encode() + b"\n"
                            sent += 1
                            if server.cut_after and sent >= server.cut_after:
                                with server.cond:
                                    cut = server.cuts_left > 0
                                    server.cuts_left -= 1
                                if cut:
                                    self._chunk(data[: len(data) // 2])
                                    self.connection.shutdown(socket.SHUT_RDWR)
                                    self.close_connection = True
                                    return
                            self._chunk(data)
                except (BrokenPipeError, ConnectionResetError, OSError):
                    self.close_connection = True

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

        return Handler
