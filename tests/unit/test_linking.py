"""One-time linking codes and bindings (channels/linking.py) on real SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from octipus.accounts import create_user
from octipus.channels import linking
from octipus.config import Settings
from octipus.db.engine import upgrade_schema
from octipus.db.tables import AuditEvent, LinkCode, User, utcnow
from octipus.runtime import Runtime


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database of each kind Octipus runs on."""
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_database_url"))
    return f"sqlite+aiosqlite:///{tmp_path}/t.db"


@pytest.fixture
async def runtime(database_url: str, tmp_path: Path) -> AsyncIterator[Runtime]:
    settings = Settings(database_url=database_url, data_dir=tmp_path)
    runtime = Runtime.create(settings)
    await upgrade_schema(runtime.engine)
    yield runtime
    await runtime.close()


async def _user(runtime: Runtime, name: str) -> User:
    async with runtime.sessions.begin() as session:
        return await create_user(session, name)


async def _bot_code(runtime: Runtime, chat: str = "1001") -> str:
    async with runtime.sessions.begin() as session:
        return (await linking.issue_bot_code(session, "telegram", chat, "@alice")).code


async def _redeem(runtime: Runtime, user: User, code: str):
    async with runtime.sessions() as session:
        return await linking.attempt_code(
            session,
            f"user:{user.id}",
            user.id,
            lambda s: linking.redeem_bot_code(s, user, code),
        )


def test_codes_are_six_unambiguous_characters():
    codes = {linking.new_code() for _ in range(200)}
    assert all(len(c) == 6 and set(c) <= set(linking.CODE_ALPHABET) for c in codes)
    assert not set("01OIL") & set(linking.CODE_ALPHABET)


def test_typed_codes_forgive_case_spaces_and_dashes():
    assert linking.hash_code("abc-23 4") == linking.hash_code("ABC234")


async def test_codes_are_stored_only_as_hashes(runtime: Runtime):
    code = await _bot_code(runtime)
    async with runtime.sessions() as session:
        stored = (await session.scalars(sa.select(LinkCode))).one()
    assert stored.code_hash == linking.hash_code(code)
    assert code not in {stored.code_hash, stored.external_id, stored.display_name}
    assert stored.expires_at - stored.created_at == timedelta(minutes=15)


async def test_redeeming_a_bot_code_verifies_the_chat_for_that_user(runtime: Runtime):
    alice = await _user(runtime, "alice")
    binding = await _redeem(runtime, alice, (await _bot_code(runtime)).lower())
    assert (binding.user_id, binding.channel_type, binding.external_id) == (
        alice.id,
        "telegram",
        "1001",
    )
    assert binding.status == "verified" and binding.display_name == "@alice"


async def test_a_code_works_only_once(runtime: Runtime):
    alice = await _user(runtime, "alice")
    code = await _bot_code(runtime)
    await _redeem(runtime, alice, code)
    with pytest.raises(linking.LinkError, match="already used") as info:
        await _redeem(runtime, alice, code)
    assert info.value.status == 400


async def test_concurrent_redemptions_of_one_code_bind_once(runtime: Runtime):
    users = [await _user(runtime, f"u{i}") for i in range(4)]
    code = await _bot_code(runtime)
    outcomes = await asyncio.gather(
        *(_redeem(runtime, u, code) for u in users), return_exceptions=True
    )
    assert sum(not isinstance(o, Exception) for o in outcomes) == 1


async def test_an_expired_code_is_refused(runtime: Runtime):
    alice = await _user(runtime, "alice")
    code = await _bot_code(runtime)
    async with runtime.sessions.begin() as session:
        await session.execute(
            sa.update(LinkCode).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    with pytest.raises(linking.LinkError, match="expired"):
        await _redeem(runtime, alice, code)


async def test_an_unknown_code_is_refused_and_audited(runtime: Runtime):
    alice = await _user(runtime, "alice")
    with pytest.raises(linking.LinkError, match="Unknown code"):
        await _redeem(runtime, alice, "ZZZZZZ")
    async with runtime.sessions() as session:
        event = (await session.scalars(sa.select(AuditEvent))).one()
    assert (event.kind, event.user_id, event.detail["subject"]) == (
        "channel.link_failed",
        alice.id,
        f"user:{alice.id}",
    )


async def test_a_ui_code_cannot_be_redeemed_as_a_bot_code(runtime: Runtime):
    alice = await _user(runtime, "alice")
    async with runtime.sessions.begin() as session:
        issued = await linking.issue_ui_code(session, alice)
    with pytest.raises(linking.LinkError, match="Unknown code"):
        await _redeem(runtime, alice, issued.code)


async def test_sending_a_ui_code_from_a_chat_binds_it_to_the_code_owner(runtime: Runtime):
    alice = await _user(runtime, "alice")
    async with runtime.sessions.begin() as session:
        issued = await linking.issue_ui_code(session, alice)
    async with runtime.sessions.begin() as session:
        binding, user = await linking.redeem_ui_code(session, "slack", "U42", "alice", issued.code)
    assert user.id == alice.id and binding.user_id == alice.id and binding.status == "verified"


async def test_a_chat_linked_to_another_user_is_refused_with_409(runtime: Runtime):
    alice, bob = await _user(runtime, "alice"), await _user(runtime, "bob")
    await _redeem(runtime, alice, await _bot_code(runtime))
    with pytest.raises(linking.LinkError) as info:
        await _redeem(runtime, bob, await _bot_code(runtime))
    assert info.value.status == 409
    async with runtime.sessions() as session:
        [binding] = await linking.list_bindings(session, alice.id)
    assert binding.external_id == "1001"


async def test_too_many_wrong_codes_are_refused_with_429(runtime: Runtime):
    alice = await _user(runtime, "alice")
    for _ in range(linking.MAX_FAILURES):
        with pytest.raises(linking.LinkError):
            await _redeem(runtime, alice, "ZZZZZZ")
    code = await _bot_code(runtime)
    with pytest.raises(linking.LinkError) as info:
        await _redeem(runtime, alice, code)
    assert info.value.status == 429


async def test_unlinking_deletes_the_binding_and_is_audited(runtime: Runtime):
    alice, bob = await _user(runtime, "alice"), await _user(runtime, "bob")
    await _redeem(runtime, alice, await _bot_code(runtime))
    async with runtime.sessions.begin() as session:
        assert not await linking.unlink(session, bob, "telegram", "1001")
        assert await linking.unlink(session, alice, "telegram", "1001")
    async with runtime.sessions() as session:
        kinds = list(await session.scalars(sa.select(AuditEvent.kind)))
        assert await linking.list_bindings(session, alice.id) == []
    assert kinds.count("channel.linked") == 1 and kinds.count("channel.unlinked") == 1
