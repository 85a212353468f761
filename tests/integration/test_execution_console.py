"""The execution log as a console: attempts over a real retry sequence, filters, body search,
retry-now, cancel, replays (single, bulk, dry run, skipped), deliveries, who sees what, CLI."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from octipus.api.execution_models import (
    ExecutionPage,
    ExecutionReply,
    OneDelivery,
    OneExecution,
    ReplayCount,
)
from tests.support.hooks import make_hook, send_github, unique_path
from tests.support.receiver import Receiver, Reply
from tests.support.server import ServerProcess
from tests.support.waiting import finished_executions, wait_until

SECRET = "s3cret-value"
AN_HOUR = {"Retry-After": "3600", "Content-Type": "text/plain"}


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {
        "OCTIPUS_FORWARD_ALLOW_HOSTS": "127.0.0.1",
        "OCTIPUS_RETRY_BASE_SCALE": "0.001",  # retries after ~5 ms, ~300 ms, ...
        "OCTIPUS_SEARCH_INDEX_INTERVAL_SECONDS": "0.2",
    }
    proc = ServerProcess(tmp_path_factory.mktemp("console"), env).start()
    yield proc
    proc.kill()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def forward_hook(server: ServerProcess, url: str, token: str | None = None, **config) -> dict:
    with server.client(token) as c:
        return make_hook(
            c, unique_path(), action="webhook", actionConfig={"webhookUrl": url, **config}
        )


def deliver(
    server: ServerProcess, hook: dict, body: bytes = b'{"n": 0}', event: str = "push"
) -> str:
    """Send one signed delivery; returns its X-GitHub-Delivery id."""
    delivery = str(uuid.uuid4())
    path = hook["triggerConfig"]["webhookPath"]
    response = send_github(server.url, path, body, SECRET, event=event, delivery=delivery)
    assert response.status_code == 202, response.text
    return delivery


def one_in(server: ServerProcess, hook: dict, statuses: tuple[str, ...]) -> dict:
    """Wait for the hook's (first) execution in `statuses`."""
    with server.client() as c:
        return finished_executions(c, hook["id"], statuses=statuses)[0]


def test_every_attempt_of_a_retry_sequence_is_kept(console: ServerProcess, receiver: Receiver):
    receiver.script("/flaky", Reply(500, b"boom 1"), Reply(500, b"boom 2"), Reply(200, b"ok"))
    hook = forward_hook(
        console,
        receiver.url + "/flaky",
        webhookHeaders={"X-Team": "ops", "X-Auth-Token": "do-not-log-me"},
        signingSecret="sign-me-please",
    )
    deliver(console, hook, b'{"release": "v1.2.3"}')
    execution = one_in(console, hook, ("success",))
    with console.client() as c:
        answer = c.get(f"/api/executions/{execution['id']}").json()
    OneExecution.model_validate(answer)  # the documented response model
    shown = answer["execution"]
    attempts = shown["attemptLog"]
    assert [(a["number"], a["outcome"]) for a in attempts] == [
        (1, "retrying"),
        (2, "retrying"),
        (3, "success"),
    ]
    assert [a["response"]["status"] for a in attempts] == [500, 500, 200]
    assert [a["response"]["body"] for a in attempts] == ["boom 1", "boom 2", "ok"]
    assert "answered 500" in attempts[0]["error"] and attempts[2]["error"] is None
    assert attempts[0]["nextAttemptAt"] and attempts[2]["nextAttemptAt"] is None
    assert all(a["durationMs"] >= 0 and a["startedAt"] <= a["finishedAt"] for a in attempts)
    request = attempts[0]["request"]
    assert (request["method"], request["url"]) == ("POST", receiver.url + "/flaky")
    assert request["body"] == '{"release": "v1.2.3"}'
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["x-team"] == "ops"
    assert headers["x-auth-token"] == "[redacted]"
    assert headers["x-hub-signature-256"] == "[redacted]"
    assert "do-not-log-me" not in str(shown) and "sign-me-please" not in str(shown)


