"""Cluster start on PostgreSQL: any number of nodes (and `octipus db upgrade`) at once."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

import httpx
import pytest

from tests.support.cluster import API_ONLY, SERVE, WORKER, pg_run, start_nodes
from tests.support.server import ServerProcess

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize("attempt", range(3))
def test_five_nodes_started_together_on_an_empty_database_all_come_up_with_one_admin(
    server_factory: Callable[..., ServerProcess], pg_database_url: str, attempt: int
):
    env = {"OCTIPUS_DATABASE_URL": pg_database_url, "OCTIPUS_BOOTSTRAP_TOKEN": ""}
    nodes = start_nodes(server_factory, env, [SERVE, API_ONLY, API_ONLY, WORKER, WORKER])

    assert [r["name"] for r in pg_run(pg_database_url, "SELECT name FROM users")] == ["admin"]
    token_files = [f for n in nodes if (f := n.data_dir / "admin-token").exists()]
    announced = [n for n in nodes if "created user 'admin'" in n.logs()]
    assert len(token_files) == 1 and len(announced) == 1
    token = token_files[0].read_text().strip()
    assert token in announced[0].logs()
    for node in nodes:
        assert node.proc is not None and node.proc.poll() is None, node.logs()
        if node.args != WORKER:
            me = httpx.get(f"{node.url}/api/auth/me", headers={"Authorization": f"Bearer {token}"})
            assert me.status_code == 200 and me.json()["name"] == "admin", me.text


def test_two_db_upgrades_at_once_both_succeed(pg_database_url: str):
    upgrade = [sys.executable, "-m", "octipus", "db", "upgrade"]
    env = {**os.environ, "OCTIPUS_DATABASE_URL": pg_database_url}
    procs = [
        subprocess.Popen(upgrade, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=60)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert all("database schema is up to date" in out for out in outputs)
    assert len(pg_run(pg_database_url, "SELECT version_num FROM alembic_version")) == 1
