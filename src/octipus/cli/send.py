"""`octipus send PATH`: sign a payload like a provider would and post it to the server."""

from __future__ import annotations

import uuid
from pathlib import Path

import typer

from octipus.cli.client import JSON_OPTION, URL_OPTION, Api, fail, print_json
from octipus.ingress.sign import SIGNABLE_PROVIDERS, sign_headers, stamp_body
from octipus.ingress.verify import ALGORITHMS, ENCODINGS

# The event-type and delivery-id headers each provider sends next to its signature (DESIGN
# §3.1); providers not listed carry the event type in the body's `type` field.
EVENT_HEADERS: dict[str, tuple[str, str | None]] = {
    "github": ("X-GitHub-Event", "X-GitHub-Delivery"),
    "gitlab": ("X-Gitlab-Event", "X-Gitlab-Event-UUID"),
    "gitea": ("X-Gitea-Event", "X-Gitea-Delivery"),
    "forgejo": ("X-Gitea-Event", "X-Gitea-Delivery"),
    "shopify": ("X-Shopify-Topic", "X-Shopify-Webhook-Id"),
    "linear": ("Linear-Event", "Linear-Delivery"),
    "bitbucket": ("X-Event-Key", None),
    "hmac": ("X-Event-Key", None),
}


def read_data(data: str) -> bytes:
    """DATA as bytes: the text itself, or the file named after an @."""
    if data.startswith("@"):
        path = Path(data[1:])
        if not path.exists():
            raise typer.BadParameter(f"file {path} does not exist")
        return path.read_bytes()
    return data.encode()


def provider_headers(provider: str, event: str | None) -> dict[str, str]:
    """The event and delivery-id headers `provider` sends (a fresh delivery id each time)."""
    names = EVENT_HEADERS.get(provider)
    if names is None:
        if event:
            raise typer.BadParameter(
                f'{provider} deliveries carry their event type in the body\'s "type" field;'
                " put it in --data instead of --event"
            )
        return {}
    event_header, delivery_header = names
    headers = {delivery_header: str(uuid.uuid4())} if delivery_header else {}
    if event:
        headers[event_header] = event
    return headers


def register(app: typer.Typer) -> None:
    @app.command()
    def send(
        path: str = typer.Argument(..., help="The hook's webhookPath, e.g. github"),
        secret: str = typer.Option(..., "--secret", "-s", envvar="OCTIPUS_SEND_SECRET"),
        data: str = typer.Option("{}", "--data", "-d", help="JSON text, or @file"),
        event: str | None = typer.Option(None, "--event", "-e", help="Event type, e.g. push"),
        provider: str = typer.Option(
            "github", "--provider", "-p", help=f"Signing scheme: {', '.join(SIGNABLE_PROVIDERS)}"
        ),
        content_type: str = typer.Option("application/json", "--content-type"),
        signature_header: str = typer.Option(
            "X-Signature", "--signature-header", help="hmac: the header to put the signature in"
        ),
        algorithm: str = typer.Option("sha256", "--algorithm", help="hmac: sha1, sha256, sha512"),
        encoding: str = typer.Option("hex", "--encoding", help="hmac: hex or base64"),
        prefix: str = typer.Option("", "--prefix", help="hmac: text before the signature"),
        url: str | None = URL_OPTION,
        json: bool = JSON_OPTION,
    ) -> None:
        """Sign DATA with SECRET as PROVIDER does and POST it to /api/webhooks/PATH."""
        if provider not in SIGNABLE_PROVIDERS:
            raise typer.BadParameter(f"provider must be one of {', '.join(SIGNABLE_PROVIDERS)}")
        if algorithm not in ALGORITHMS or encoding not in ENCODINGS:
            raise typer.BadParameter(
                f"--algorithm must be one of {', '.join(ALGORITHMS)};"
                f" --encoding one of {', '.join(ENCODINGS)}"
            )
        body = stamp_body(provider, read_data(data))
        try:
            signature = sign_headers(
                provider,
                secret,
                body,
                signature_header=signature_header,
                algorithm=algorithm,
                encoding=encoding,
                prefix=prefix,
            )
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        headers = {
            "Content-Type": content_type,
            **provider_headers(provider, event),
            **signature,
        }
        with Api(url, None, authenticated=False) as client:
            target = f"/api/webhooks/{path.strip('/')}"
            response = client.send("POST", target, content=body, headers=headers)
            answer = client.answer(response)
        if not response.is_success:
            fail(f"{answer['error']} (HTTP {response.status_code} from {client.base}{target})")
        if json:
            print_json(answer)
        else:
            typer.echo(f"{response.status_code} {client.base}{target}")
            print_json(answer)