def test_attempt_bodies_are_bounded(console: ServerProcess, receiver: Receiver):
    receiver.script("/big", Reply(200, b"x" * 20_000))
    hook = forward_hook(console, receiver.url + "/big")
    deliver(console, hook, b'{"pad": "%s"}' % (b"y" * 10_000))
    execution = one_in(console, hook, ("success",))
    with console.client() as c:
        [attempt] = c.get(f"/api/executions/{execution['id']}").json()["execution"]["attemptLog"]
    assert len(attempt["request"]["body"]) == 4096 and attempt["request"]["bodyTruncated"]
    assert attempt["response"]["bodyBytes"] == 20_000 and attempt["response"]["bodyTruncated"]
    assert len(attempt["response"]["body"]) == 4096


def test_filters_narrow_the_list(console: ServerProcess, receiver: Receiver):
    hook = forward_hook(console, receiver.url + "/filters")
    other = forward_hook(console, receiver.url + "/filters-other")
    wanted = deliver(console, hook, event="release")
    deliver(console, hook, event="push")
    deliver(console, other, event="release")
    with console.client() as c:
        finished_executions(c, hook["id"], count=2)
        finished_executions(c, other["id"])

        def ids(**params) -> list[str]:
            answer = c.get("/api/executions", params={"limit": 500, **params})
            assert answer.status_code == 200, answer.text
            ExecutionPage.model_validate(answer.json())
            return [e["hookId"] + ":" + e["deliveryId"] for e in answer.json()["executions"]]

        assert ids(hookId=hook["id"], event="release") == [f"{hook['id']}:{wanted}"]
        assert ids(deliveryId=wanted) == [f"{hook['id']}:{wanted}"]
        assert len(ids(hookId=hook["id"], status=["success", "error"])) == 2
        assert ids(hookId=hook["id"], status="error") == []
        future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        assert ids(hookId=hook["id"], since=future) == []
        assert len(ids(hookId=hook["id"], until=future)) == 2
        bad = c.get("/api/executions", params={"since": "yesterday"})
    assert bad.status_code == 400 and "since must be an ISO 8601 time" in bad.json()["error"]


def test_filters_refuse_a_nul_character(console: ServerProcess):
    body = '{"q": "a\\u0000b", "event": "push"}'
    with console.client() as c:
        answer = c.post(
            "/api/executions/replay", content=body, headers={"Content-Type": "application/json"}
        )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"].startswith("q ")


def test_q_finds_executions_by_words_in_the_body(console: ServerProcess, receiver: Receiver):
    hook = forward_hook(console, receiver.url + "/search")
    word = f"needle{uuid.uuid4().hex[:8]}"
    deliver(console, hook, b'{"ref": "refs/heads/%s", "x": "a \\"quoted\\" word"}' % word.encode())
    deliver(console, hook, b'{"ref": "refs/heads/main"}')
    with console.client() as c:
        finished_executions(c, hook["id"], count=2)

        def found(q: str) -> int:
            answer = c.get("/api/executions", params={"hookId": hook["id"], "q": q})
            assert answer.status_code == 200, answer.text
            return int(answer.json()["total"])

        wait_until(lambda: found("refs heads") == 2, what="both bodies indexed")
        assert found(word) == 1
        assert found(f"heads/{word}") == 1  # words in order
        assert found(f"{word} heads") == 0
        assert found('"quoted" OR *') == 0  # a phrase, never FTS syntax


def test_retry_now_runs_a_retrying_execution_at_once(console: ServerProcess, receiver: Receiver):
    receiver.script("/later", Reply(503, b"busy", AN_HOUR))
    hook = forward_hook(console, receiver.url + "/later")
    deliver(console, hook)
    waiting = one_in(console, hook, ("retrying",))
    assert waiting["nextAttemptAt"] > (datetime.now(UTC) + timedelta(minutes=30)).isoformat()
    with console.client() as c:
        answer = c.post(f"/api/executions/{waiting['id']}/retry")
        assert answer.status_code == 200, answer.text
        assert answer.json()["execution"]["status"] in ("queued", "running", "success")
        done = one_in(console, hook, ("success",))
        again = c.post(f"/api/executions/{done['id']}/retry")
    assert done["id"] == waiting["id"] and done["attempts"] == 2
    assert again.status_code == 409 and "this one is success" in again.json()["error"]


