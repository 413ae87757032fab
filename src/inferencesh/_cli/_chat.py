"""``inferencesh chat``: talk to an agent on a terminal, or send one message with ``-m``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, cast

from inferencesh._cli._common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_TIMEOUT,
    EXIT_USAGE,
    CommandError,
    add_client_options,
    check_timeout,
    connect,
    failure_reason,
    one_line,
    print_json,
    progress_stream,
    to_json,
)
from inferencesh._cli._display import Progress, open_progress
from inferencesh._errors import InferenceError, WaitTimeoutError

if TYPE_CHECKING:
    from inferencesh import Agent, AgentDelta, ToolCallInfo
    from inferencesh._generated.models import ChatMessageDTO

__all__ = ["LOCAL_AGENT", "register"]

# The agent of ``chat --local`` without AGENT or --config: the runtime's scripted model.
LOCAL_AGENT: dict[str, Any] = {
    "name": "scripted",
    "core_app": {"ref": "infsh/scripted-llm"},
    "system_prompt": "You are a helpful assistant.",
}
_NO_HANDLER = "client tool {name!r} has no handler in the inferencesh command"
_HELP = """\
/help   this list
/reset  start a new chat (the agent forgets this one)
/exit   end the session (also /quit, or Ctrl-D)
Ctrl-C stops a reply and returns here. Any other line is sent to the agent."""


def _line_editing() -> None:
    """Arrow keys, line editing and this session's history for ``input()``, where the
    standard library has readline (not on Windows)."""
    try:
        import readline  # noqa: F401  # pyright: ignore[reportUnusedImport]  # hooks input()
    except ImportError:
        pass


def _forget_last_line() -> None:
    """Keep an approval answer ("y") out of the message history."""
    try:
        import readline
    except ImportError:
        return
    length = readline.get_current_history_length()
    if length > 0:
        readline.remove_history_item(length - 1)


def register(commands: Any) -> None:
    """Add ``chat`` to the command parsers."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "chat",
        help="chat with an agent (interactive, or one message with -m)",
        description="Chat with an agent: a template (namespace/name[@version]) or an ad-hoc "
        "config (--config FILE, JSON or YAML). Lines from stdin are messages; the reply streams "
        "as it arrives. /help lists the commands, /reset starts a new chat, /exit or end of "
        "input ends it. On a terminal, lines can be edited and recalled (arrow keys), and "
        "Ctrl-C stops a reply and returns to the prompt.",
        epilog=(
            "With --local and no AGENT, the agent uses the local runtime's scripted model "
            "(infsh/scripted-llm): a line 'call NAME {json}' calls a tool of the agent. "
            "Exit codes: 0 ok, 1 the run failed, 2 bad usage, 124 --timeout ran out and 130 "
            "interrupted (the reply is stopped in both cases)."
        ),
    )
    parser.add_argument(
        "agent", nargs="?", metavar="AGENT", help="template agent: namespace/name[@version]"
    )
    parser.add_argument("--config", metavar="FILE", help="ad-hoc agent config (JSON or YAML)")
    parser.add_argument("-m", "--message", metavar="TEXT", help="send one message, print the reply")
    parser.add_argument(
        "--context",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="chat context variable; repeatable",
    )
    approvals = parser.add_mutually_exclusive_group()
    approvals.add_argument(
        "--approve-all", action="store_true", help="approve every tool call that asks"
    )
    approvals.add_argument(
        "--reject-all", action="store_true", help="reject every tool call that asks"
    )
    parser.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="give up on a reply after SECONDS"
    )
    add_client_options(parser)
    parser.set_defaults(handler=chat_command)


def _load_config(path_text: str) -> dict[str, Any]:
    path = Path(path_text)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"--config: cannot read {path}: {exc.strerror}", EXIT_USAGE) from None
    value: Any
    if path.suffix == ".json":
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CommandError(f"--config {path} is not valid JSON: {exc}", EXIT_USAGE) from None
    else:
        try:
            import yaml  # type: ignore[import-untyped, unused-ignore]
        except ImportError:
            raise CommandError(
                "a YAML --config needs PyYAML (pip install pyyaml), or use a .json file",
                EXIT_USAGE,
            ) from None
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise CommandError(f"--config {path}: {one_line(exc)}", EXIT_USAGE) from None
    if not isinstance(value, dict):
        raise CommandError(f"--config {path} must hold an agent config object", EXIT_USAGE)
    return cast(dict[str, Any], value)


