"""`octipus executions list [--hook ID] [--status S]`."""

from __future__ import annotations

import typer

from octipus.cli.client import JSON_OPTION, TOKEN_OPTION, URL_OPTION, Api, print_json
from octipus.cli.hooks import find_hook

app = typer.Typer(no_args_is_help=True, help="Execution log.")


@app.command("list")
def list_executions(
    hook: str | None = typer.Option(None, "--hook", help="Only this hook's (name or id)"),
    status: str | None = typer.Option(None, "--status"),
    limit: int = typer.Option(20, "--limit"),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    json: bool = JSON_OPTION,
) -> None:
    """Newest executions first."""
    params: dict[str, str | int] = {"limit": limit}
    if status:
        params["status"] = status
    with Api(url, token) as client:
        path = (
            f"/api/hooks/{find_hook(client, hook)['id']}/executions" if hook else "/api/executions"
        )
        body = client.get(path, "executions", params=params)
    if json:
        print_json(body)
        return
    for e in body["executions"]:
        took = f"{e['durationMs']}ms" if e.get("durationMs") is not None else "-"
        typer.echo(
            f"{e['createdAt']}  {e['status']:8}  {e['hookName']}  {e['actionType']}"
            f"  attempts={e['attempts']}  {took}  {e.get('error') or ''}".rstrip()
        )
    typer.echo(f"({len(body['executions'])} of {body['total']})")
