"""`octipus hooks list` and `octipus hooks apply -f hooks.yaml` (create or update by name)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import typer
import yaml

from octipus.cli.client import JSON_OPTION, TOKEN_OPTION, URL_OPTION, api, check, print_json

app = typer.Typer(no_args_is_help=True, help="Hooks.")


@app.command("list")
def list_hooks(
    url: str | None = URL_OPTION, token: str | None = TOKEN_OPTION, json: bool = JSON_OPTION
) -> None:
    """List hooks: id, name, path, action, enabled, executions."""
    with api(url, token) as client:
        hooks = check(client.get("/api/hooks"))["hooks"]
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
    with api(url, token) as client:
        existing = {h["name"]: h for h in check(client.get("/api/hooks"))["hooks"]}
        for spec in wanted:
            current = existing.get(spec["name"])
            if current is None:
                hook = check(client.post("/api/hooks", json=spec))["hook"]
                report.append({"name": hook["name"], "id": hook["id"], "change": "created"})
            else:
                hook = check(client.patch(f"/api/hooks/{current['id']}", json=spec))["hook"]
                report.append({"name": hook["name"], "id": hook["id"], "change": "updated"})
    if json:
        print_json(report)
    else:
        for r in report:
            typer.echo(f"{r['change']:8} {r['name']} ({r['id']})")
