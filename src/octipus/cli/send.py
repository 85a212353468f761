"""`octipus send PATH`: sign a payload like a provider would and post it to the server."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import typer

from octipus.cli.client import URL_OPTION, print_json, server_url
from octipus.ingress.sign import SIGNABLE_PROVIDERS, sign_headers


def _read_data(data: str) -> bytes:
    if data.startswith("@"):
        path = Path(data[1:])
        if not path.exists():
            raise typer.BadParameter(f"file {path} does not exist")
        return path.read_bytes()
    return data.encode()


def register(app: typer.Typer) -> None:
    @app.command()
    def send(
        path: str = typer.Argument(..., help="The hook's webhookPath, e.g. github"),
        secret: str = typer.Option(..., "--secret", "-s", envvar="OCTIPUS_SEND_SECRET"),
        data: str = typer.Option("{}", "--data", "-d", help="JSON text, or @file"),
        event: str | None = typer.Option(None, "--event", "-e", help="Event type, e.g. push"),
        provider: str = typer.Option("github", "--provider", "-p", help="Signing scheme"),
        content_type: str = typer.Option("application/json", "--content-type"),
        url: str | None = URL_OPTION,
    ) -> None:
        """Sign DATA with SECRET and POST it to /api/webhooks/PATH; print the server's answer."""
        if provider not in SIGNABLE_PROVIDERS:
            raise typer.BadParameter(f"provider must be one of {', '.join(SIGNABLE_PROVIDERS)}")
        body = _read_data(data)
        headers = {"Content-Type": content_type, **sign_headers(provider, secret, body)}
        if provider == "github":
            headers["X-GitHub-Delivery"] = str(uuid.uuid4())
            if event:
                headers["X-GitHub-Event"] = event
        elif event:
            headers["X-Event-Key"] = event
        target = f"{server_url(url)}/api/webhooks/{path.strip('/')}"
        response = httpx.post(target, content=body, headers=headers, timeout=30.0)
        typer.echo(f"{response.status_code} {target}")
        try:
            print_json(response.json())
        except ValueError:
            typer.echo(response.text)
        if not response.is_success:
            raise typer.Exit(1)
