"""A real Octipus server in a subprocess on a loopback port, for integration tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

TEST_TOKEN = "oct_test_admin_token_0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """`octipus serve` with its own data dir, port and environment; start/kill/restart."""

    def __init__(
        self,
        data_dir: Path,
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
        ready_log: str | None = None,
    ):
        """`ready_log`: wait for this log text instead of /api/health (`octipus worker`)."""
        self.data_dir = data_dir
        self.ready_log = ready_log
        self.port = free_port()
        self.args = args or ["serve"]
        self.env = {
            **os.environ,
            "OCTIPUS_HOST": "127.0.0.1",
            "OCTIPUS_PORT": str(self.port),
            "OCTIPUS_DATA_DIR": str(data_dir),
            "OCTIPUS_DATABASE_URL": f"sqlite+aiosqlite:///{data_dir}/octipus.db",
            "OCTIPUS_BOOTSTRAP_TOKEN": TEST_TOKEN,
            "OCTIPUS_LOG_LEVEL": "info",
            "OCTIPUS_POLL_INTERVAL_SECONDS": "0.2",
            # Scratch files (the serving processes' shared directory) go where pytest cleans up:
            # servers are SIGKILLed after their tests, so they cannot remove them themselves.
            "TMPDIR": str(data_dir),
            **(env or {}),
        }
        self.token = self.env["OCTIPUS_BOOTSTRAP_TOKEN"]
        self.log_path = data_dir / f"server-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        log_start = log.tell()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "octipus", *self.args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.logs()}")
            if self._ready(log_start):
                return self
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"server did not become healthy in {timeout}s:\n{self.logs()}")

    def _ready(self, log_start: int) -> bool:
        if self.ready_log is not None:
            return self.ready_log.encode() in self.log_path.read_bytes()[log_start:]
        try:
            return httpx.get(f"{self.url}/api/health", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: a crash, nothing gets to clean up."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM: a graceful shutdown; returns the exit code."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode if self.proc else 0

    def restart(self) -> ServerProcess:
        self.stop()
        return self.start()

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `octipus ARGS` against this server's data dir and URL."""
        env = {**self.env, "OCTIPUS_URL": self.url, "OCTIPUS_TOKEN": self.token}
        done = subprocess.run(
            [sys.executable, "-m", "octipus", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"octipus {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done

    def new_user_token(self, name: str, admin: bool = False) -> str:
        """Create a user through the CLI and return its token."""
        out = self.cli("users", "create", name, *(["--admin"] if admin else []))
        return out.stdout.strip().splitlines()[-1]

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        """An HTTP client for the API, authenticated as the admin unless told otherwise."""
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token or self.token}"},
            timeout=30.0,
            **kwargs,
        )
