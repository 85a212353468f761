"""Singletons on one node: the Telegram poller runs on the leader only, and fails over."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support.channels import CODE, channel_env, new_chat_id
from tests.support.cluster import API_ONLY, SERVE, WORKER, start_nodes
from tests.support.fake_telegram import FakeTelegram
from tests.support.server import ServerProcess
from tests.support.waiting import wait_until

pytestmark = pytest.mark.postgres

ELECTED = "elected leader"


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def nodes(
    server_factory: Callable[..., ServerProcess], pg_database_url: str, telegram: FakeTelegram
) -> list[ServerProcess]:
    """`serve`, `serve --no-worker` and `worker` on one database, Telegram in polling mode."""
    env = channel_env(
        telegram, None, OCTIPUS_DATABASE_URL=pg_database_url, OCTIPUS_TELEGRAM_MODE="polling"
    )
    return start_nodes(server_factory, env, [SERVE, API_ONLY, WORKER])


def leaders(nodes: list[ServerProcess]) -> list[ServerProcess]:
    return [n for n in nodes if ELECTED in n.logs()]


def link_replies(telegram: FakeTelegram, chat: int) -> list[str]:
    return [text for text in telegram.sent(chat) if CODE.search(text)]


def test_one_telegram_poller_across_three_processes_answers_link_once(
    nodes: list[ServerProcess], telegram: FakeTelegram
):
    wait_until(lambda: telegram.calls("getUpdates"), what="the leader's first getUpdates")
    chat, sentinel = new_chat_id(), new_chat_id()
    telegram.push_message(chat, "/link")
    wait_until(lambda: telegram.sent(chat), what="the answer to /link")
    telegram.push_message(sentinel, "/link")  # answered after the first by every poller
    wait_until(lambda: telegram.sent(sentinel), what="the answer to the second /link")

    assert len(link_replies(telegram, chat)) == 1
    assert telegram.most_polls == 1
    assert len(leaders(nodes)) == 1


def test_when_the_leader_dies_another_node_takes_over_the_poller(
    nodes: list[ServerProcess], telegram: FakeTelegram
):
    (leader,) = wait_until(lambda: leaders(nodes), what="a leader")
    leader.kill()

    others = [n for n in nodes if n is not leader]
    wait_until(lambda: leaders(others), timeout=15, what="another node elected")
    chat = new_chat_id()
    telegram.push_message(chat, "/link")
    wait_until(lambda: telegram.sent(chat), what="the new leader's answer to /link")
    assert len(link_replies(telegram, chat)) == 1
