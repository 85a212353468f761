"""The queue's statements on real SQLite and PostgreSQL: claims, leases, fencing, recovery."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from octipus.app import prepare_database
from octipus.config import Settings
from octipus.db.connectors import NEW_WORK
from octipus.db.tables import ChannelBinding, Delivery, Execution, Hook, User, utcnow
from octipus.queue import queries
from octipus.queue.executor import prepare_runs
from octipus.runtime import Runtime

LEASE = 30.0


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/queue.db"
    return str(request.getfixturevalue("pg_database_url"))


@asynccontextmanager
async def prepared(database_url: str, data_dir: Path) -> AsyncIterator[Runtime]:
    settings = Settings(
        data_dir=data_dir, database_url=database_url, bootstrap_token="oct_" + "x" * 40
    )
    rt = Runtime.create(settings)
    await prepare_database(rt)
    yield rt
    await rt.close()


@pytest.fixture
async def runtime(database_url: str, tmp_path: Path) -> AsyncIterator[Runtime]:
    async with prepared(database_url, tmp_path) as rt:
        yield rt


async def queue(
    runtime: Runtime,
    count: int,
    hooks: int = 1,
    max_attempts: int = 8,
    actions: tuple[str, ...] = ("webhook",),
) -> list[str]:
    """`count` queued executions spread over `hooks` hooks (their actions taken in turn from
    `actions`), oldest first; their hook ids."""
    async with runtime.sessions.begin() as session:
        owner = (await session.scalars(sa.select(User))).one()
        made = [
            Hook(
                owner_id=owner.id,
                name=f"h{i}",
                webhook_path=f"p{i}",
                action=actions[i % len(actions)],
            )
            for i in range(hooks)
        ]
        delivery = Delivery(path="p0", body=b"{}")
        session.add_all([*made, delivery])
        await session.flush()
        start = utcnow() - timedelta(seconds=10)
        session.add_all(
            Execution(
                hook_id=made[n % hooks].id,
                delivery_pk=delivery.id,
                action_type="webhook",
                max_attempts=max_attempts,
                created_at=start + timedelta(milliseconds=n),
                run_after=start,
            )
            for n in range(count)
        )
        return [h.id for h in made]


async def queue_more(runtime: Runtime, hook_id: str, count: int) -> None:
    """`count` more due executions of `hook_id`, newer than every one queued so far."""
    async with runtime.sessions.begin() as session:
        delivery = (await session.scalars(sa.select(Delivery).limit(1))).one()
        start = utcnow() - timedelta(seconds=5)
        session.add_all(
            Execution(
                hook_id=hook_id,
                delivery_pk=delivery.id,
                action_type="webhook",
                created_at=start + timedelta(milliseconds=n),
                run_after=start,
            )
            for n in range(count)
        )


async def set_hook(runtime: Runtime, hook_id: str, **values) -> None:
    async with runtime.sessions.begin() as session:
        await session.execute(sa.update(Hook).where(Hook.id == hook_id).values(**values))


async def hook_of_new_user(runtime: Runtime) -> str:
    """The id of a new hook of a second user."""
    async with runtime.sessions.begin() as session:
        user = User(name="someone-else")
        session.add(user)
        await session.flush()
        hook = Hook(owner_id=user.id, name="theirs", webhook_path="theirs", action="webhook")
        session.add(hook)
        await session.flush()
        return hook.id


async def claim(
    runtime: Runtime,
    worker: str,
    limit: int = 10,
    per_hook: int | None = 2,
    now=None,
    per_user: int = 100,
):
    """Claim as a worker would, `per_hook` the default cap of a hook (None: no cap)."""
    async with runtime.sessions.begin() as session:
        return await queries.claim_due_executions(
            session,
            worker,
            limit=limit,
            user_limit=per_user,
            default_hook_limit=per_hook,
            lease_seconds=LEASE,
            now=now or utcnow(),
        )


def succeeded(claim: queries.Claim, now: datetime) -> queries.Finish:
    return queries.Finish(claim, "success", {}, None, 1, now, now)


async def recover(runtime: Runtime, now) -> tuple[int, int]:
    async with runtime.sessions.begin() as session:
        return await queries.recover_stalled_executions(session, now)


async def statuses(runtime: Runtime) -> list[tuple[str, int]]:
    async with runtime.sessions() as session:
        rows = await session.execute(
            sa.select(Execution.status, Execution.attempts).order_by(Execution.created_at)
        )
        return [tuple(r) for r in rows]


async def test_a_claimed_execution_is_not_claimed_again_while_its_lease_holds(runtime: Runtime):
    await queue(runtime, 1)
    [first] = await claim(runtime, "w1")
    assert first.attempt == 1
    assert await claim(runtime, "w2") == []
    assert await recover(runtime, utcnow()) == (0, 0)


async def test_claims_take_the_oldest_first_and_at_most_the_per_hook_limit(runtime: Runtime):
    hooks = await queue(runtime, 9, hooks=3)
    claims = await claim(runtime, "w1", per_hook=2)
    assert sorted(c.hook_id for c in claims) == sorted(hooks * 2)
    assert [s for s, _ in await statuses(runtime)] == ["running"] * 6 + ["queued"] * 3
    assert await claim(runtime, "w2", per_hook=2) == []


async def test_a_single_busy_hook_takes_every_free_slot(runtime: Runtime):
    await queue(runtime, 30)
    assert len(await claim(runtime, "w1", limit=20, per_hook=None)) == 20
    assert len(await claim(runtime, "w2", limit=20, per_hook=None)) == 10


async def test_waiting_hooks_share_the_free_slots_round_robin(runtime: Runtime):
    busy, quiet, late = await queue(runtime, 3, hooks=3)  # one each, oldest first
    await queue_more(runtime, busy, 20)
    claims = await claim(runtime, "w1", limit=6, per_hook=None)
    taken = Counter(c.hook_id for c in claims)
    assert taken == {busy: 4, quiet: 1, late: 1}  # quiet and late have nothing more due
    more = await claim(runtime, "w1", limit=4, per_hook=None)
    assert {c.hook_id for c in more} == {busy}


async def test_two_busy_hooks_split_the_slots_evenly_oldest_head_first(runtime: Runtime):
    first, second = await queue(runtime, 2, hooks=2)
    await queue_more(runtime, first, 10)
    await queue_more(runtime, second, 10)
    claims = await claim(runtime, "w1", limit=5, per_hook=None)
    assert Counter(c.hook_id for c in claims) == {first: 3, second: 2}


async def test_a_hooks_own_concurrency_caps_it_and_frees_slots_for_others(runtime: Runtime):
    capped, other = await queue(runtime, 2, hooks=2)
    await set_hook(runtime, capped, concurrency=3)
    await queue_more(runtime, capped, 10)
    claims = await claim(runtime, "w1", limit=10, per_hook=None)
    assert Counter(c.hook_id for c in claims) == {capped: 3, other: 1}
    assert await claim(runtime, "w2", limit=10, per_hook=None) == []


async def test_shell_tool_hooks_run_one_at_a_time_unless_they_say_otherwise(runtime: Runtime):
    shell, wide = await queue(runtime, 2, hooks=2, actions=("execute_tool",))
    await set_hook(runtime, shell, action_config={"toolId": "shell"})
    await set_hook(runtime, wide, action_config={"toolId": "shell"}, concurrency=4)
    await queue_more(runtime, shell, 5)
    await queue_more(runtime, wide, 5)
    claims = await claim(runtime, "w1", limit=20, per_hook=None)
    assert Counter(c.hook_id for c in claims) == {shell: 1, wide: 4}


async def test_a_user_over_the_per_user_limit_yields_to_others_but_not_to_idle_slots(
    runtime: Runtime,
):
    mine = await queue(runtime, 3, hooks=3)  # the admin's hooks
    theirs = await hook_of_new_user(runtime)
    for hook_id in [*mine, theirs]:
        await queue_more(runtime, hook_id, 10)
    claims = await claim(runtime, "w1", limit=8, per_hook=None, per_user=4)
    by_hook = Counter(c.hook_id for c in claims)
    assert sum(by_hook[h] for h in mine) == 4
    assert by_hook[theirs] == 4
    rest = await claim(runtime, "w1", limit=40, per_hook=None, per_user=4)
    assert len(rest) == 43 - 8  # beyond the limit: the slots nobody else's work wants


async def test_an_expired_lease_holds_no_slot_even_before_recovery(runtime: Runtime):
    [hook] = await queue(runtime, 3)
    start = utcnow()
    [held] = await claim(runtime, "w1", limit=1, per_hook=1, now=start)
    assert await claim(runtime, "w2", per_hook=1, now=start + timedelta(seconds=LEASE / 2)) == []
    expired = start + timedelta(seconds=LEASE + 1)
    [taken] = await claim(runtime, "w2", per_hook=1, now=expired)
    assert taken.hook_id == hook and taken.id != held.id


async def test_an_expired_lease_is_recovered_and_the_late_outcome_is_dropped(runtime: Runtime):
    await queue(runtime, 1)
    [lost] = await claim(runtime, "w1")
    later = utcnow() + timedelta(seconds=LEASE + 1)

    assert await recover(runtime, later) == (1, 0)
    [taken_over] = await claim(runtime, "w2", now=later)
    async with runtime.sessions.begin() as session:
        late = await queries.finish_runs(session, "w1", [succeeded(lost, later)])
        current = await queries.finish_runs(session, "w2", [succeeded(taken_over, later)])
    assert (late, current) == ([False], [True])
    assert taken_over.attempt == 2
    assert await statuses(runtime) == [("success", 2)]


async def test_outcomes_stored_together_keep_the_held_claims_and_drop_the_lost_one(
    runtime: Runtime,
):
    await queue(runtime, 2)
    start = utcnow()
    [first] = await claim(runtime, "w1", per_hook=1, now=start)
    [second] = await claim(runtime, "w1", per_hook=2, now=start + timedelta(seconds=LEASE / 2))
    expired = start + timedelta(seconds=LEASE + 1)  # only the first claim's lease
    assert await recover(runtime, expired) == (1, 0)
    [taken_over] = await claim(runtime, "w2", per_hook=2, now=expired)
    async with runtime.sessions.begin() as session:
        stored = await queries.finish_runs(
            session, "w1", [succeeded(first, expired), succeeded(second, expired)]
        )
    assert stored == [False, True]
    assert taken_over.id == first.id
    assert await statuses(runtime) == [("running", 2), ("success", 1)]


async def test_a_dead_workers_run_with_no_attempts_left_ends_in_error(runtime: Runtime):
    await queue(runtime, 1, max_attempts=1)
    await claim(runtime, "w1")
    assert await recover(runtime, utcnow() + timedelta(seconds=LEASE + 1)) == (0, 1)
    assert await statuses(runtime) == [("error", 1)]


async def test_renewed_leases_are_not_recovered(runtime: Runtime):
    await queue(runtime, 1)
    await claim(runtime, "w1")
    soon = utcnow() + timedelta(seconds=LEASE - 1)
    async with runtime.sessions.begin() as session:
        assert await queries.renew_leases(session, "w1", LEASE, soon) == 1
    assert await recover(runtime, soon + timedelta(seconds=2)) == (0, 0)


async def test_release_returns_a_workers_runs_to_the_queue(runtime: Runtime):
    await queue(runtime, 3)
    await claim(runtime, "w1")
    async with runtime.sessions.begin() as session:
        assert await queries.release_unfinished(session, "w1", utcnow()) == 2
        assert await queries.queue_depth(session) == 3
    assert [s for s, _ in await statuses(runtime)] == ["queued"] * 3


@pytest.mark.postgres
async def test_new_work_is_announced_to_listening_workers(pg_database_url: str, tmp_path: Path):
    # LISTEN/NOTIFY is PostgreSQL's; on SQLite one worker pool runs in-process.
    import asyncpg

    heard = asyncio.Event()
    listener = await asyncpg.connect(pg_database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await listener.add_listener(NEW_WORK, lambda *_: heard.set())
        async with prepared(pg_database_url, tmp_path) as runtime, runtime.sessions.begin() as s:
            await queries.notify_new_work(s)
        await asyncio.wait_for(heard.wait(), 10)
    finally:
        await listener.close()


async def test_notify_runs_get_their_owners_verified_bindings_with_the_claim(runtime: Runtime):
    notify_hook, forward_hook = await queue(runtime, 2, hooks=2, actions=("notify", "webhook"))
    async with runtime.sessions.begin() as session:
        owner = (await session.scalars(sa.select(User))).one()
        other = User(name="other")
        session.add(other)
        await session.flush()
        session.add_all(
            [
                ChannelBinding(
                    user_id=owner.id, channel_type="telegram", external_id="1", status="verified"
                ),
                ChannelBinding(
                    user_id=owner.id, channel_type="telegram", external_id="2", status="pending"
                ),
                ChannelBinding(
                    user_id=other.id, channel_type="telegram", external_id="3", status="verified"
                ),
            ]
        )
    claims = await claim(runtime, "w1")
    async with runtime.sessions.begin() as session:
        runs = {run.hook.id: run for run in await prepare_runs(session, claims, "w1")}
    assert [b.external_id for b in runs[notify_hook].owner_bindings or []] == ["1"]
    assert runs[forward_hook].owner_bindings is None
