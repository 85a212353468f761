"""`octipus hooks list` and `octipus hooks apply -f hooks.yaml` (create or update by name)."""

from __future__ import annotations

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


def _load(file: Path) -> list[dict[str, Any]]:
    if not file.exists():
        raise typer.BadParameter(f"{file} does not exist")
    doc = yaml.safe_load(file.read_text()) or []
    hooks = doc.get("hooks", []) if isinstance(doc, dict) else doc
    if not isinstance(hooks, list) or not all(isinstance(h, dict) and h.get("name") for h in hooks):
        raise typer.BadParameter("expected a list of hooks (or {hooks: [...]}) each with a name")
    return hooks


@app.command("apply")
def apply(
    file: Path = typer.Option(..., "-f", "--file", help="YAML file with a list of hooks"),
    url: str | None = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    json: bool = JSON_OPTION,
) -> None:
    """Create or update hooks by name so the server matches FILE (GitOps)."""
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
