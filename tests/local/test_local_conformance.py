"""Schemathesis against the running runtime, over every operation of schema/openapi.yaml.

Each operation gets a bounded number of cases, derandomized (every run sends the same ones), only
against the loopback runtime. Responses must match the spec and no served operation may answer
5xx; an operation the runtime does not serve answers 501 problem+json naming it.
"""

from __future__ import annotations

from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    negative_data_rejection,
    not_a_server_error,
    positive_data_acceptance,
)
from schemathesis.config import SchemathesisConfig
from schemathesis.core.transport import Response

from inferencesh.local import LocalRuntime

SPEC = Path(__file__).resolve().parents[2] / "schema" / "openapi.yaml"
# What the local runtime serves; every other operation of the spec is a 501.
SERVED = {
    "tasks.create",
    "tasks.list",
    "tasks.featured",
    "tasks.get",
    "tasks.delete",
    "tasks.status",
    "tasks.cancel",
    "tasks.files",
    "tasks.delete_files",
    "tasks.logs",
    "files.create",
    "files.list",
    "files.get",
    "files.delete",
    "sessions.list",
    "sessions.get",
    "sessions.end",
    "sessions.keepalive",
    "apps.list",
    "apps.get",
    "apps.get_by_name",
    "apps.delete",
    "agents.run",
    "agents.save",
    "agents.get",
    "agents.get_by_name",
    "agents.delete",
    "chats.list",
    "chats.get",
    "chats.update",
    "chats.delete",
    "chats.send_message",
    "chats.status",
    "chats.stop",
    "chats.list_messages",
    "tools.result",
    "tools.invoke",
    "tools.reject",
    "interrupts.resolve",
    "agent_runs.interrupts",
}

# A seed (rather than hypothesis' derandomize alone) fixes every generated case, per operation.
SEED = 20261201
served = schemathesis.openapi.from_path(
    SPEC, config=SchemathesisConfig.from_dict({"seed": SEED})
).include(operation_id=sorted(SERVED))
# An operation the runtime does not serve answers 501 whatever it is sent: a few cases each, and
# no coverage phase (its boundary values would only be more 501s).
others = schemathesis.openapi.from_path(
    SPEC,
    config=SchemathesisConfig.from_dict({"seed": SEED, "phases": {"coverage": {"enabled": False}}}),
).exclude(operation_id=sorted(SERVED))

# uvicorn answers a request it cannot parse (a generated header it refuses, say) itself, before
# the runtime sees it: that is the HTTP server's answer, outside the API's spec.
_UNPARSEABLE = (400, "Invalid HTTP request received.")
# Upstream's rules, not the runtime's gaps: the spec makes every request field optional and types
# bodies loosely, while the API (and this runtime) refuses requests for business reasons (an app
# or id that does not exist, a timeout out of range, a 501 for what it does not serve) and
# ignores unknown fields, as Go's JSON decoding does. These two checks would flag exactly that.
_UPSTREAM_RULES = [positive_data_acceptance, negative_data_rejection]


def _call(case: schemathesis.Case, runtime: LocalRuntime) -> Response | None:
    assert runtime.base_url.startswith("http://127.0.0.1:")
    response = case.call(
        base_url=runtime.base_url, headers={"Authorization": "Bearer inf_conformance"}
    )
    if (response.status_code, response.text) == _UNPARSEABLE:
        return None
    return response


@served.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    derandomize=True,
)
def test_served_operations_conform_to_the_spec(
    case: schemathesis.Case, runtime: LocalRuntime
) -> None:
    response = _call(case, runtime)
    if response is not None:
        case.validate_response(response, excluded_checks=_UPSTREAM_RULES)


@others.parametrize()
@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    derandomize=True,
)
def test_other_operations_answer_501_naming_themselves(
    case: schemathesis.Case, runtime: LocalRuntime
) -> None:
    response = _call(case, runtime)
    if response is None:
        return
    excluded = list(_UPSTREAM_RULES)
    if response.status_code == 501:
        assert response.json()["operation"] == case.operation.definition.raw["operationId"]
        excluded.append(not_a_server_error)
    case.validate_response(response, excluded_checks=excluded)