def test_retry_now_gives_a_failed_execution_one_more_attempt(
    console: ServerProcess, receiver: Receiver
):
    receiver.script("/gone", Reply(404, b"nope"))
    hook = forward_hook(console, receiver.url + "/gone")
    deliver(console, hook)
    failed = one_in(console, hook, ("error",))
    with console.client() as c:
        assert c.post(f"/api/executions/{failed['id']}/retry").status_code == 200
        done = one_in(console, hook, ("success",))
    assert done["id"] == failed["id"] and done["attempts"] == 2


def test_cancel_stops_a_retrying_execution(console: ServerProcess, receiver: Receiver):
    receiver.script("/cancel", Reply(503, b"busy", AN_HOUR))
    hook = forward_hook(console, receiver.url + "/cancel")
    deliver(console, hook)
    waiting = one_in(console, hook, ("retrying",))
    with console.client() as c:
        answer = c.post(f"/api/executions/{waiting['id']}/cancel")
        twice = c.post(f"/api/executions/{waiting['id']}/cancel")
        retried = c.post(f"/api/executions/{waiting['id']}/retry")
        listed = c.get("/api/executions", params={"hookId": hook["id"], "status": "cancelled"})
    assert answer.status_code == 200, answer.text
    ExecutionReply.model_validate(answer.json())
    assert answer.json()["execution"]["status"] == "cancelled"
    assert answer.json()["execution"]["finishedAt"]
    assert twice.status_code == 409 and "this one is cancelled" in twice.json()["error"]
    assert retried.status_code == 409
    assert [e["id"] for e in listed.json()["executions"]] == [waiting["id"]]


def test_a_replay_links_to_its_original(console: ServerProcess, receiver: Receiver):
    hook = forward_hook(console, receiver.url + "/replay-one")
    deliver(console, hook)
    original = one_in(console, hook, ("success",))
    with console.client() as c:
        answer = c.post(f"/api/executions/{original['id']}/replay")
        assert answer.status_code == 202, answer.text
        replay = answer.json()["execution"]
        shown = c.get(f"/api/executions/{replay['id']}").json()["execution"]
    assert shown["replayOf"] == original["id"] and shown["source"] == "replay"
    assert original["replayOf"] is None


def skipped_run(server: ServerProcess, receiver: Receiver) -> tuple[dict, dict]:
    """A hook with maxExecutions 1 and two deliveries: (the hook, its skipped execution)."""
    with server.client() as c:
        hook = make_hook(
            c,
            unique_path(),
            action="webhook",
            actionConfig={"webhookUrl": receiver.url + "/once"},
            maxExecutions=1,
        )
    deliver(server, hook)
    deliver(server, hook)
    return hook, one_in(server, hook, ("skipped",))


def test_a_skipped_execution_is_replayed_only_when_forced(
    console: ServerProcess, receiver: Receiver
):
    _, skipped = skipped_run(console, receiver)
    with console.client() as c:
        refused = c.post(f"/api/executions/{skipped['id']}/replay")
        forced = c.post(f"/api/executions/{skipped['id']}/replay", params={"force": "true"})
    assert refused.status_code == 409
    assert "skipped (maxExecutions (1) reached)" in refused.json()["error"]
    assert "force=true" in refused.json()["error"]
    assert forced.status_code == 202


