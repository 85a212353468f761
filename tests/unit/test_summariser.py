"""The offline summariser on every shared GitHub/GitLab fixture, plus Stripe and unknown events."""

from __future__ import annotations

import orjson
import pytest

from octipus.agents.summariser import summarise
from tests.support.signing import FIXTURES, fixture_bytes

# fixture -> (event header value, facts the summary must state)
EXPECTED: dict[tuple[str, str], tuple[str, list[str]]] = {
    ("github", "check_run.completed"): (
        "check_run",
        ["Codertocat/Hello-World", "Codertocat", "“Octocoders-linter” completed", "success",
         "ec26c3e", "#2", "https://github.com/Codertocat/Hello-World/runs/128620228"],
    ),
    ("github", "issue_comment.created"): (
        "issue_comment",
        ["Codertocat commented on issue #1", "Spelling error in the README file",
         "Codertocat/Hello-World", "You are totally right!",
         "https://github.com/Codertocat/Hello-World/issues/1#issuecomment-492700400"],
    ),
    ("github", "issues.opened"): (
        "issues",
        ["Codertocat opened issue #1", "Spelling error in the README file",
         "Codertocat/Hello-World", "Labels: bug",
         "https://github.com/Codertocat/Hello-World/issues/1"],
    ),
    ("github", "ping"): (
        "ping",
        ["ping", "webhook 109948940", "Octocoders/Hello-World"],
    ),
    ("github", "pull_request.closed"): (
        "pull_request",
        ["Codertocat closed pull request #2", "without merging",
         "Update the README with new information.", "Codertocat/Hello-World", "changes → master",
         "https://github.com/Codertocat/Hello-World/pull/2"],
    ),
    ("github", "pull_request.opened"): (
        "pull_request",
        ["Codertocat opened pull request #2", "Update the README with new information.",
         "Codertocat/Hello-World", "changes → master", "+1/−1 in 1 file",
         "https://github.com/Codertocat/Hello-World/pull/2"],
    ),
    ("github", "push"): (
        "push",
        ["Codertocat deleted tag simple-tag in Codertocat/Hello-World",
         "https://github.com/Codertocat/Hello-World/compare/"],
    ),
    ("github", "release.published"): (
        "release",
        ["Codertocat published release 0.0.1 of Codertocat/Hello-World",
         "https://github.com/Codertocat/Hello-World/releases/tag/0.0.1"],
    ),
    ("github", "star.created"): (
        "star",
        ["Codertocat starred Codertocat/Hello-World", "now 1 star",
         "https://github.com/Codertocat/Hello-World"],
    ),
    ("github", "workflow_run.completed"): (
        "workflow_run",
        ["Workflow “test” run #163", "octo-org/octo-repo", "completed", "conclusion success",
         "branch master", "Codertocat", "https://github.com/octo-org/octo-repo/actions/runs/289782451"],
    ),
    ("gitlab", "push"): (
        "Push Hook",
        ["John Smith (jsmith) pushed 4 commits to branch master of mike/diaspora",
         "Update Catalan translation to e38cb41.", "b6568db", "and 2 more",
         "http://example.com/mike/diaspora"],
    ),
    ("gitlab", "pipeline"): (
        "Pipeline Hook",
        ["Pipeline #31 for branch master", "gitlab-org/gitlab-test", "status success",
         "Administrator (root)", "Merge request !1", "test-build failed",
         "http://example.com/gitlab-org/gitlab-test/-/pipelines/31"],
    ),
}  # fmt: skip


def all_fixtures() -> list[tuple[str, str]]:
    return sorted(
        (path.parent.name, path.name.removesuffix(".payload.json"))
        for path in FIXTURES.glob("*/*.payload.json")
    )


def test_every_shared_fixture_has_expected_facts() -> None:
    assert all_fixtures() == sorted(EXPECTED)


@pytest.mark.parametrize(("provider", "name"), sorted(EXPECTED))
def test_summary_states_the_key_facts(provider: str, name: str) -> None:
    event, facts = EXPECTED[provider, name]
    summary = summarise(event, orjson.loads(fixture_bytes(provider, name)))

    for fact in facts:
        assert fact in summary, f"{fact!r} missing from: {summary}"


@pytest.mark.parametrize(("provider", "name"), sorted(EXPECTED))
def test_summary_is_one_paragraph(provider: str, name: str) -> None:
    event, _ = EXPECTED[provider, name]
    summary = summarise(event, orjson.loads(fixture_bytes(provider, name)))

    assert "\n" not in summary
    assert 40 < len(summary) < 800


@pytest.mark.parametrize(("provider", "name"), sorted(EXPECTED))
def test_event_is_recognised_without_its_header(provider: str, name: str) -> None:
    event, _ = EXPECTED[provider, name]
    body = orjson.loads(fixture_bytes(provider, name))

    assert summarise(None, body) == summarise(event, body)


def test_stripe_event_summary_states_type_amount_and_customer() -> None:
    body = {
        "id": "evt_1Nx",
        "object": "event",
        "type": "invoice.payment_failed",
        "livemode": False,
        "data": {
            "object": {
                "id": "in_1Nx",
                "object": "invoice",
                "amount_due": 2500,
                "currency": "eur",
                "customer": "cus_9",
                "customer_email": "ada@example.com",
                "status": "open",
            }
        },
    }

    summary = summarise("invoice.payment_failed", body)

    for fact in (
        "invoice.payment_failed",
        "evt_1Nx",
        "invoice in_1Nx",
        "25.00 EUR",
        "ada@example.com",
        "test-mode",
        "https://dashboard.stripe.com/test/events/evt_1Nx",
    ):
        assert fact in summary, summary  # fmt: skip


def test_zero_decimal_currency_is_not_divided() -> None:
    body = {
        "id": "evt_2",
        "object": "event",
        "type": "charge.succeeded",
        "livemode": True,
        "data": {"object": {"id": "ch_1", "object": "charge", "amount": 500, "currency": "jpy"}},
    }

    assert "500 JPY" in summarise(None, body)


def test_gitlab_merge_request_summary() -> None:
    body = {
        "object_kind": "merge_request",
        "user": {"name": "Ada", "username": "ada"},
        "project": {"path_with_namespace": "grp/app"},
        "object_attributes": {
            "iid": 7,
            "title": "Add cache",
            "action": "merge",
            "source_branch": "cache",
            "target_branch": "main",
            "url": "https://gitlab.example/grp/app/-/merge_requests/7",
        },
    }

    summary = summarise("Merge Request Hook", body)

    assert "Ada (ada) merged merge request !7 “Add cache” in grp/app (cache → main)" in summary
    assert "https://gitlab.example/grp/app/-/merge_requests/7" in summary


def test_unknown_json_event_lists_its_fields() -> None:
    summary = summarise("deploy", {"event": "deploy", "status": "success"})

    assert summary == "Received a deploy webhook with fields: event, status."


def test_text_body_is_quoted() -> None:
    assert "“disk almost full”" in summarise(None, "disk almost full\nmore detail")
