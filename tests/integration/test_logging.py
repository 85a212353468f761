"""Structured logs: OCTIPUS_LOG_FORMAT=json gives one JSON object per line."""

from __future__ import annotations

import json

import httpx

from tests.support.hooks import make_hook, unique_path


def test_json_log_format_writes_one_object_per_line(server_factory):
    server = server_factory(env={"OCTIPUS_LOG_FORMAT": "json"})
    path = unique_path()
    with server.client() as c:
        make_hook(c, path)
    httpx.post(f"{server.url}/api/webhooks/{path}", json={})
    lines = [line for line in server.logs().splitlines() if line.startswith("{")]
    entries = [json.loads(line) for line in lines]
    assert any(e["event"] == "octipus ready" for e in entries)
    rejected = [e for e in entries if e["event"] == "webhook rejected"]
    assert rejected and rejected[0]["status"] == 401 and rejected[0]["path"] == path
    assert all({"ts", "level", "logger", "event"} <= e.keys() for e in entries)