def test_bulk_replay_counts_first_then_queues_the_matches(
    console: ServerProcess, receiver: Receiver
):
    receiver.script("/outage", *[Reply(404, b"down")] * 3)
    hook = forward_hook(console, receiver.url + "/outage")
    for _ in range(3):
        deliver(console, hook)
    with console.client() as c:
        failed = finished_executions(c, hook["id"], count=3, statuses=("error",))
        wanted = {"hookId": hook["id"], "status": ["error"]}
        dry = c.post("/api/executions/replay", json={**wanted, "dryRun": True})
        assert dry.status_code == 200, dry.text
        assert dry.json() == {"count": 3, "executionIds": []}
        ReplayCount.model_validate(dry.json())
        assert c.get("/api/executions", params={"hookId": hook["id"]}).json()["total"] == 3
        done = c.post("/api/executions/replay", json=wanted).json()
        replays = finished_executions(c, hook["id"], count=6, statuses=("success", "error"))
    assert done["count"] == 3 and len(done["executionIds"]) == 3
    by_id = {e["id"]: e for e in replays}
    assert {by_id[i]["replayOf"] for i in done["executionIds"]} == {e["id"] for e in failed}
    assert all(by_id[i]["status"] == "success" for i in done["executionIds"])


def test_bulk_replay_leaves_skipped_executions_unless_asked(
    console: ServerProcess, receiver: Receiver
):
    hook, _ = skipped_run(console, receiver)
    with console.client() as c:
        plain = c.post("/api/executions/replay", json={"hookId": hook["id"], "dryRun": True})
        asked = c.post(
            "/api/executions/replay",
            json={"hookId": hook["id"], "dryRun": True, "includeSkipped": True},
        )
    assert plain.json()["count"] == 1 and asked.json()["count"] == 2


def test_a_delivery_shows_its_executions(console: ServerProcess, receiver: Receiver):
    first = forward_hook(console, receiver.url + "/fan-a")
    path = first["triggerConfig"]["webhookPath"]
    with console.client() as c:
        second = make_hook(
            c, path, action="webhook", actionConfig={"webhookUrl": receiver.url + "/fan-b"}
        )
    delivery = deliver(console, first, b'{"fan": "out"}', event="release")
    execution = one_in(console, first, ("success",))
    one_in(console, second, ("success",))
    with console.client() as c:
        answer = c.get(f"/api/deliveries/{execution['deliveryPk']}")
        stream = c.get("/api/deliveries/stream")
        missing = c.get("/api/deliveries/0123456789abcdef0123456789abcdef")
    assert answer.status_code == 200, answer.text
    OneDelivery.model_validate(answer.json())
    shown = answer.json()["delivery"]
    assert (shown["deliveryId"], shown["eventType"], shown["body"]) == (
        delivery,
        "release",
        '{"fan": "out"}',
    )
    assert {e["hookId"] for e in shown["executions"]} == {first["id"], second["id"]}
    assert "x-hub-signature-256" not in shown["headers"]
    assert stream.status_code != 200 or "delivery" not in stream.json()  # not this route
    assert missing.status_code == 404


def test_another_users_executions_and_deliveries_are_not_found(
    console: ServerProcess, receiver: Receiver
):
    mallory = console.new_user_token(f"mallory-{uuid.uuid4().hex[:6]}")
    receiver.script("/private", Reply(503, b"busy", AN_HOUR))
    hook = forward_hook(console, receiver.url + "/private")
    deliver(console, hook, b'{"secret_word": "private"}')
    execution = one_in(console, hook, ("retrying",))
    with console.client(mallory) as c:
        answers = [
            c.get(f"/api/executions/{execution['id']}"),
            c.post(f"/api/executions/{execution['id']}/retry"),
            c.post(f"/api/executions/{execution['id']}/cancel"),
            c.post(f"/api/executions/{execution['id']}/replay"),
            c.get(f"/api/deliveries/{execution['deliveryPk']}"),
        ]
        listed = c.get("/api/executions", params={"hookId": hook["id"]}).json()
        bulk = c.post("/api/executions/replay", json={"hookId": hook["id"], "dryRun": True})
    assert [a.status_code for a in answers] == [404] * 5
    assert listed["total"] == 0 and bulk.json()["count"] == 0
    with console.client() as c:
        assert c.get(f"/api/executions/{execution['id']}").json()["execution"]["status"] == (
            "retrying"
        )


