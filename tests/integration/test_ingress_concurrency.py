"""Concurrent deliveries through a real server: group commit keeps dedupe and durability."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.support.hooks import make_hook, send_github, unique_path
from tests.support.server import ServerProcess
from tests.support.signing import fixture_bytes

SECRET = "s3cret-value"


def test_concurrent_deliveries_are_each_accepted_once(server: ServerProcess):
    path = unique_path()
    with server.client() as c:
        hook = make_hook(c, path)
    body = fixture_bytes("github", "push")
    ids = [f"distinct-{i}" for i in range(12)] + ["repeated"] * 12
    with ThreadPoolExecutor(12) as pool:
        responses = list(
            pool.map(lambda d: send_github(server.url, path, body, SECRET, delivery=d), ids)
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 11 + [202] * 13
    with server.client() as c:
        listed = c.get(f"/api/hooks/{hook['id']}/executions", params={"limit": 100}).json()
    assert listed["total"] == 13
    assert sorted({e["deliveryId"] for e in listed["executions"]}) == sorted(set(ids))
