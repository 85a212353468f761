"""Hook changes through one node are honoured by another within 0.5 s (PostgreSQL NOTIFY)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.cluster import API_ONLY, pg_run, start_nodes
from tests.support.hooks import make_hook, send_github, unique_path
from tests.support.server import ServerProcess
from tests.support.waiting import wait_until

pytestmark = pytest.mark.postgres

SECRET, ROTATED = "s3cret-value", "rotated-secret-value"
PUSHED = 0.5  # seconds within which another node honours a change
LISTENERS = "SELECT pid FROM pg_stat_activity WHERE application_name = 'octipus-listen-hooks'"


@pytest.fixture
def nodes(
    server_factory: Callable[..., ServerProcess], pg_database_url: str
) -> tuple[ServerProcess, ServerProcess]:
    """Two API nodes (each with its serving processes) on one database."""
    a, b = start_nodes(server_factory, {"OCTIPUS_DATABASE_URL": pg_database_url}, [API_ONLY] * 2)
    return a, b


def answers(
    node: ServerProcess, path: str, status: int, secret: str = SECRET
) -> Callable[[], bool]:
    """A check: `node` answers a delivery to `path` signed with `secret` with `status`."""
    return lambda: send_github(node.url, path, b"{}", secret).status_code == status


def patch(a: ServerProcess, hook: dict, **fields: object) -> None:
    with a.client() as c:
        response = c.patch(f"/api/hooks/{hook['id']}", json=fields)
    assert response.status_code == 200, response.text


def test_a_hook_created_disabled_rotated_and_deleted_on_one_node_is_honoured_by_another(
    nodes: tuple[ServerProcess, ServerProcess],
):
    a, b = nodes
    path = unique_path()
    for _ in range(4):  # every serving process of `b` has looked the path up (and cached it)
        assert answers(b, path, 404)()
    with a.client() as c:
        hook = make_hook(c, path, SECRET)
    wait_until(answers(b, path, 202), PUSHED, "the created hook on the other node")

    patch(a, hook, isEnabled=False)
    wait_until(answers(b, path, 404), PUSHED, "the disabled hook on the other node")
    patch(a, hook, isEnabled=True)
    wait_until(answers(b, path, 202), PUSHED, "the enabled hook on the other node")

    patch(a, hook, triggerConfig={"webhookPath": path, "webhookSecret": ROTATED})
    wait_until(answers(b, path, 401), PUSHED, "the rotated-out secret refused")
    assert answers(b, path, 202, ROTATED)()

    with a.client() as c:
        assert c.delete(f"/api/hooks/{hook['id']}").status_code == 200
    wait_until(answers(b, path, 404, ROTATED), PUSHED, "the deleted hook gone")


def test_after_losing_its_listener_a_node_falls_back_to_the_ttl_then_listens_again(
    nodes: tuple[ServerProcess, ServerProcess], pg_database_url: str
):
    a, b = nodes
    path = unique_path()
    with a.client() as c:
        hook = make_hook(c, path, SECRET)
    wait_until(answers(b, path, 202), PUSHED, "the created hook on the other node")
    listeners = len(pg_run(pg_database_url, LISTENERS))

    pg_run(pg_database_url, f"SELECT pg_terminate_backend(pid) FROM ({LISTENERS}) AS l")
    patch(a, hook, isEnabled=False)
    wait_until(answers(b, path, 404), 10, "the disabled hook, by TTL or on listening again")

    wait_until(lambda: len(pg_run(pg_database_url, LISTENERS)) >= listeners, 10, "listeners")
    patch(a, hook, isEnabled=True)
    wait_until(answers(b, path, 202), PUSHED, "the enabled hook, pushed again")
