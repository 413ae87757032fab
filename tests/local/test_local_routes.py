"""Every route of the spec is answered: served, or 501 naming the operation; Allow as the spec."""

from __future__ import annotations

import httpx
import pytest
from local_helpers import assert_problem

from inferencesh._generated.routes import ROUTES


@pytest.mark.parametrize(
    ("method", "path", "operation"),
    [
        ("POST", "/skills/list", "skills.list"),
        ("GET", "/tasks/t1/timings", "tasks.timings"),
        ("POST", "/apps/a1/duplicate", "apps.duplicate"),
        ("PUT", "/mcp-servers/m1", "mcp_servers.update"),
        ("GET", "/me", "teams.me"),
        ("POST", "/chats", "chats.create"),
    ],
)
def test_an_operation_the_runtime_does_not_serve_is_a_501_naming_it(
    client: httpx.Client, method: str, path: str, operation: str
) -> None:
    response = client.request(method, path, json={})
    body = assert_problem(response, 501, "not_implemented")
    assert body["operation"] == operation and operation in body["detail"]


def _allowed(response: httpx.Response) -> set[str]:
    return {m.strip() for m in response.headers["allow"].split(",")} - {"HEAD", "OPTIONS"}


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/apps/list", "/apps/list"),
        ("/apps/run", "/apps/run"),
        ("/apps/a1", "/apps/{app_id}"),
        ("/apps/a1/duplicate", "/apps/{app_id}/duplicate"),
        ("/tasks/featured", "/tasks/featured"),
        ("/tasks/t1/files", "/tasks/{task_id}/files"),
        ("/sessions", "/sessions"),
        ("/chats/c1/messages", "/chats/{chat_id}/messages"),
    ],
)
def test_options_and_405_list_the_methods_of_the_spec(
    client: httpx.Client, path: str, template: str
) -> None:
    declared = {method for method, route, _ in ROUTES if route == template}
    options = client.options(path)
    assert options.status_code == 204 and _allowed(options) == declared
    wrong = client.request("PATCH", path)
    assert_problem(wrong, 405, "method_not_allowed")
    assert _allowed(wrong) == declared


def test_a_literal_path_wins_over_a_template_that_also_matches(client: httpx.Client) -> None:
    # GET /tasks/featured is the featured list, not the task "featured".
    page = client.get("/tasks/featured").json()["data"]
    assert page["items"] == [] and page["has_next"] is False
    # A method only the template has still reaches it: GET /apps/run is the app with id "run".
    assert_problem(client.get("/apps/run"), 404, "not_found")
