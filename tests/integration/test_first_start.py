"""A first `octipus serve` in a fresh directory with default settings prints the admin token and
the URL to open, and nothing else (no warnings, no log lines)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.server import free_port
from tests.support.waiting import wait_until


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def serve_once(cwd: Path, port: int, **settings: str) -> list[str]:
    """The non-blank lines `octipus serve` prints in `cwd` (no OCTIPUS_* setting but the port
    and `settings`) while it starts, answers a newcomer's first requests, and stops."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCTIPUS_")}
    env.pop("PYTHONWARNINGS", None)  # as a newcomer runs it: Python's default warning filters
    env.update(OCTIPUS_PORT=str(port), TMPDIR=str(cwd), **settings)
    proc = subprocess.Popen(
        [sys.executable, "-m", "octipus", "serve"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: healthy(url), 60, "the server to answer")
        # Warnings raised per request or per route would show here.
        with httpx.Client(base_url=url) as client:
            for path in ("/api/hooks", "/openapi.json", "/ui/hooks"):
                client.get(path)
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    return [line.strip() for line in output.splitlines() if line.strip()]


def test_the_first_start_prints_only_the_token_and_the_url(tmp_path: Path) -> None:
    port = free_port()

    lines = serve_once(tmp_path, port)

    token = (tmp_path / "data" / "admin-token").read_text().strip()
    assert lines == [
        "Octipus: created user 'admin'. API token (shown once, also in data/admin-token):",
        token,
        f"Open http://127.0.0.1:{port}/",
    ]


def test_the_url_printed_is_the_public_url_when_set(tmp_path: Path) -> None:
    lines = serve_once(
        tmp_path,
        free_port(),
        OCTIPUS_PUBLIC_URL="https://hooks.example.com/",
        OCTIPUS_BOOTSTRAP_TOKEN="oct_public_url_test_token",
    )

    assert lines == ["Open https://hooks.example.com/"]
