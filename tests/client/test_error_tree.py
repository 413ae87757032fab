"""One exception tree, one boundary: every error derives from ``InferenceError``; httpx errors
are translated by the transport alone; the machines import neither the transport nor httpx."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import httpx
import pytest

import inferencesh
from inferencesh import errors
from inferencesh._errors import map_exceptions
from inferencesh._generated.sync.transport import Transport
from inferencesh._streaming import RECOVERABLE
from inferencesh._transport import TransportConfig
from inferencesh.types import TaskDTO

from .fault_server import FaultServer, Handler, Reply

Start = Callable[[Handler], FaultServer]


def test_every_error_is_in_the_one_tree() -> None:
    classes = [getattr(errors, name) for name in errors.__all__ if name != "RateLimitInfo"]
    assert all(issubclass(cls, errors.InferenceError) for cls in classes)
    for name in ("ChatStreamError", "AgentRunError", "OutputValidationError", "FileTooLargeError"):
        assert name in errors.__all__ and getattr(inferencesh, name) is getattr(errors, name)
    assert issubclass(errors.SignInRequiredError, errors.PermissionDeniedError)
    assert issubclass(errors.FileTooLargeError, ValueError)
    from inferencesh.app import FileTooLargeError

    assert FileTooLargeError is errors.FileTooLargeError


def test_the_root_exports_every_error_of_the_errors_module() -> None:
    assert set(errors.__all__) <= set(inferencesh.__all__)


def loaded(code: str) -> set[str]:
    script = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


def test_the_errors_and_the_machines_import_neither_the_transport_nor_httpx() -> None:
    modules = loaded(
        "import inferencesh._errors, inferencesh._streaming, inferencesh._agents._machine"
    )
    assert not {"inferencesh._transport", "httpx"} & modules


def test_drivers_recover_from_the_clients_errors_only() -> None:
    assert all(issubclass(cls, errors.InferenceError) for cls in RECOVERABLE)


def test_rate_limit_info_is_read_without_the_transport() -> None:
    exc = errors.RateLimitError(
        "slow down",
        status_code=429,
        headers={"Retry-After": "3", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "9"},
    )
    info = exc.rate_limit
    assert (info.retry_after, info.remaining, info.reset) == (3.0, 0, 9.0)


def test_task_failed_error_reads_its_typed_task() -> None:
    failed = TaskDTO.model_construct(id="t1", status=11)
    assert errors.TaskFailedError("failed", task=failed).task_id == "t1"
    assert errors.TaskFailedError("failed", task=TaskDTO.model_construct(id="")).task_id is None


def test_map_exceptions_translates_httpx_errors_and_nothing_else() -> None:
    with pytest.raises(errors.APITimeoutError) as timeout:
        with map_exceptions("GET", "/tasks/t1/stream"):
            raise httpx.ReadTimeout("idle")
    assert isinstance(timeout.value.__cause__, httpx.ReadTimeout)
    assert "GET /tasks/t1/stream timed out" in str(timeout.value)
    with pytest.raises(errors.APIConnectionError, match="failed"):
        with map_exceptions("PUT", "<upload url>"):
            raise httpx.RemoteProtocolError("peer closed")
    with pytest.raises(KeyError):
        with map_exceptions("GET", "/x"):
            raise KeyError("not an httpx error")


def test_a_stream_cut_mid_body_is_a_client_error(fault: Start) -> None:
    server = fault(
        lambda r: Reply(
            headers={"content-type": "application/x-ndjson"}, chunks=[b'{"id":'], cut=b"x"
        )
    )
    transport = Transport(
        TransportConfig(api_key="k", base_url=server.base_url, timeout=5, max_retries=0)
    )
    try:
        with pytest.raises(errors.APIConnectionError) as cut:
            with transport.open_stream("/tasks/t1/stream", accept="x", idle_timeout=5) as chunks:
                for _ in chunks:
                    pass
        assert isinstance(cut.value.__cause__, httpx.TransportError)
    finally:
        transport.close()
