"""Settings: every knob is an `OCTIPUS_*` environment variable (or a line in `.env`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url


class Settings(BaseSettings):
    """Runtime configuration, read once at start-up."""

    model_config = SettingsConfigDict(env_prefix="OCTIPUS_", env_file=".env", extra="ignore")

    # Serving
    host: str = "127.0.0.1"
    port: int = 3005
    public_url: str | None = None
    data_dir: Path = Path("./data")
    database_url: str = "sqlite+aiosqlite:///./data/octipus.db"
    # SQLite only: "full" fsyncs every commit (a 2xx survives power loss); "normal" survives a
    # crash of Octipus but may lose the last commits on power loss (README, Operations).
    sqlite_synchronous: Literal["full", "normal"] = "full"
    max_body_bytes: int = 25 * 1024 * 1024
    # What one connection may hold (README, Webhook ingress): the request line and headers
    # (bytes, count; 431 beyond), the time to send them and then the body (408 beyond), and
    # how many connections a serving process keeps open (503 and closed beyond).
    max_header_bytes: int = Field(64 * 1024, ge=1024)
    max_header_count: int = Field(200, ge=16)
    header_timeout_seconds: float = Field(10.0, gt=0)
    body_timeout_seconds: float = Field(60.0, gt=0)
    max_connections: int = Field(1000, ge=1)
    # Deepest nesting of arrays/objects accepted in a JSON body or hook config (400 beyond);
    # below 254, the deepest orjson writes.
    max_json_depth: int = Field(64, ge=1, le=253)
    # "warning" keeps a start quiet (the admin token and the URL); "info" logs each start step.
    log_level: str = "warning"
    log_format: Literal["text", "json"] = "text"
    bootstrap_token: str | None = None
    # Keys that encrypt webhook and signing secrets in the database (comma-separated Fernet keys,
    # the first encrypts); unset: the key file `<data dir>/secret-key` (README, Secrets at rest).
    secret_key: SecretStr | None = None
    # Processes serving HTTP on the one port (0: one on SQLite, else one per CPU, at most 2).
    # The first also runs the workers and channel pollers; the others serve requests only
    # (README, Operations). On SQLite, more than one needs the ingress writer process.
    http_processes: int = Field(0, ge=0, le=64)
    # SQLite file only: "process" stores every accepted delivery through one ingress writer
    # process (any number of serving processes); "inline" has the one serving process write
    # them itself; "auto" is "process" with two or more CPUs (README, Operations).
    ingress_writer: Literal["auto", "process", "inline"] = "auto"

    # Queue and workers
    worker_enabled: bool = True
    worker_concurrency: int = Field(20, ge=1)
    # Cap of a hook without `concurrency` (0: none; shell-tool hooks: 1), across all workers.
    hook_concurrency: int = Field(0, ge=0)
    # Running executions of one user's hooks that go first; beyond it a user gets only the slots
    # no other user's waiting work wants (queue/scheduling.py).
    user_concurrency: int = Field(10, ge=1)
    # A worker renews its runs' leases (and recovers dead workers' runs) every quarter lease.
    lease_seconds: float = Field(12.0, gt=0)
    poll_interval_seconds: float = Field(1.0, gt=0)
    worker_gather_ms: float = Field(2.0, ge=0, le=1000)
    shutdown_grace_seconds: float = Field(10.0, ge=0)
    queue_max_depth: int = Field(100_000, ge=1)
    retry_max_attempts: int = Field(8, ge=1)
    retry_base_scale: float = Field(1.0, gt=0)  # multiplies the backoff schedule (tests: 0.001)
    rejections_per_path: int = Field(100, ge=1)
    rejection_header_bytes: int = Field(4096, ge=256)  # headers kept per refused request

    # Retention (run by the leader): finished executions and the deliveries no execution needs
    # are deleted after `retention_days` (0: kept forever); raw bodies may be cleared sooner.
    retention_days: float = Field(30.0, ge=0)
    retention_body_days: float | None = Field(None, gt=0)
    retention_interval_seconds: float = Field(600.0, gt=0)
    # How often the leader adds new deliveries to the body search index (SQLite; search.py).
    search_index_interval_seconds: float = Field(2.0, gt=0)
    # Hooks: each of triggerConfig, actionConfig and conditions may nest at most this deep and
    # take at most this many bytes as JSON (README, Hooks API).
    hook_config_max_depth: int = Field(64, ge=4, le=200)
    hook_config_max_bytes: int = Field(64 * 1024, ge=1024, le=16 * 1024 * 1024)
    # Failure alerts (alerts.py): the owner hears once per hook per window when an execution
    # ends in error or the hook fails this many attempts in a row.
    alert_consecutive_failures: int = Field(5, ge=1)
    alert_window_seconds: float = Field(900.0, ge=1)
    # GET /api/executions/stream: changes on other processes and nodes are found by polling this
    # often; a comment every `heartbeat` keeps proxies from closing an idle stream; after
    # `max_seconds` the stream ends and the client reconnects with Last-Event-ID.
    stream_poll_seconds: float = Field(2.0, gt=0, le=60)
    stream_heartbeat_seconds: float = Field(15.0, gt=0)
    stream_max_seconds: float = Field(300.0, gt=0)

    # Actions and tools
    forward_allow_hosts: str = ""
    forward_timeout_seconds: float = 15.0
    tools_shell: Literal["on", "off"] = "on"

    # Channels
    telegram_bot_token: str | None = None
    telegram_api_url: str = "https://api.telegram.org"
    telegram_mode: Literal["webhook", "polling"] = "webhook"
    telegram_webhook_secret: str | None = None
    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_api_url: str = "https://slack.com/api"

    # Agents
    agent_model: str | None = None
    agent_base_url: str | None = None
    agent_api_key: str | None = None
    agent_topic_models: dict[str, str] = Field(default_factory=dict)
    agent_timeout_seconds: float = 120.0
    agent_max_output_tokens: int = 2048
    agent_max_tool_calls: int = 10

    @property
    def forward_allowed_hosts(self) -> frozenset[str]:
        """Hosts the SSRF guard lets through even when they resolve to private addresses."""
        return frozenset(
            h.strip().lower() for h in self.forward_allow_hosts.split(",") if h.strip()
        )

    @property
    def secret_key_file(self) -> Path:
        """Where the secret key lives when OCTIPUS_SECRET_KEY is not set."""
        return self.data_dir / "secret-key"

    @property
    def base_url(self) -> str:
        """External base URL shown to users (the public URL behind a tunnel, else the bind)."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @model_validator(mode="after")
    def _one_inline_sqlite_writer(self) -> Self:
        """SQLite inline: the one serving process is the one writer (no several inline ones)."""
        if self.http_processes > 1 and self.sqlite_file and not self.ingress_writer_process:
            raise ValueError(
                f"OCTIPUS_HTTP_PROCESSES={self.http_processes} on SQLite needs the ingress writer"
                " process: set OCTIPUS_INGRESS_WRITER=process, or OCTIPUS_HTTP_PROCESSES=1 to"
                " store deliveries inline in one process (README, Operations)"
            )
        return self

    @property
    def client_url(self) -> str:
        """Where a client on this machine reaches the server: the public URL, else the bind
        address (a wildcard bind is reached on 127.0.0.1)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    @property
    def serving_processes(self) -> int:
        """How many processes serve HTTP: OCTIPUS_HTTP_PROCESSES; else one on SQLite (inline,
        or beside the ingress writer process), one per CPU up to 2 on PostgreSQL."""
        if self.http_processes:
            return self.http_processes
        return (
            1
            if make_url(self.database_url).get_backend_name() == "sqlite"
            else min(2, os.cpu_count() or 1)
        )

    @property
    def ingress_writer_process(self) -> bool:
        """Whether one ingress writer process stores the deliveries (OCTIPUS_INGRESS_WRITER)."""
        if self.ingress_writer == "inline" or self.sqlite_file is None:
            return False
        return self.ingress_writer == "process" or (os.cpu_count() or 1) >= 2

    @property
    def sqlite_file(self) -> str | None:
        """The SQLite database file, or None (another database, or SQLite in memory)."""
        url = make_url(self.database_url)
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return None
        return url.database