def test_a_hooks_run_count_includes_deliveries_still_retrying(
    console: ServerProcess, receiver: Receiver
):
    receiver.script("/count", Reply(503, b"busy", AN_HOUR))
    hook = forward_hook(console, receiver.url + "/count")
    deliver(console, hook)
    one_in(console, hook, ("retrying",))
    with console.client() as c:

        def counted() -> bool:
            return c.get(f"/api/hooks/{hook['id']}").json()["hook"]["executionCount"] == 1

        wait_until(counted, what="executionCount 1")


def test_cli_show_retry_cancel_and_replay(console: ServerProcess, receiver: Receiver):
    receiver.script("/cli", Reply(503, b"busy", AN_HOUR), Reply(503, b"busy", AN_HOUR))
    hook = forward_hook(console, receiver.url + "/cli")
    deliver(console, hook)
    deliver(console, hook)
    with console.client() as c:
        first, second = finished_executions(c, hook["id"], count=2, statuses=("retrying",))

    listed = console.cli("executions", "list", "--hook", hook["name"], "--status", "retrying")
    assert first["id"] in listed.stdout and second["id"] in listed.stdout
    shown = console.cli("executions", "show", first["id"]).stdout
    assert "#1" in shown and "503" in shown
    assert "cancelled" in console.cli("executions", "cancel", second["id"]).stdout
    console.cli("executions", "retry", first["id"])
    one_in(console, hook, ("success",))
    dry = console.cli(
        "executions", "replay", "--hook", hook["id"], "--status", "success", "--dry-run"
    )
    assert "1 executions would be replayed" in dry.stdout
    done = console.cli("executions", "replay", "--hook", hook["name"], "--status", "success")
    assert "(1 replayed)" in done.stdout
    bad = console.cli("executions", "list", "--status", "done", check=False)
    assert bad.returncode != 0 and "cancelled" in bad.stderr
    unknown = console.cli("executions", "list", "--hook", "no-such-hook", check=False)
    assert unknown.returncode == 1 and "no hook named or with id 'no-such-hook'" in unknown.stderr


@pytest.mark.postgres
def test_attempts_search_retry_and_cancel_on_postgresql(
    server_factory, pg_database_url: str, receiver: Receiver
):
    env = {
        "OCTIPUS_DATABASE_URL": pg_database_url,
        "OCTIPUS_FORWARD_ALLOW_HOSTS": "127.0.0.1",
        "OCTIPUS_RETRY_BASE_SCALE": "0.001",
    }
    server = server_factory(env=env)
    receiver.script("/pg", Reply(503, b"busy", AN_HOUR))
    hook = forward_hook(server, receiver.url + "/pg")
    word = f"pgneedle{uuid.uuid4().hex[:6]}"
    deliver(server, hook, b'{"w": "%s"}' % word.encode())
    retrying = one_in(server, hook, ("retrying",))
    deliver(server, hook, b'{"w": "other"}')
    with server.client() as c:
        finished_executions(c, hook["id"], statuses=("success",))
        found = c.get("/api/executions", params={"hookId": hook["id"], "q": word}).json()
        retried = c.post(f"/api/executions/{retrying['id']}/retry")

        def succeeded() -> dict | None:
            shown = c.get(f"/api/executions/{retrying['id']}").json()["execution"]
            return shown if shown["status"] == "success" else None

        shown = wait_until(succeeded, what="the retried execution to succeed")
    assert [e["id"] for e in found["executions"]] == [retrying["id"]]
    assert retried.status_code == 200
    assert [a["outcome"] for a in shown["attemptLog"]] == ["retrying", "success"]
    assert [a["response"]["status"] for a in shown["attemptLog"]] == [503, 200]
