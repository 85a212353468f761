"""The embedded default when no model is configured: a factual one-paragraph event summary.

Not an LLM: it reads the fields that matter for GitHub, GitLab and Stripe events (repository,
actor, what happened, number or ref, link) and writes them as plain sentences. Results carry
`model: "builtin:summary"` so nobody mistakes it for a language model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from octipus.hooks.templates import resolve

BUILTIN_MODEL = "builtin:summary"
ZERO_DECIMAL_CURRENCIES = frozenset({"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga"})
ZERO_DECIMAL_CURRENCIES |= frozenset({"pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"})
MAX_LISTED = 3

Body = Mapping[str, Any]


def _get(body: Any, path: str) -> Any:
    return resolve(body, path)


def _line(text: Any, limit: int = 100) -> str:
    """First line of a text, cut to `limit` characters."""
    first = str(text or "").strip().splitlines()[0] if str(text or "").strip() else ""
    return first if len(first) <= limit else first[: limit - 1] + "…"


def _quoted(text: Any, limit: int = 100) -> str:
    line = _line(text, limit)
    return f"“{line}”" if line else ""


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _ref(ref: Any) -> str:
    """`refs/heads/main` → `branch main`, `refs/tags/v1` → `tag v1`."""
    text = str(ref or "")
    for prefix, kind in (("refs/heads/", "branch"), ("refs/tags/", "tag")):
        if text.startswith(prefix):
            return f"{kind} {text[len(prefix) :]}"
    return f"ref {text}" if text else "an unknown ref"


def _join(*parts: str) -> str:
    """Sentences from non-empty parts, each ending with a full stop (not after a URL or quote)."""
    out = []
    for part in parts:
        part = part.strip()
        if not part:
            continue
        ends_sentence = part.endswith((".", "!", "?", ".”", "!”", "?”"))
        ends_with_url = "://" in part.rsplit(" ", 1)[-1]
        out.append(part if ends_sentence or ends_with_url else part + ".")
    return " ".join(out)


def _link(url: Any) -> str:
    return f"Link: {url}" if url else ""


def _listed(items: list[str], total: int | None = None) -> str:
    total = len(items) if total is None else total
    shown = ", ".join(items[:MAX_LISTED])
    more = total - min(len(items), MAX_LISTED)
    return f"{shown} and {more} more" if more > 0 else shown


# GitHub ---------------------------------------------------------------------------------


def _gh_repo(body: Body) -> str:
    return str(_get(body, "repository.full_name") or "an unknown repository")


def _gh_actor(body: Body) -> str:
    return str(_get(body, "sender.login") or _get(body, "pusher.name") or "someone")


def _gh_labels(item: Any) -> str:
    names = [str(label.get("name")) for label in (item or {}).get("labels") or [] if label]
    return f"Labels: {', '.join(names)}" if names else ""


def _gh_push(body: Body) -> str:
    actor = str(_get(body, "pusher.name") or _gh_actor(body))
    repo, ref = _gh_repo(body), _ref(body.get("ref"))
    commits = body.get("commits") or []
    if body.get("deleted"):
        what = f"{actor} deleted {ref} in {repo}"
    elif body.get("created"):
        what = f"{actor} created {ref} in {repo}"
        if commits:
            what += f" with {_plural(len(commits), 'commit')}"
    else:
        verb = "force-pushed" if body.get("forced") else "pushed"
        what = f"{actor} {verb} {_plural(len(commits), 'commit')} to {ref} of {repo}"
    listed = [f"{_quoted(c.get('message'), 72)} ({str(c.get('id', ''))[:7]})" for c in commits]
    detail = f"Commits: {_listed(listed)}" if listed else ""
    return _join(what, detail, f"Compare: {body['compare']}" if body.get("compare") else "")


def _gh_pull_request(body: Body) -> str:
    pr = body.get("pull_request") or {}
    action, unmerged = str(body.get("action") or "updated"), ""
    if action == "closed":
        action = "merged" if pr.get("merged") else "closed"
        unmerged = "" if pr.get("merged") else " without merging"
    number = pr.get("number", body.get("number"))
    what = (
        f"{_gh_actor(body)} {action} pull request #{number} {_quoted(pr.get('title'))} "
        f"in {_gh_repo(body)}{unmerged}"
    )
    head, base = _get(pr, "head.ref"), _get(pr, "base.ref")
    if head and base:
        what += f" ({head} → {base})"
    size = ""
    if pr.get("changed_files") is not None:
        size = (
            f"+{pr.get('additions', 0)}/−{pr.get('deletions', 0)} in "
            f"{_plural(int(pr['changed_files']), 'file')}"
        )
    return _join(what, size, _gh_labels(pr), _link(pr.get("html_url")))


def _gh_issues(body: Body) -> str:
    issue = body.get("issue") or {}
    what = (
        f"{_gh_actor(body)} {body.get('action') or 'updated'} issue #{issue.get('number')} "
        f"{_quoted(issue.get('title'))} in {_gh_repo(body)}"
    )
    return _join(what, _gh_labels(issue), _link(issue.get("html_url")))


def _gh_issue_comment(body: Body) -> str:
    issue, comment = body.get("issue") or {}, body.get("comment") or {}
    kind = "pull request" if issue.get("pull_request") else "issue"
    verb = {"created": "commented on", "edited": "edited a comment on"}.get(
        str(body.get("action")), f"{body.get('action')} a comment on"
    )
    what = (
        f"{_gh_actor(body)} {verb} {kind} #{issue.get('number')} {_quoted(issue.get('title'))} "
        f"in {_gh_repo(body)}"
    )
    said = f"Comment: {_quoted(comment.get('body'), 200)}" if comment.get("body") else ""
    return _join(what, said, _link(comment.get("html_url") or issue.get("html_url")))


def _gh_release(body: Body) -> str:
    release = body.get("release") or {}
    tag, name = release.get("tag_name"), release.get("name")
    label = f"{tag} ({name})" if name and name != tag else str(tag)
    flags = [f for f in ("draft", "prerelease") if release.get(f)]
    what = (
        f"{_gh_actor(body)} {body.get('action') or 'updated'} release {label} of {_gh_repo(body)}"
    )
    if flags:
        what += f" ({', '.join(flags)})"
    return _join(what, _link(release.get("html_url")))


def _gh_workflow_run(body: Body) -> str:
    run = body.get("workflow_run") or {}
    name = run.get("name") or _get(body, "workflow.name") or "workflow"
    outcome = run.get("conclusion") or run.get("status") or "unknown"
    actor = _get(run, "triggering_actor.login") or _get(run, "actor.login") or _gh_actor(body)
    what = (
        f"Workflow “{name}” run #{run.get('run_number')} in {_gh_repo(body)} "
        f"{body.get('action') or run.get('status')} with conclusion {outcome} "
        f"on branch {run.get('head_branch')} (commit {str(run.get('head_sha', ''))[:7]})"
    )
    trigger = f"Triggered by {actor} via {run.get('event')}" if run.get("event") else ""
    title = f"Title: {_quoted(run.get('display_title'))}" if run.get("display_title") else ""
    return _join(what, trigger, title, _link(run.get("html_url")))


def _gh_check_run(body: Body) -> str:
    check = body.get("check_run") or {}
    outcome = check.get("conclusion") or check.get("status") or "unknown"
    what = (
        f"Check run “{check.get('name')}” {body.get('action') or check.get('status')} with "
        f"conclusion {outcome} on commit {str(check.get('head_sha', ''))[:7]} in {_gh_repo(body)}"
    )
    prs = [f"#{pr.get('number')}" for pr in check.get("pull_requests") or []]
    related = f"Pull requests: {_listed(prs)}" if prs else ""
    return _join(what, related, f"Sender: {_gh_actor(body)}", _link(check.get("html_url")))


def _gh_star(body: Body) -> str:
    verb = "starred" if body.get("action") == "created" else "unstarred"
    count = _get(body, "repository.stargazers_count")
    total = f" (now {_plural(int(count), 'star')})" if isinstance(count, int) else ""
    return _join(
        f"{_gh_actor(body)} {verb} {_gh_repo(body)}{total}",
        _link(_get(body, "repository.html_url")),
    )


def _gh_ping(body: Body) -> str:
    events = _get(body, "hook.events") or []
    target = _get(body, "repository.full_name") or _get(body, "organization.login") or "GitHub"
    what = f"GitHub sent a ping for webhook {body.get('hook_id')} on {target}"
    return _join(
        what,
        f"Subscribed events: {', '.join(map(str, events))}" if events else "",
        f"Zen: {_quoted(body.get('zen'))}" if body.get("zen") else "",
    )


def _gh_generic(event: str, body: Body) -> str:
    action = f" ({body['action']})" if body.get("action") else ""
    url = next(
        (v.get("html_url") for v in body.values() if isinstance(v, Mapping) and v.get("html_url")),
        None,
    )
    what = f"{_gh_actor(body)} triggered a GitHub {event}{action} event on {_gh_repo(body)}"
    return _join(what, _link(url))


GITHUB: dict[str, Callable[[Body], str]] = {
    "push": _gh_push,
    "pull_request": _gh_pull_request,
    "issues": _gh_issues,
    "issue_comment": _gh_issue_comment,
    "release": _gh_release,
    "workflow_run": _gh_workflow_run,
    "check_run": _gh_check_run,
    "star": _gh_star,
    "ping": _gh_ping,
}

# Body shapes that identify a GitHub event when the X-GitHub-Event header is absent.
GITHUB_SHAPES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ping", ("zen", "hook_id")),
    ("pull_request", ("pull_request",)),
    ("issue_comment", ("issue", "comment")),
    ("issues", ("issue",)),
    ("release", ("release",)),
    ("workflow_run", ("workflow_run",)),
    ("check_run", ("check_run",)),
    ("star", ("starred_at",)),
    ("push", ("pusher", "ref")),
)


def _github_event(event: str | None, body: Body) -> str | None:
    if event:
        return event
    return next((name for name, keys in GITHUB_SHAPES if all(k in body for k in keys)), None)


# GitLab ---------------------------------------------------------------------------------


def _gl_project(body: Body) -> str:
    return str(
        _get(body, "project.path_with_namespace") or _get(body, "project.name") or "a project"
    )


def _gl_user(body: Body) -> str:
    name = body.get("user_name") or _get(body, "user.name")
    username = body.get("user_username") or _get(body, "user.username")
    if name and username:
        return f"{name} ({username})"
    return str(name or username or "someone")


def _gl_push(body: Body) -> str:
    commits = body.get("commits") or []
    total = int(body.get("total_commits_count") or len(commits))
    ref = _ref(body.get("ref"))
    if str(body.get("after", "")).strip("0") == "":
        what = f"{_gl_user(body)} deleted {ref} in {_gl_project(body)}"
    else:
        what = f"{_gl_user(body)} pushed {_plural(total, 'commit')} to {ref} of {_gl_project(body)}"
    listed = [
        f"{_quoted(c.get('title') or c.get('message'), 72)} ({str(c.get('id', ''))[:7]})"
        for c in commits
    ]
    detail = f"Commits: {_listed(listed, total)}" if listed else ""
    return _join(what, detail, _link(_get(body, "project.web_url")))


def _gl_merge_request(body: Body) -> str:
    mr = body.get("object_attributes") or {}
    action = {"open": "opened", "close": "closed", "merge": "merged", "reopen": "reopened"}.get(
        str(mr.get("action")), str(mr.get("action") or mr.get("state") or "updated")
    )
    what = (
        f"{_gl_user(body)} {action} merge request !{mr.get('iid')} {_quoted(mr.get('title'))} "
        f"in {_gl_project(body)} ({mr.get('source_branch')} → {mr.get('target_branch')})"
    )
    return _join(what, _link(mr.get("url")))


def _gl_pipeline(body: Body) -> str:
    pipeline = body.get("object_attributes") or {}
    status = pipeline.get("status") or "unknown"
    what = (
        f"Pipeline #{pipeline.get('id')} for {'tag' if pipeline.get('tag') else 'branch'} "
        f"{pipeline.get('ref')} (commit {str(pipeline.get('sha', ''))[:7]}) in "
        f"{_gl_project(body)} finished with status {status}"
    )
    if pipeline.get("duration"):
        what += f" after {pipeline['duration']} s"
    mr = body.get("merge_request") or {}
    context = f"Merge request !{mr.get('iid')} {_quoted(mr.get('title'))}" if mr else ""
    builds = [f"{b.get('name')} {b.get('status')}" for b in body.get("builds") or []]
    jobs = f"Jobs: {_listed(builds)}" if builds else ""
    return _join(what, f"Triggered by {_gl_user(body)}", context, jobs, _link(pipeline.get("url")))


def _gl_issue(body: Body) -> str:
    issue = body.get("object_attributes") or {}
    action = issue.get("action") or issue.get("state") or "updated"
    what = (
        f"{_gl_user(body)} {action} issue #{issue.get('iid')} {_quoted(issue.get('title'))} "
        f"in {_gl_project(body)}"
    )
    return _join(what, _link(issue.get("url")))


def _gl_note(body: Body) -> str:
    note = body.get("object_attributes") or {}
    target = str(note.get("noteable_type") or "item")
    what = f"{_gl_user(body)} commented on a {target} in {_gl_project(body)}"
    return _join(what, f"Comment: {_quoted(note.get('note'), 200)}", _link(note.get("url")))


def _gl_generic(body: Body) -> str:
    return _join(
        f"{_gl_user(body)} triggered a GitLab {body.get('object_kind')} event in "
        f"{_gl_project(body)}",
        _link(_get(body, "project.web_url")),
    )


GITLAB: dict[str, Callable[[Body], str]] = {
    "push": _gl_push,
    "tag_push": _gl_push,
    "merge_request": _gl_merge_request,
    "pipeline": _gl_pipeline,
    "issue": _gl_issue,
    "note": _gl_note,
}


# Stripe ---------------------------------------------------------------------------------


def _money(amount: Any, currency: Any) -> str:
    if not isinstance(amount, int) or not currency:
        return ""
    code = str(currency).lower()
    value = str(amount) if code in ZERO_DECIMAL_CURRENCIES else f"{amount / 100:.2f}"
    return f"{value} {code.upper()}"


def _stripe(body: Body) -> str:
    obj = _get(body, "data.object") or {}
    mode = "live" if body.get("livemode") else "test"
    kind = str(obj.get("object") or "object").replace("_", " ")
    amount = next(
        (obj[k] for k in ("amount", "amount_total", "amount_due", "amount_paid") if k in obj), None
    )
    money = _money(amount, obj.get("currency"))
    customer = (
        obj.get("customer_email") or _get(obj, "billing_details.email") or obj.get("customer")
    )
    what = (
        f"Stripe {mode}-mode event {body.get('type')} ({body.get('id')}) for {kind} {obj.get('id')}"
    )
    dashboard = "https://dashboard.stripe.com/" + ("" if mode == "live" else "test/")
    return _join(
        what,
        f"Amount: {money}" if money else "",
        f"Customer: {customer}" if customer else "",
        f"Status: {obj['status']}" if obj.get("status") else "",
        _link(f"{dashboard}events/{body.get('id')}") if body.get("id") else "",
    )


def _is_stripe(body: Body) -> bool:
    return (
        body.get("object") == "event" and "type" in body and isinstance(body.get("data"), Mapping)
    )


# Anything else --------------------------------------------------------------------------


def _generic(event: str | None, body: Any) -> str:
    what = f"Received a {event} webhook" if event else "Received a webhook"
    if isinstance(body, Mapping):
        fields = [str(k) for k in body][:8]
        more = f" and {len(body) - 8} more" if len(body) > 8 else ""
        return _join(f"{what} with fields: {', '.join(fields)}{more}" if fields else what)
    if isinstance(body, str) and body.strip():
        return _join(f"{what} with a text body: {_quoted(body, 200)}")
    return _join(f"{what} with an empty body")


def summarise(event: str | None, body: Any) -> str:
    """One factual paragraph about the event (GitHub, GitLab and Stripe aware)."""
    if not isinstance(body, Mapping):
        return _generic(event, body)
    if "object_kind" in body:
        handler = GITLAB.get(str(body["object_kind"]))
        return handler(body) if handler else _gl_generic(body)
    if _is_stripe(body):
        return _stripe(body)
    github_event = _github_event(event, body)
    if github_event and ("repository" in body or "sender" in body or github_event == "ping"):
        handler = GITHUB.get(github_event)
        return handler(body) if handler else _gh_generic(github_event, body)
    return _generic(event, body)
