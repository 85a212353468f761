"""`octipus executions list|show|retry|cancel|replay`: the execution log from a terminal."""

from __future__ import annotations

from enum import Enum
from typing import Any

import typer

from octipus.cli.client import JSON_OPTION, TOKEN_OPTION, URL_OPTION, Api, print_json
from octipus.cli.hooks import find_hook
from octipus.db.tables import STATUSES

app = typer.Typer(no_args_is_help=True, help="Execution log.")

Status = Enum("Status", {s: s for s in STATUSES}, type=str)  # type: ignore[misc]

HOOK_OPTION = typer.Option(None, "--hook", help="Only this hook's executions (name or id)")
STATUS_OPTION = typer.Option(None, "--status", help="Only these statuses (repeatable)")
EVENT_OPTION = typer.Option(None, "--event", help="Only this event type")
DELIVERY_OPTION = typer.Option(None, "--delivery", help="The sender's or our delivery id")
SINCE_OPTION = typer.Option(None, "--since", help="Created at or after (ISO 8601)")
UNTIL_OPTION = typer.Option(None, "--until", help="Created before (ISO 8601)")
SEARCH_OPTION = typer.Option(None, "--search", "-q", help="Words in the delivery's body")


def _filters(
    client: Api,
    hook: str | None,
    status: list[Any] | None,
    event: str | None,
    delivery: str | None,
    since: str | None,
    until: str | None,
    search: str | None,
) -> dict[str, Any]:
    """The API's filter fields (camelCase) for the options given."""
    given = {
        "hookId": find_hook(client, hook)["id"] if hook else None,
        "status": [s.value for s in status] if status else None,
        "event": event,
        "deliveryId": delivery,
        "since": since,
        "until": until,
        "q": search,
    }
    return {k: v for k, v in given.items() if v is not None}


def _show(execution: dict[str, Any], json: bool) -> None:
    if json:
        print_json(execution)
    else:
        typer.echo(_line(execution))


def _line(e: dict[str, Any]) -> str:
    took = f"{e['durationMs']}ms" if e.get("durationMs") is not None else "-"
    return (
        f"{e['id']}  {e['createdAt']}  {e['status']:9}  {e['hookName']}  {e['actionType']}"
        f"  attempts={e['attempts']}  {took}  {e.get('error') or ''}"
    ).rstrip()


@app.command("list")
def list_executions(
    hook: str | None = HOOK_OPTION,
    status: list[Status] | None = STATUS_OPTION,
    event: str | None = EVENT_OPTION,
    delivery: str | None = DELIVERY_OPTION,
    since: str | None = SINCE_OPTION,
    until: str | None = UNTIL_OPTION,
    search: str | None = SEARCH_OPTION,
    limit: int = typer.Option(20, "--limit"),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    json: bool = JSON_OPTION,
) -> None:
    """Newest executions first, with their ids."""
    with Api(url, token) as client:
        params = _filters(client, hook, status, event, delivery, since, until, search)
        body = client.get("/api/executions", "executions", params={**params, "limit": limit})
    if json:
        print_json(body)
        return
    for e in body["executions"]:
        typer.echo(_line(e))
    typer.echo(f"({len(body['executions'])} of {body['total']})")


@app.command("show")
def show(
    execution_id: str,
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    json: bool = JSON_OPTION,
) -> None:
    """One execution and each of its attempts: what was sent and what came back."""
    with Api(url, token) as client:
        execution = client.get(f"/api/executions/{execution_id}", "execution")["execution"]
    if json:
        print_json(execution)
        return
    typer.echo(_line(execution))
    if execution.get("replayOf"):
        typer.echo(f"replay of {execution['replayOf']}")
    for a in execution["attemptLog"]:
        request, response = a.get("request") or {}, a.get("response") or {}
        sent = f"{request.get('method', '')} {request.get('url', '')}".strip()
        got = response.get("status", "no answer") if request else ""
        typer.echo(
            f"  #{a['number']}  {a['finishedAt']}  {a['outcome']:8}  {a['durationMs']}ms"
            f"  {sent}  {got}  {a.get('error') or ''}".rstrip()
        )


@app.command("retry")
def retry(
    execution_id: str,
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    json: bool = JSON_OPTION,
) -> None:
    """Run a retrying or failed execution again now."""
    _act(execution_id, "retry", url, token, json)


@app.command("cancel")
def cancel(
    execution_id: str,
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    json: bool = JSON_OPTION,
) -> None:
    """Cancel a queued or retrying execution."""
    _act(execution_id, "cancel", url, token, json)


def _act(execution_id: str, verb: str, url: str | None, token: str | None, json: bool) -> None:
    """POST /api/executions/ID/VERB and show the execution it answers with."""
    with Api(url, token) as client:
        execution = client.post(f"/api/executions/{execution_id}/{verb}", "execution")["execution"]
    _show(execution, json)


@app.command("replay")
def replay(
    execution_id: str | None = typer.Argument(None, help="One execution; else every match"),
    hook: str | None = HOOK_OPTION,
    status: list[Status] | None = STATUS_OPTION,
    event: str | None = EVENT_OPTION,
    delivery: str | None = DELIVERY_OPTION,
    since: str | None = SINCE_OPTION,
    until: str | None = UNTIL_OPTION,
    search: str | None = SEARCH_OPTION,
    dry_run: bool = typer.Option(False, "--dry-run", help="Only count what would be replayed"),
    include_skipped: bool = typer.Option(
        False, "--include-skipped", help="Also replay skipped executions (--force for one)"
    ),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    json: bool = JSON_OPTION,
) -> None:
    """Queue executions again for their stored deliveries; prints the new execution ids."""
    with Api(url, token) as client:
        if execution_id:
            path = f"/api/executions/{execution_id}/replay"
            params = {"force": "true"} if include_skipped else {}
            replayed = client.post(path, "execution", params=params)["execution"]
            if json:
                print_json(replayed)
            else:
                typer.echo(replayed["id"])
            return
        filters = _filters(client, hook, status, event, delivery, since, until, search)
        body = {**filters, "dryRun": dry_run, "includeSkipped": include_skipped}
        answer = client.post("/api/executions/replay", "count", json=body)
    if json:
        print_json(answer)
    elif dry_run:
        typer.echo(f"{answer['count']} executions would be replayed")
        return
    else:
        for new_id in answer["executionIds"]:
            typer.echo(new_id)
        typer.echo(f"({answer['count']} replayed)")
