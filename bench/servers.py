"""Start and stop the servers under test on 127.0.0.1: Octipus and adnanh/webhook."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Self

import httpx

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"


def ensure_debian_package(name: str, command: str | None = None) -> None:
    """Install a Debian package with apt-get when its command is missing."""
    if shutil.which(command or name):
        return
    print(f"installing Debian package {name} ...", flush=True)
    apt = ["apt-get", "-y", "-q", "-o", "DPkg::Lock::Timeout=300"]
    if subprocess.run([*apt, "install", name], capture_output=True).returncode != 0:
        subprocess.run([*apt, "update"], check=True, capture_output=True)
        subprocess.run([*apt, "install", name], check=True, capture_output=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def process_tree(pid: int) -> list[int]:
    """`pid` and its live descendants (Octipus's sibling serving processes, webhook's commands)."""
    tree = [pid]
    for parent in tree:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # it has just exited
            for children in list(Path(f"/proc/{parent}/task").glob("*/children")):
                tree += [int(child) for child in children.read_text().split()]
    return tree


def _kib(pid: int, file: str, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):  # it has just exited
        pass
    return 0


def memory_kib(pid: int) -> tuple[int, int, int]:
    """A process with its descendants: the largest one's VmRSS, all of their PSS together (shared
    pages counted once, so a fork about to exec does not count twice), and how many there are."""
    tree = [p for p in process_tree(pid) if _kib(p, "status", "VmRSS:")]
    largest = max((_kib(p, "status", "VmRSS:") for p in tree), default=0)
    return largest, sum(_kib(p, "smaps_rollup", "Pss:") for p in tree), len(tree)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its descendants, live or reaped."""
    ticks = 0
    for process in process_tree(pid):
        try:
            fields = Path(f"/proc/{process}/stat").read_text().rpartition(")")[2].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        ticks += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_until_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


