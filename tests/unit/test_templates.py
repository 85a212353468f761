from octipus.hooks.templates import render, render_value

CTX = {
    "webhook": {
        "event": "push",
        "headers": {"x-github-event": "push"},
        "body": {
            "repository": {"full_name": "o/r"},
            "commits": [{"id": "abc"}],
            "n": 3,
            "ok": True,
        },
    },
    "hook": {"id": "h1", "name": "Deploy"},
}


def test_dot_paths_resolve_into_the_context():
    assert (
        render("{{webhook.event}} on {{ webhook.body.repository.full_name }}", CTX) == "push on o/r"
    )


def test_header_names_with_dashes_and_list_indexes_work():
    assert (
        render("{{webhook.headers.x-github-event}} {{webhook.body.commits.0.id}}", CTX)
        == "push abc"
    )


def test_objects_render_as_json_and_scalars_as_text():
    assert render("{{webhook.body.commits}}|{{webhook.body.n}}|{{webhook.body.ok}}", CTX) == (
        '[{"id":"abc"}]|3|true'
    )


def test_unresolved_placeholders_are_left_as_written():
    assert render("x {{webhook.body.missing}} y", CTX) == "x {{webhook.body.missing}} y"


def test_render_value_walks_nested_structures():
    assert render_value({"a": ["{{hook.name}}", 1], "b": "{{hook.id}}"}, CTX) == {
        "a": ["Deploy", 1],
        "b": "h1",
    }
