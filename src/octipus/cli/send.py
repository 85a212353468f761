"""`octipus send PATH`: sign a payload like a provider would and post it to the server."""

from __future__ import annotations

import uuid
from pathlib import Path

import typer

from octipus.cli.client import JSON_OPTION, URL_OPTION, Api, fail, print_json
from octipus.ingress.providers.mac import ALGORITHMS, ENCODINGS
from octipus.ingress.providers.registry import BY_NAME, SIGNABLE_PROVIDERS, sign_headers, stamp_body


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
    found = BY_NAME[provider]
    if found.event_header is None:
        if event:
            raise typer.BadParameter(
                f'{provider} deliveries carry their event type in the body\'s "type" field;'
                " put it in --data instead of --event"
            )
        return {}
    headers = {found.delivery_headers[0]: str(uuid.uuid4())} if found.delivery_headers else {}
    if event:
        headers[found.event_header] = event
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
        with Api(url, None, authenticated=False) as client:
            target = BY_NAME[provider].signed_url(
                f"{client.base}/api/webhooks/{path.strip('/')}", body, content_type
            )
            try:
                signature = sign_headers(
                    provider,
                    secret,
                    body,
                    url=target,
                    content_type=content_type,
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
            response = client.send("POST", target, content=body, headers=headers)
            answer = client.answer(response)
        if not response.is_success:
            fail(f"{answer['error']} (HTTP {response.status_code} from {target})")
        if json:
            print_json(answer)
        else:
            typer.echo(f"{response.status_code} {target}")
            print_json(answer)
