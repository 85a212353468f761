"""`octipus hooks list | show | delete | test` and `octipus hooks apply -f hooks.yaml` (create or
update by name)."""

from __future__ import annotations

import json as _json
import os
import re
from pathlib import Path
from typing import Any

import typer
import yaml

from octipus.cli.client import (
    JSON_OPTION,
    TOKEN_OPTION,
    URL_OPTION,
    Api,
    fail,
    print_json,
)
from octipus.cli.send import read_data

app = typer.Typer(no_args_is_help=True, help="Hooks.")
HOOK_OPTION = typer.Option(..., "--hook", help="The hook's name or id")


def find_hook(client: Api, ref: str) -> dict[str, Any]:
    """The caller's hook whose id or name is `ref`; exit 1 naming the choices otherwise."""
    hooks = client.get("/api/hooks", "hooks")["hooks"]
    found = [h for h in hooks if ref in (h["id"], h["name"])]
    if len(found) == 1:
        return dict(found[0])
    if found:
        fail(f"{len(found)} hooks are named {ref!r}: pass --hook with the id of one")
    names = ", ".join(sorted(h["name"] for h in hooks)) or "none yet"
    fail(f"no hook named or with id {ref!r} (yours: {names}); `octipus hooks list` shows them")


@app.command("list")
def list_hooks(
    url: str | None = URL_OPTION, token: str | None = TOKEN_OPTION, json: bool = JSON_OPTION
) -> None:
    """List hooks: id, name, path, action, enabled, executions."""
    with Api(url, token) as client:
        hooks = client.get("/api/hooks", "hooks")["hooks"]
    if json:
        print_json(hooks)
        return
    for h in hooks:
        state = "on " if h["isEnabled"] else "off"
        typer.echo(
            f"{h['id']}  {state}  /api/webhooks/{h['triggerConfig'].get('webhookPath', '')}"
            f"  {h['action']}  {h['name']}  ({h['executionCount']} runs)"
        )


# `${NAME}` takes NAME from the environment; `$${NAME}` stands for a literal `${NAME}`. A bare
# `$NAME` is left alone: `$` is common in secrets, regexes and shell commands.
_VARIABLE = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand(value: Any, where: str) -> Any:
    """`value` with `${NAME}` in its strings replaced from the environment; exit 1 naming an
    unset variable."""
    if isinstance(value, dict):
        return {k: _expand(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str):
        return _VARIABLE.sub(lambda match: _variable(match, where), value)
    return value


def _variable(match: re.Match[str], where: str) -> str:
    escaped, name = match.groups()
    if escaped:
        return match.group()[1:]
    if name not in os.environ:
        typer.secho(
            f"error: ${{{name}}} is not set (used in {where}); export it, or write"
            f" $${{{name}}} for a literal ${{{name}}}",
            err=True,
            fg="red",
        )
        raise typer.Exit(1)
    return os.environ[name]


def _load(file: Path) -> list[dict[str, Any]]:
    if not file.exists():
        raise typer.BadParameter(f"{file} does not exist")
    doc = yaml.safe_load(file.read_text()) or []
    hooks = doc.get("hooks", []) if isinstance(doc, dict) else doc
    if not isinstance(hooks, list) or not all(isinstance(h, dict) and h.get("name") for h in hooks):
        raise typer.BadParameter("expected a list of hooks (or {hooks: [...]}) each with a name")
    return [_expand(h, f"{file.name}: hook {h['name']!r}") for h in hooks]


@app.command("apply")
def apply(
    file: Path = typer.Option(..., "-f", "--file", help="YAML file with a list of hooks"),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    json: bool = JSON_OPTION,
) -> None:
    """Create or update hooks by name so the server matches FILE (GitOps).

    `${NAME}` in FILE's values is taken from the environment (an unset NAME is an error);
    `$${NAME}` is a literal `${NAME}`."""
    wanted = _load(file)
    report = []
    with Api(url, token) as client:
        existing = {h["name"]: h for h in client.get("/api/hooks", "hooks")["hooks"]}
        for spec in wanted:
            current = existing.get(spec["name"])
            if current is None:
                hook = client.post("/api/hooks", "hook", json=spec)["hook"]
                report.append({"name": hook["name"], "id": hook["id"], "change": "created"})
            else:
                hook = client.patch(f"/api/hooks/{current['id']}", "hook", json=spec)["hook"]
                report.append({"name": hook["name"], "id": hook["id"], "change": "updated"})
    if json:
        print_json(report)
    else:
        for r in report:
            typer.echo(f"{r['change']:8} {r['name']} ({r['id']})")


@app.command("show")
def show(
    hook: str = HOOK_OPTION,
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    json: bool = JSON_OPTION,
) -> None:
    """Show one hook (secrets masked) as YAML, or JSON with --json."""
    with Api(url, token) as client:
        found = find_hook(client, hook)
    if json:
        print_json(found)
    else:
        typer.echo(yaml.safe_dump(found, sort_keys=False, allow_unicode=True).rstrip())


@app.command("delete")
def delete(
    hook: str = HOOK_OPTION,
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    json: bool = JSON_OPTION,
) -> None:
    """Delete a hook (its executions go with it)."""
    with Api(url, token) as client:
        found = find_hook(client, hook)
        client.delete(f"/api/hooks/{found['id']}", "deleted")
    report = {"name": found["name"], "id": found["id"], "change": "deleted"}
    if json:
        print_json(report)
    else:
        typer.echo(f"deleted  {found['name']} ({found['id']})")


def _headers(values: list[str]) -> dict[str, str]:
    pairs = [v.partition(":") for v in values]
    if any(not sep or not name.strip() for name, sep, _ in pairs):
        raise typer.BadParameter("--header takes NAME:VALUE, e.g. X-GitHub-Event:push")
    return {name.strip(): value.strip() for name, _, value in pairs}


@app.command("test")
def test(
    hook: str = HOOK_OPTION,
    data: str = typer.Option("{}", "--data", "-d", help="JSON text, or @file"),
    header: list[str] = typer.Option([], "--header", "-H", help="NAME:VALUE, repeatable"),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    json: bool = JSON_OPTION,
) -> None:
    """Run the hook's action now with DATA (no signature needed; one attempt). Exits 1 when the
    run does not succeed."""
    try:
        payload = _json.loads(read_data(data))
    except ValueError as exc:
        raise typer.BadParameter(f"--data is not JSON ({exc})") from None
    with Api(url, token) as client:
        found = find_hook(client, hook)
        body = {"data": payload, "headers": _headers(header)}
        [execution] = client.post(f"/api/hooks/{found['id']}/test", "results", json=body)["results"]
    if json:
        print_json(execution)
    else:
        typer.echo(f"{execution['status']:8} {found['name']}  execution {execution['id']}")
        for line in (execution.get("result") or {}).get("warnings") or []:
            typer.echo(f"warning: {line}")
        if execution.get("error"):
            typer.echo(f"error: {execution['error']}")
    if execution["status"] != "success":
        raise typer.Exit(1)
