"""How CLI commands reach a running server: URL and token from options, env, or the data dir."""

from __future__ import annotations

import json
import os
from typing import Any

import httpx
import typer

from octipus.config import Settings

URL_OPTION = typer.Option(None, "--url", envvar="OCTIPUS_URL", help="Server base URL.")
TOKEN_OPTION = typer.Option(None, "--token", envvar="OCTIPUS_TOKEN", help="API token.")
JSON_OPTION = typer.Option(False, "--json", help="Print JSON for scripts.")


def server_url(url: str | None) -> str:
    if url:
        return url.rstrip("/")
    settings = Settings()
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    return f"http://{host}:{settings.port}"


def api_token(token: str | None) -> str:
    if token:
        return token
    path = Settings().data_dir / "admin-token"
    if path.exists():
        return path.read_text().strip()
    raise typer.BadParameter(
        "no token: pass --token, set OCTIPUS_TOKEN, or run on the server's machine"
    )


def api(url: str | None, token: str | None) -> httpx.Client:
    return httpx.Client(
        base_url=server_url(url),
        headers={"Authorization": f"Bearer {api_token(token)}"},
        timeout=30.0,
    )


def check(response: httpx.Response) -> Any:
    """The JSON body of a 2xx answer; otherwise print the server's error and exit 1."""
    try:
        body = response.json()
    except ValueError:
        body = {"error": response.text}
    if response.is_success:
        return body
    message = body.get("error") if isinstance(body, dict) else body
    typer.secho(f"error {response.status_code}: {message}", err=True, fg="red")
    raise typer.Exit(1)


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes")
