"""Secrets through a real server: masks that round-trip, `hooks apply` placeholders, private
files, encryption at rest and key rotation."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.hooks import make_hook, send_github, unique_path
from tests.support.receiver import Receiver
from tests.support.server import ServerProcess

BODY = b'{"zen": "Keep it logically awesome."}'
PRIMARY = "primary-secret-value-9999"
# Two rotation secrets ending like the primary: masks must still tell all three apart.
ROTATION = ["rotation-one-value-9999", "rotation-two-value-9999"]


def _accepted(server: ServerProcess, path: str, secret: str) -> bool:
    status = send_github(server.url, path, BODY, secret, event="ping").status_code
    assert status in (202, 401), status
    return status == 202


def _rotating_hook(c: httpx.Client, path: str) -> dict[str, Any]:
    return make_hook(c, path, secret=PRIMARY, triggerConfig={"webhookSecrets": ROTATION})


def _patch(c: httpx.Client, hook: dict[str, Any], **fields: Any) -> httpx.Response:
    return c.patch(f"/api/hooks/{hook['id']}", json=fields)


def test_read_back_masks_keep_every_secret_even_with_the_same_last_4(server: ServerProcess):
    path = unique_path()
    with server.client() as c:
        hook = _rotating_hook(c, path)
        shown = hook["triggerConfig"]
        masks = [shown["webhookSecret"], *shown["webhookSecrets"]]
        assert len(set(masks)) == 3 and all(m.startswith("••••9999#") for m in masks)
        # What the UI's edit form did on every save: the read-back config, one field changed.
        patched = _patch(c, hook, triggerConfig={**shown, "events": ["ping"]})
        assert patched.status_code == 200, patched.text
        assert patched.json()["hook"]["triggerConfig"]["webhookSecrets"] == shown["webhookSecrets"]
        # Reordered masks keep the secrets they name.
        reordered = {**shown, "webhookSecrets": shown["webhookSecrets"][::-1]}
        assert _patch(c, hook, triggerConfig=reordered).status_code == 200
    assert all(_accepted(server, path, secret) for secret in (PRIMARY, *ROTATION))


def test_a_new_value_beside_a_mask_replaces_only_the_secret_it_stands_for(
    server: ServerProcess,
):
    path = unique_path()
    with server.client() as c:
        hook = _rotating_hook(c, path)
        first_mask = hook["triggerConfig"]["webhookSecrets"][0]
        config = {**hook["triggerConfig"], "webhookSecrets": [first_mask, "brand-new-value-0000"]}
        assert _patch(c, hook, triggerConfig=config).status_code == 200
    assert _accepted(server, path, PRIMARY)
    assert _accepted(server, path, ROTATION[0])
    assert _accepted(server, path, "brand-new-value-0000")
    assert not _accepted(server, path, ROTATION[1])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("webhookSecret", "••••9999#0000000000000000"),
        ("webhookSecret", "••••"),
        ("webhookSecrets", ["••••9999#0000000000000000"]),
    ],
)
def test_a_mask_that_names_no_stored_secret_is_refused(
    server: ServerProcess, field: str, value: Any
):
    path = unique_path()
    with server.client() as c:
        hook = _rotating_hook(c, path)
        patched = _patch(c, hook, triggerConfig={**hook["triggerConfig"], field: value})
        created = c.post(
            "/api/hooks",
            json={
                "name": f"masked {path}",
                "triggerConfig": {"webhookPath": unique_path(), field: value},
                "action": "notify",
            },
        )
    for response in (patched, created):
        assert response.status_code == 400, response.text
        assert f"triggerConfig.{field}" in response.json()["error"]
        assert "mask" in response.json()["error"]
    assert all(_accepted(server, path, secret) for secret in (PRIMARY, *ROTATION))


def test_a_forwards_signing_secret_round_trips_and_a_new_one_replaces_it(
    server: ServerProcess,
):
    config = {"webhookUrl": "https://example.com/hook", "signingSecret": "signing-key-aaaa-5678"}
    with server.client() as c:
        hook = make_hook(c, unique_path(), action="webhook", actionConfig=config)
        shown = hook["actionConfig"]
        again = _patch(c, hook, actionConfig=shown).json()["hook"]["actionConfig"]
        replaced = _patch(c, hook, actionConfig={**shown, "signingSecret": "signing-key-bbbb-5678"})
    assert again["signingSecret"] == shown["signingSecret"]
    assert replaced.json()["hook"]["actionConfig"]["signingSecret"] != shown["signingSecret"]


@pytest.mark.parametrize(
    ("section", "field", "value"),
    [
        ("triggerConfig", "webhookSecret", "${DEPLOY_SECRET}"),
        ("triggerConfig", "webhookSecrets", ["ok-secret-value", "prefix-${OTHER}"]),
        ("actionConfig", "signingSecret", "${SIGNING}"),
    ],
)
def test_an_unexpanded_placeholder_is_refused_as_a_secret(
    server: ServerProcess, section: str, field: str, value: Any
):
    body: dict[str, Any] = {
        "name": f"placeholder {unique_path()}",
        "triggerConfig": {"webhookPath": unique_path()},
        "action": "webhook",
        "actionConfig": {"webhookUrl": "https://example.com/hook"},
    }
    body[section][field] = value
    with server.client() as c:
        response = c.post("/api/hooks", json=body)
    assert response.status_code == 400, response.text
    assert f"{section}.{field}" in response.json()["error"]
    assert "placeholder" in response.json()["error"]


# --- hooks apply --------------------------------------------------------------------------


def _apply(server: ServerProcess, spec: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**server.env, "OCTIPUS_URL": server.url, "OCTIPUS_TOKEN": server.token}
    environment.pop("DEPLOY_SECRET", None)
    return subprocess.run(
        [sys.executable, "-m", "octipus", "hooks", "apply", "-f", str(spec), "--json"],
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _spec(tmp_path: Path, path: str) -> Path:
    spec = tmp_path / "hooks.yaml"
    spec.write_text(
        "hooks:\n"
        f"  - name: gitops-{path}\n"
        f"    triggerConfig: {{webhookPath: {path}, webhookSecret: '${{DEPLOY_SECRET}}'}}\n"
        "    action: notify\n"
        "    actionConfig: {notifyOwner: true, notifyMessage: 'costs $${PRICE}'}\n"
    )
    return spec


def test_hooks_apply_takes_secrets_from_the_environment(server: ServerProcess, tmp_path: Path):
    path = unique_path()
    done = _apply(server, _spec(tmp_path, path), DEPLOY_SECRET="from-the-environment-1")
    assert done.returncode == 0, done.stderr
    [report] = json.loads(done.stdout)
    with server.client() as c:
        hook = c.get(f"/api/hooks/{report['id']}").json()["hook"]
    assert hook["actionConfig"]["notifyMessage"] == "costs ${PRICE}"
    assert _accepted(server, path, "from-the-environment-1")
    assert not _accepted(server, path, "${DEPLOY_SECRET}")


def test_hooks_apply_with_an_unset_variable_fails_naming_it(server: ServerProcess, tmp_path: Path):
    path = unique_path()
    done = _apply(server, _spec(tmp_path, path))
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert "${DEPLOY_SECRET} is not set" in line and "webhookSecret" in line
    with server.client() as c:
        names = [h["name"] for h in c.get("/api/hooks").json()["hooks"]]
    assert f"gitops-{path}" not in names


# --- files and encryption at rest ---------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_first_start_makes_the_data_dir_and_its_files_private(server_factory):
    server = server_factory(env={"OCTIPUS_BOOTSTRAP_TOKEN": ""})
    with server.client(token=(server.data_dir / "admin-token").read_text().strip()) as c:
        make_hook(c, unique_path())
    assert _mode(server.data_dir) == 0o700
    for name in ("octipus.db", "octipus.db-wal", "octipus.db-shm", "admin-token", "secret-key"):
        assert _mode(server.data_dir / name) == 0o600, name


def test_a_start_restricts_files_an_older_version_left_readable(server_factory):
    server = server_factory()
    server.stop()
    os.chmod(server.data_dir, 0o755)
    os.chmod(server.data_dir / "octipus.db", 0o644)
    server.start()
    assert _mode(server.data_dir) == 0o700
    assert _mode(server.data_dir / "octipus.db") == 0o600


def _database_bytes(server: ServerProcess) -> bytes:
    """The database after a checkpoint (the server stopped), its WAL included if any."""
    server.stop()
    database = server.data_dir / "octipus.db"
    with sqlite3.connect(database) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    wal = database.with_name("octipus.db-wal")
    return database.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def test_the_database_file_holds_no_secret_in_plain_text(
    server_factory: Callable[..., ServerProcess], receiver: Receiver
):
    server = server_factory(env={"OCTIPUS_FORWARD_ALLOW_HOSTS": "127.0.0.1"})
    secrets = ["zebra-webhook-secret-41", "zebra-rotation-secret-42", "zebra-signing-secret-43"]
    # The password is the destination's secret (Apprise's own description hides it).
    apprise = f"json://bot:zebra-apprise-pass-44@{receiver.url.removeprefix('http://')}/in"
    with server.client() as c:
        make_hook(
            c,
            unique_path(),
            secret=secrets[0],
            triggerConfig={"webhookSecrets": [secrets[1]]},
            action="webhook",
            actionConfig={"webhookUrl": "https://example.com/h", "signingSecret": secrets[2]},
        )
        added = c.post("/api/auth/channel-bindings/apprise", json={"url": apprise})
        assert added.status_code == 201, added.text
    stored = _database_bytes(server)
    for text in [*secrets, "zebra-apprise-pass-44"]:
        assert text.encode() not in stored, text
    assert b"zebra" not in stored


def test_plain_text_secrets_of_an_older_version_are_encrypted_at_start(server_factory):
    server = server_factory()
    path = unique_path()
    with server.client() as c:
        hook = make_hook(c, path)
    server.stop()
    with sqlite3.connect(server.data_dir / "octipus.db") as conn:
        (config,) = conn.execute(
            "SELECT trigger_config FROM hooks WHERE id = ?", (hook["id"],)
        ).fetchone()
        conn.execute(
            "UPDATE hooks SET trigger_config = ? WHERE id = ?",
            (json.dumps({**json.loads(config), "webhookSecret": "yak-plain-secret-7"}), hook["id"]),
        )
    assert b"yak-plain-secret-7" in _database_bytes(server)
    server.start()
    assert _accepted(server, path, "yak-plain-secret-7")
    assert b"yak-plain-secret-7" not in _database_bytes(server)


def _key_lines(server: ServerProcess) -> list[str]:
    return (server.data_dir / "secret-key").read_text().split()


def test_key_rotation_keeps_hooks_verifying(server_factory):
    server = server_factory()
    path = unique_path()
    with server.client() as c:
        hook = _rotating_hook(c, path)
    [old_key] = _key_lines(server)

    rotated = server.cli("secrets", "rotate-key")
    assert "rows encrypted" in rotated.stdout
    new_key, kept = _key_lines(server)
    assert kept == old_key and new_key != old_key
    with server.client() as c:  # a running server reads the key file again
        shown = c.get(f"/api/hooks/{hook['id']}").json()["hook"]["triggerConfig"]
        assert _patch(c, hook, triggerConfig={**shown, "events": ["ping"]}).status_code == 200
    assert all(_accepted(server, path, secret) for secret in (PRIMARY, *ROTATION))

    server.cli("secrets", "drop-old-keys")
    assert _key_lines(server) == [new_key]
    server.restart()
    assert all(_accepted(server, path, secret) for secret in (PRIMARY, *ROTATION))


def test_a_wrong_or_missing_key_stops_the_start_with_a_clear_error(server_factory):
    first, second = (
        subprocess.run(
            [sys.executable, "-m", "octipus", "secrets", "generate-key"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for _ in range(2)
    )
    server = server_factory(env={"OCTIPUS_SECRET_KEY": first})
    with server.client() as c:
        make_hook(c, unique_path())
    server.stop()
    assert not (server.data_dir / "secret-key").exists()

    server.env["OCTIPUS_SECRET_KEY"] = second
    with pytest.raises(RuntimeError, match="OCTIPUS_SECRET_KEY does not hold"):
        server.start()
    del server.env["OCTIPUS_SECRET_KEY"]
    with pytest.raises(RuntimeError, match="the database holds encrypted secrets but there is no"):
        server.start()
    assert not (server.data_dir / "secret-key").exists()
    server.env["OCTIPUS_SECRET_KEY"] = f"{second},{first}"  # a rotation: the new key first
    server.start()


def test_secrets_are_encrypted_in_postgresql_and_survive_a_restart(
    server_factory: Callable[..., ServerProcess], pg_database_url: str
):
    import asyncio

    import asyncpg

    server = server_factory(env={"OCTIPUS_DATABASE_URL": pg_database_url})
    path = unique_path()
    with server.client() as c:
        _rotating_hook(c, path)
    server.restart()  # the start-up pass reads and checks every stored secret
    assert all(_accepted(server, path, secret) for secret in (PRIMARY, *ROTATION))

    async def stored() -> str:
        conn = await asyncpg.connect(pg_database_url.replace("+asyncpg", ""))
        try:
            return str(await conn.fetchval("SELECT trigger_config::text FROM hooks"))
        finally:
            await conn.close()

    text = asyncio.run(stored())
    assert "encrypted" in text and "secret-value" not in text and "value-9999" not in text
