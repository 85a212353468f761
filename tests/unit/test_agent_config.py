"""spawn_agent configuration: model choice, save-time validation, topics, offline runs, tools."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from octipus.actions.agent import DEFAULT_AGENT_PROMPT, AgentAction
from octipus.actions.base import ConfigError
from octipus.actions.tool import ToolAction
from octipus.agents.models import ModelConfigError, check_model_name, choose_model
from octipus.agents.orchestrator import classify_by_keywords, topic_from_answer
from octipus.agents.summariser import summarise
from octipus.agents.toolbox import selected_actions, tool_names
from octipus.config import Settings
from octipus.runtime import Runtime
from octipus.tools.base import ToolContext
from tests.support.action_context import make_context, make_owner, make_runtime
from tests.support.signing import fixture_bytes


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    rt = make_runtime(tmp_path)
    yield rt
    await rt.close()


def settings(**values: object) -> Settings:
    return Settings(**values)  # type: ignore[arg-type]


def test_hook_model_beats_topic_model_beats_default() -> None:
    config = settings(agent_model="openai:base", agent_topic_models={"devops": "ollama:ops"})

    assert choose_model(config, ["devops"], "anthropic:hook") == "anthropic:hook"
    assert choose_model(config, ["devops"], None) == "ollama:ops"
    assert choose_model(config, ["other", "devops"], None) == "ollama:ops"
    assert choose_model(config, ["other"], None) == "openai:base"


def test_no_model_configured_means_the_builtin_summariser() -> None:
    assert choose_model(settings(agent_model=None), ["devops"], None) == "builtin:summary"


def test_topic_models_are_read_as_json_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OCTIPUS_AGENT_TOPIC_MODELS", '{"devops": "ollama:llama3.2"}')

    assert choose_model(Settings(), ["devops"], None) == "ollama:llama3.2"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("gpt-4o-mini", "no provider prefix"),
        ("nosuch:model", "unknown model provider"),
        ("openai:", "names no model"),
        ("google-gla:gemini-2.5-flash", "pydantic-ai-slim[google]"),
    ],
)
def test_unusable_model_names_are_explained(name: str, message: str) -> None:
    with pytest.raises(ModelConfigError, match=message.replace("[", r"\[")):
        check_model_name(name, settings())


@pytest.mark.parametrize("name", ["openai:gpt-4o-mini", "anthropic:claude-x", "ollama:llama3.2"])
def test_provider_model_names_are_accepted(name: str) -> None:
    check_model_name(name, settings())


def test_bare_model_name_is_accepted_with_a_base_url() -> None:
    check_model_name("llama3.2", settings(agent_base_url="http://127.0.0.1:8000/v1"))


SEED_SPAWN_AGENT = [
    {
        "agentPrompt": "A GitHub webhook event was received. "
        "Analyze the payload and produce a concise summary.",
        "agentTopic": "communication",
        "orchestrated": False,
        "notifyOwner": True,
    },
    {
        "agentPrompt": "Analyze this deployment event and summarize.",
        "agentTopic": "devops",
        "orchestrated": False,
        "notifyOwner": True,
    },
]


@pytest.mark.parametrize("config", SEED_SPAWN_AGENT)
async def test_seed_spawn_agent_configs_validate(runtime: Runtime, config: dict) -> None:
    normalised = await AgentAction().validate(config, make_owner(admin=False), runtime)

    assert {k: normalised[k] for k in config} == config


async def test_seed_execute_tool_config_validates_for_an_admin(runtime: Runtime) -> None:
    config = {
        "toolId": "shell",
        "toolAction": "execute",
        "toolParams": {"command": "cd /app && git pull origin main"},
    }

    assert await ToolAction().validate(config, make_owner(), runtime) == config


async def test_agent_defaults_are_filled_in(runtime: Runtime) -> None:
    normalised = await AgentAction().validate({}, make_owner(), runtime)

    assert normalised["agentPrompt"] == DEFAULT_AGENT_PROMPT
    assert normalised["orchestrated"] is False
    assert normalised["notifyOwner"] is False


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"agentModel": "nosuch:model"}, "agentModel"),
        ({"orchestrated": "yes"}, "orchestrated"),
        ({"notifyOwner": 1}, "notifyOwner"),
        ({"agentPrompt": ""}, "agentPrompt"),
        ({"agentTools": ["shell.rm"]}, "agentTools"),
        ({"agentTools": "http.request"}, "agentTools"),
    ],
)
async def test_invalid_agent_config_names_the_field(
    runtime: Runtime, config: dict, field: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        await AgentAction().validate(config, make_owner(), runtime)

    assert caught.value.field == field


async def test_shell_in_agent_tools_is_refused_for_a_non_admin(runtime: Runtime) -> None:
    with pytest.raises(ConfigError, match="admin"):
        await AgentAction().validate(
            {"orchestrated": True, "agentTools": ["shell.run"]}, make_owner(admin=False), runtime
        )


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"toolId": "ftp", "toolAction": "get"}, "toolId"),
        ({"toolId": "shell", "toolAction": "sudo"}, "toolAction"),
        ({"toolAction": "execute"}, "toolId"),
        ({"toolId": "http", "toolAction": "request", "toolParams": {"uri": "x"}}, "toolParams"),
        ({"toolId": "http", "toolAction": "request", "toolParams": "GET /"}, "toolParams"),
    ],
)
async def test_unknown_tool_or_bad_params_are_rejected_at_save_time(
    runtime: Runtime, config: dict, field: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        await ToolAction().validate(config, make_owner(), runtime)

    assert caught.value.field == field


@pytest.mark.parametrize(
    ("provider", "name", "event", "topic"),
    [
        ("github", "workflow_run.completed", "workflow_run", "devops"),
        ("github", "check_run.completed", "check_run", "devops"),
        ("github", "pull_request.opened", "pull_request", "code-review"),
        ("github", "issue_comment.created", "issue_comment", "issues"),
        ("github", "star.created", "star", "communication"),
        ("gitlab", "pipeline", "Pipeline Hook", "devops"),
    ],
)
def test_keyword_classifier_picks_the_topic(
    provider: str, name: str, event: str, topic: str
) -> None:
    body = orjson.loads(fixture_bytes(provider, name))

    assert classify_by_keywords(event, body, None) == topic


def test_keyword_classifier_knows_stripe_and_falls_back_to_communication() -> None:
    stripe = {"type": "invoice.payment_failed", "object": "event", "data": {}}

    assert classify_by_keywords("invoice.payment_failed", stripe, None) == "payments"
    assert classify_by_keywords(None, {"hello": "world"}, None) == "communication"
    assert classify_by_keywords(None, {"hello": "world"}, "security") == "security"


def test_model_answer_is_read_for_a_topic_name() -> None:
    assert topic_from_answer("Topic: devops.") == "devops"
    assert topic_from_answer("I am not sure") is None


async def test_without_a_model_the_agent_writes_the_builtin_summary(runtime: Runtime) -> None:
    body = orjson.loads(fixture_bytes("github", "issues.opened"))
    ctx = make_context(runtime, "spawn_agent", {"agentPrompt": "Hi"}, body=body, event="issues")

    result = await AgentAction().run(ctx)

    assert result["model"] == "builtin:summary"
    assert result["output"] == summarise("issues", body)
    assert result["usage"]["totalTokens"] == 0


async def test_offline_orchestration_classifies_by_keywords_and_calls_no_tools(
    runtime: Runtime,
) -> None:
    body = orjson.loads(fixture_bytes("github", "workflow_run.completed"))
    config = {"agentPrompt": "Act", "orchestrated": True}
    ctx = make_context(runtime, "spawn_agent", config, body=body, event="workflow_run")

    result = await AgentAction().run(ctx)

    assert result["classification"] == {
        "topic": "devops",
        "role": "DevOps engineer",
        "method": "keywords",
    }
    assert result["model"] == "builtin:summary"
    assert result["toolCalls"] == []


def _names(runtime: Runtime, admin: bool, allowed: list[str] | None) -> set[str]:
    ctx = ToolContext(runtime, make_owner(admin=admin))
    return {
        name for tool, spec in selected_actions(ctx, allowed) for name in tool_names(tool, spec)
    }


def test_agents_get_shell_only_when_the_hook_lists_it(runtime: Runtime) -> None:
    assert _names(runtime, True, None) == {"http.request", "messaging.send_to_owner"}
    assert _names(runtime, True, ["shell.run"]) == {"shell.run", "shell.execute"}
    assert _names(runtime, False, ["shell.run", "http.request"]) == {"http.request"}