class Server:
    """A subprocess in its own session with a scratch directory, stopped on exit."""

    name = ""
    url = ""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix=f"octipus-bench-{self.name}-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def _spawn(self, command: list[str], env: dict[str, str] | None = None) -> None:
        log = (self.dir / "server.log").open("ab")
        self.proc = subprocess.Popen(
            command,
            env=env,
            cwd=self.dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log_tail(self, chars: int = 3000) -> str:
        path = self.dir / "server.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def stop(self) -> None:
        self.halt()
        shutil.rmtree(self.dir, ignore_errors=True)

    def halt(self) -> None:
        """SIGTERM (a graceful stop), keeping the scratch directory."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


class Octipus(Server):
    """Octipus started as `make run` starts it, in a scratch directory as its working directory:
    `octipus db upgrade --create`, then `octipus serve` (or `command`), with no OCTIPUS_* variable
    from the caller's environment: the defaults (SQLite in ./data, worker on), a free port,
    and `env` on top. The admin token is the one the first start writes to data/admin-token."""

    name = "octipus"

    def __init__(
        self,
        env: dict[str, str] | None = None,
        command: tuple[str, ...] = ("serve",),
        upgrade: bool = True,
    ):
        super().__init__()
        self.upgrade = upgrade
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("OCTIPUS_")}
        self.env = {**inherited, "OCTIPUS_PORT": str(self.port), **(env or {})}
        self.command = command
        self.base = f"http://{HOST}:{self.port}"
        self.data = self.dir / "data"

    @property
    def database(self) -> Path:
        """The SQLite file of the default configuration (./data/octipus.db)."""
        return self.data / "octipus.db"

    @property
    def token(self) -> str:
        return (self.data / "admin-token").read_text().strip()

    def start(self, **env: str) -> Self:
        """Upgrade the schema and serve (again, on the same data dir); `env` overrides variables
        from now on."""
        self.env.update(env)
        octipus = [sys.executable, "-m", "octipus"]
        if self.upgrade:
            done = subprocess.run(
                [*octipus, "db", "upgrade", "--create"],
                env=self.env,
                cwd=self.dir,
                capture_output=True,
            )
            if done.returncode != 0:
                raise RuntimeError(f"octipus db upgrade failed:\n{done.stdout!r}{done.stderr!r}")
        self._spawn([*octipus, *self.command], self.env)
        assert self.proc is not None
        if self.command[0] == "serve":
            wait_until_up(f"{self.base}/api/health", self.proc)
        return self

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base, headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        )

    def create_hook(
        self, path: str, secret: str, action: str, config: dict[str, Any], **fields: Any
    ) -> tuple[str, list[str]]:
        """Create an enabled hook on `path` (`url` then points at it); return its id and the
        names of `fields` (optional hook fields such as `concurrency`) this Octipus refused as
        unknown, for which the hook was created without them."""
        body = {
            "name": f"bench {path}",
            "trigger": "webhook",
            "triggerConfig": {"webhookPath": path, "webhookSecret": secret, "provider": "github"},
            "action": action,
            "actionConfig": config,
            **fields,
        }
        refused: list[str] = []
        with self.api() as client:
            response = client.post("/api/hooks", json=body)
            unknown = unknown_fields(response, fields)
            if unknown:
                refused = unknown
                kept = {k: v for k, v in body.items() if k not in unknown}
                response = client.post("/api/hooks", json=kept)
        if response.status_code != 201:
            raise RuntimeError(f"could not create the hook: {response.status_code} {response.text}")
        self.url = f"{self.base}/api/webhooks/{path}"
        return str(response.json()["hook"]["id"]), refused


def unknown_fields(response: httpx.Response, fields: dict[str, Any]) -> list[str]:
    """Which of `fields` a 422 answer refuses as unknown (not as out of range)."""
    if response.status_code != 422:
        return []
    details = response.json().get("details", [])
    refused = {
        d.get("field", "").rpartition(".")[2]
        for d in details
        if any(w in d.get("message", "").lower() for w in ("extra", "unknown", "not permitted"))
    }
    return [f for f in fields if f in refused]


class AdnanhWebhook(Server):
    """adnanh/webhook (Debian package `webhook`) with one HMAC-SHA256 hook running `/bin/sh -c
    command` per delivery, or /bin/true itself when `command` is None."""

    name = "webhook"

    def __init__(self, secret: str, command: str | None = None) -> None:
        super().__init__()
        run: dict[str, Any] = {"execute-command": "/bin/true"}
        if command is not None:
            arguments = [{"source": "string", "name": "-c"}, {"source": "string", "name": command}]
            run = {"execute-command": "/bin/sh", "pass-arguments-to-command": arguments}
        hooks = [
            {
                "id": "bench",
                **run,
                "response-message": "accepted",
                "trigger-rule-mismatch-http-response-code": 401,
                "trigger-rule": {
                    "match": {
                        "type": "payload-hmac-sha256",
                        "secret": secret,
                        "parameter": {"source": "header", "name": "X-Hub-Signature-256"},
                    }
                },
            }
        ]
        (self.dir / "hooks.json").write_text(json.dumps(hooks))
        self.url = f"http://{HOST}:{self.port}/hooks/bench"

    def start(self) -> AdnanhWebhook:
        ensure_debian_package("webhook")
        command = [shutil.which("webhook") or "webhook", "-ip", HOST, "-port", str(self.port)]
        self._spawn([*command, "-hooks", str(self.dir / "hooks.json")])
        assert self.proc is not None
        wait_until_up(f"http://{HOST}:{self.port}/", self.proc)
        return self


class Receiver(Server):
    """bench/receiver.py under uvicorn: a forward target that answers 200 after `delay_ms`."""

    name = "receiver"
    app = "receiver:app"

    def __init__(self, delay_ms: float = 0.0) -> None:
        super().__init__()
        self.env = {**os.environ, "BENCH_RECEIVER_DELAY_MS": str(delay_ms)}

    def start(self) -> Self:
        here = str(Path(__file__).parent)
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            self.app,
            "--app-dir",
            here,
            "--host",
            HOST,
        ]
        options = ["--loop", "uvloop", "--http", "httptools", "--no-access-log"]
        options += ["--port", str(self.port), "--log-level", "warning"]
        self._spawn([*command, *options], self.env)
        assert self.proc is not None
        self.url = f"http://{HOST}:{self.port}/"
        wait_until_up(self.url, self.proc)
        return self


class FakeTelegram(Receiver):
    """bench/fake_telegram.py under uvicorn: the Bot API's sendMessage, answered at once."""

    name = "fake-telegram"
    app = "fake_telegram:app"