def _spec(args: argparse.Namespace) -> str | dict[str, Any]:
    """What to chat with: the template ref, the --config file, or the local scripted agent."""
    if args.agent and args.config:
        raise CommandError("give AGENT or --config, not both", EXIT_USAGE)
    if args.config:
        return _load_config(args.config)
    if args.agent:
        return str(args.agent)
    if args.local:
        return dict(LOCAL_AGENT)
    raise CommandError(
        "which agent? give AGENT (namespace/name[@version]) or --config FILE", EXIT_USAGE
    )


def _context(pairs: list[str]) -> dict[str, str] | None:
    context: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CommandError(f"--context {pair!r}: expected KEY=VALUE", EXIT_USAGE)
        context[key] = value
    return context or None


def _text(message: ChatMessageDTO) -> str:
    parts = message.content or []
    return "".join(getattr(part, "text", None) or "" for part in parts)


class _Turns:
    """Sends messages and shows their turns: streamed text, tool calls, approvals."""

    def __init__(self, agent: Agent, args: argparse.Namespace) -> None:
        self.agent = agent
        self.args = args
        self.notes: TextIO | None = progress_stream(args)
        self.interactive = sys.stdin.isatty()
        self.stream_text = not args.json
        self._shown: set[str] = set()
        self._streamed: dict[str, str] = {}  # message id -> the text streamed so far
        self._midline = False  # the reply's text is on stdout without its newline yet
        self._waiting: Progress | None = None  # the spinner until the reply shows something

    def _out(self, text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()
        self._midline = not text.endswith("\n")

    def _end_line(self) -> None:
        if self._midline:
            self._out("\n")

    def _wait(self) -> None:
        """A spinner (on a terminal) from the moment a message is sent."""
        self._waiting = open_progress(self.notes, bool(getattr(self.args, "verbose", False)))
        self._waiting.start()
        self._waiting.waiting("waiting for the reply")

    def _stop_waiting(self) -> None:
        if self._waiting is not None:
            self._waiting.stop()
            self._waiting = None

    def note(self, text: str) -> None:
        """A line of its own on the progress stream (stdout on a terminal, else stderr)."""
        self._stop_waiting()
        if self.notes is None:
            return
        if self.notes is sys.stdout or self.notes.isatty():
            self._end_line()
        self.notes.write(text + "\n")
        self.notes.flush()

    def _show(self, info: ToolCallInfo) -> None:
        if info.id in self._shown or info.type == "internal":
            return
        self._shown.add(info.id)
        self.note(f"[tool {info.name} {json.dumps(info.args, ensure_ascii=False)}]")

    def on_delta(self, delta: AgentDelta) -> None:
        if self.stream_text and delta.text:
            self._stop_waiting()
            self._streamed[delta.message_id] = self._streamed.get(delta.message_id, "") + delta.text
            self._out(delta.text)

    def on_message(self, message: ChatMessageDTO) -> None:
        # Server-side tools (apps, HTTP, approved calls) are seen only on the message.
        from inferencesh import ToolCallInfo

        state = message.model_dump(mode="json", by_alias=True, exclude_unset=True)
        for invocation in cast(list[Any], state.get("tool_invocations") or []):
            if isinstance(invocation, dict):
                self._show(ToolCallInfo.from_invocation(cast(dict[str, Any], invocation), False))

    def on_tool_call(self, info: ToolCallInfo) -> None:
        self._stop_waiting()
        self._show(info)
        if not info.awaiting_approval:
            # A client tool of a --config file: its handler lives in some other program.
            self.agent.submit_tool_result(info.id, {"error": _NO_HANDLER.format(name=info.name)})
            self.note(f"[tool {info.name}: no handler here, answered with an error]")
            return
        if self._approved(info):
            self.agent.approve_tool(info.id)
            self.note(f"[tool {info.name} approved]")
        else:
            self.agent.reject_tool(info.id, "rejected by the user")
            self.note(f"[tool {info.name} rejected]")

    def _approved(self, info: ToolCallInfo) -> bool:
        if self.args.approve_all or self.args.reject_all:
            return bool(self.args.approve_all)
        if not self.interactive:
            self.note(f"[tool {info.name} needs approval: no terminal, pass --approve-all]")
            return False
        self._end_line()
        args = json.dumps(info.args, ensure_ascii=False)
        try:
            answer = input(f"approve {info.name} {args}? [y/N] ")
        except EOFError:
            return False
        _forget_last_line()
        return answer.strip().lower() in ("y", "yes")

    def send(self, text: str) -> ChatMessageDTO:
        """One turn; Ctrl-C stops the agent's reply and ends the command with 130."""
        self._wait()
        try:
            reply = self.agent.send_message(
                text,
                on_message=self.on_message,
                on_tool_call=self.on_tool_call,
                on_delta=self.on_delta,
                timeout=self.args.timeout,
            )
        except KeyboardInterrupt:
            self._stop_waiting()
            self._end_line()
            raise CommandError(self._stop("interrupted"), EXIT_INTERRUPTED) from None
        except WaitTimeoutError:
            self._stop_waiting()
            self._end_line()
            why = f"no reply within --timeout {self.args.timeout:g} s"
            raise CommandError(self._stop(why), EXIT_TIMEOUT) from None
        finally:
            self._stop_waiting()
        if self.stream_text:
            self._finish_text(_text(reply), self._streamed.get(reply.id))
            self._end_line()
        status = getattr(reply.status, "value", reply.status)
        if status in ("failed", "cancelled"):
            if self.args.json:
                print_json(to_json(reply))
            raise CommandError(self._failure(str(status)), EXIT_FAILED, printed=self.args.json)
        return reply

    def _finish_text(self, final: str, streamed: str | None) -> None:
        """Complete the streamed reply with its final text, which is authoritative."""
        if streamed is None:
            self._out(final)  # no deltas came (a reconnect, say): the whole text
        elif final.startswith(streamed):
            self._out(final[len(streamed) :])
        else:  # the stream missed a piece: the whole reply again, on a line of its own
            self._end_line()
            self._out(final)

    def _stop(self, why: str) -> str:
        """Stop the agent's reply; the line that says ``why`` and whether it stopped."""
        chat_id = self.agent.chat_id
        if chat_id is None:
            return why
        try:
            self.agent.stop_chat()
        except (InferenceError, KeyboardInterrupt):
            return f"{why}: could not stop the reply in chat {chat_id}"
        return f"{why}: stopped the reply in chat {chat_id}"

    def _failure(self, status: str) -> str:
        reason = ""
        try:
            run = self.agent.get_chat().active_run
            if run is not None and run.error:
                reason = f": {failure_reason(run.error)}"
        except InferenceError:
            pass
        return f"the reply {status} (chat {self.agent.chat_id}){reason}"

    def session(self) -> None:
        """Read messages from stdin until /exit or the end of the input."""
        if self.interactive:
            _line_editing()
            self.note("[/help lists the commands]")
        while True:
            try:
                if not self._step():
                    return
            except KeyboardInterrupt:
                if not self.interactive:
                    raise CommandError("interrupted", EXIT_INTERRUPTED) from None
                self._out("\n")  # as a shell does: a fresh prompt (Ctrl-D or /exit leave)

    def _step(self) -> bool:
        """Read one line and act on it; False ends the session."""
        try:
            line = input("> ") if self.interactive else sys.stdin.readline()
        except EOFError:
            line = ""
        if not line:  # the end of the input
            if self.interactive:
                self._out("\n")
            return False
        text = line.strip()
        if text.startswith("/"):
            return self._command(text)
        if text:
            self._turn(text)
        return True

    def _command(self, text: str) -> bool:
        """Run a /command; False ends the session."""
        name = text.split()[0].lower()
        if name in ("/exit", "/quit"):
            return False
        if name == "/reset":
            self.agent.reset()
            self.note("[new chat]")
        elif name == "/help":
            self.note(_HELP)
        else:
            self.note(f"[unknown command {name}: /help lists them]")
        return True

    def _turn(self, text: str) -> None:
        """One turn of the session; on a terminal, Ctrl-C stops the reply and the session goes
        on."""
        try:
            self.send(text)
        except CommandError as exc:
            if not (self.interactive and exc.code == EXIT_INTERRUPTED):
                raise
            self.note(f"[{exc}]")


def chat_command(args: argparse.Namespace) -> int:
    """``inferencesh chat [AGENT] ...``."""
    spec = _spec(args)
    context = _context(args.context)
    if args.json and args.message is None:
        raise CommandError("--json needs -m TEXT (one message, one JSON document)", EXIT_USAGE)
    check_timeout(args.timeout)
    with connect(args) as client:
        turns = _Turns(client.agent(spec, context=context), args)
        if args.message is None:
            turns.session()
            return 0
        reply = turns.send(args.message)
        if args.json:
            print_json(to_json(reply))
        return 0
