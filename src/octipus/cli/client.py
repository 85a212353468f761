"""How CLI commands reach a running server (URL and token from options, env, or the settings the
server reads) and the one place that turns every way of failing into a one-line error.

Exit codes: 1 the server refused the request (its message), 2 the server cannot be reached,
3 no token or a rejected token, 4 the URL answers but is not Octipus.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NoReturn

import httpx
import typer

from octipus.config import Settings

URL_OPTION = typer.Option(
    None,
    "--url",
    envvar="OCTIPUS_URL",
    help="Server base URL (default: OCTIPUS_PUBLIC_URL, else OCTIPUS_HOST:OCTIPUS_PORT).",
)
TOKEN_OPTION = typer.Option(
    None,
    "--token",
    envvar="OCTIPUS_TOKEN",
    help="API token (default: <data dir>/admin-token).",
)
JSON_OPTION = typer.Option(False, "--json", help="Print JSON for scripts.")

REFUSED, UNREACHABLE, UNAUTHORIZED, NOT_OCTIPUS = 1, 2, 3, 4


def fail(message: str, code: int = REFUSED) -> NoReturn:
    """Print `error: message` on stderr and exit with `code`."""
    typer.secho(f"error: {message}", err=True, fg="red")
    raise typer.Exit(code)


def server_url(url: str | None) -> str:
    """`--url`/OCTIPUS_URL, else where the server started here listens (its settings, .env)."""
    return url.rstrip("/") if url else Settings().client_url


def api_token(token: str | None) -> str:
    if token:
        return token
    path = Settings().data_dir / "admin-token"
    if path.exists():
        return path.read_text().strip()
    fail(
        f"no token: set OCTIPUS_TOKEN or pass --token ({path.resolve()} does not exist here;"
        " the server writes it on first start)",
        UNAUTHORIZED,
    )


def _reason(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.ConnectError):
        text = str(exc).lower()
        if "refused" in text:
            return "connection refused"
        if "name" in text or "resolve" in text or "address" in text:
            return "host not found"
        return str(exc) or "cannot connect"
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    return str(exc) or type(exc).__name__


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


class Api:
    """An Octipus API session: each call returns the answer's JSON or exits with one line."""

    def __init__(self, url: str | None, token: str | None, authenticated: bool = True):
        self.base = server_url(url)
        headers = {"Authorization": f"Bearer {api_token(token)}"} if authenticated else {}
        self.http = httpx.Client(base_url=self.base, headers=headers, timeout=30.0)

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *_: object) -> None:
        self.http.close()

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The raw answer; exit 2 when the server cannot be reached."""
        try:
            return self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            fail(
                f"cannot reach Octipus at {self.base}: {_reason(exc)};"
                " is it running (make run)? set OCTIPUS_URL",
                UNREACHABLE,
            )

    def _check_octipus(self, response: httpx.Response) -> None:
        """Exit 4 unless `base` serves Octipus's health check (asked only after an answer that
        did not look like Octipus's, or a 404: a wrong URL prefix looks like one)."""
        health = _json_object(self.send("GET", "/api/health")) or {}
        if "status" in health and ("version" in health or "database" in health):
            return
        kind = response.headers.get("content-type", "no content type").split(";")[0]
        fail(
            f"{self.base} does not answer like Octipus (HTTP {response.status_code}, {kind});"
            " check OCTIPUS_URL or --url",
            NOT_OCTIPUS,
        )

    def answer(self, response: httpx.Response, expect: str | None = None) -> dict[str, Any]:
        """The JSON object of an Octipus answer: an error has `error`, a success the key `expect`
        when given. Exit 4 when `base` is not Octipus, 1 when the answer is not as expected."""
        body = _json_object(response)
        wanted = "error" if not response.is_success else expect
        as_expected = body is not None and (wanted is None or wanted in body)
        if response.status_code == 404 or not as_expected:
            self._check_octipus(response)
        if body is None or not as_expected:
            fail(f"unexpected answer from {self.base} (HTTP {response.status_code})")
        return body

    def call(self, method: str, path: str, expect: str | None = None, **kwargs: Any) -> Any:
        """The JSON of a 2xx answer (which must have the key `expect` when given); exit 3 on a
        rejected token, 1 with the server's message."""
        response = self.send(method, path, **kwargs)
        body = self.answer(response, expect)
        if response.is_success:
            return body
        if response.status_code == 401:
            fail(
                f"{self.base} rejected the token ({body['error']}); set OCTIPUS_TOKEN or --token",
                UNAUTHORIZED,
            )
        fail(f"{body['error']} (HTTP {response.status_code})")

    def get(self, path: str, expect: str | None = None, **kwargs: Any) -> Any:
        return self.call("GET", path, expect, **kwargs)

    def post(self, path: str, expect: str | None = None, **kwargs: Any) -> Any:
        return self.call("POST", path, expect, **kwargs)

    def patch(self, path: str, expect: str | None = None, **kwargs: Any) -> Any:
        return self.call("PATCH", path, expect, **kwargs)

    def delete(self, path: str, expect: str | None = None, **kwargs: Any) -> Any:
        return self.call("DELETE", path, expect, **kwargs)


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


def existing_database(settings: Settings) -> Settings:
    """`settings` when its database exists; a SQLite file that does not is an error naming it
    (a command run from another directory would otherwise make a new, empty database)."""
    file = settings.sqlite_file
    if file is not None and not Path(file).exists():
        fail(
            f"no database at {Path(file).resolve()}: run this in the server's directory, or set"
            " OCTIPUS_DATABASE_URL (and OCTIPUS_DATA_DIR) to the server's; `octipus db upgrade"
            " --create` makes a new one"
        )
    return settings
