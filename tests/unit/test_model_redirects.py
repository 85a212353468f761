"""Model clients follow no redirects: an operator's model server answering 3xx cannot send a
request (with the API key) to another address."""

from __future__ import annotations

import pytest
from pydantic_ai import Agent

from octipus.agents.models import build_model
from octipus.config import Settings
from tests.support.receiver import Receiver, Reply


@pytest.mark.parametrize("model", ["openai:gpt-test", "ollama:llama-test", "bare-model"])
async def test_a_redirect_from_the_model_server_is_not_followed(model: str):
    with Receiver() as server, Receiver() as elsewhere:
        server.default = Reply(307, b"", {"Location": f"{elsewhere.url}/v1/chat/completions"})
        settings = Settings(agent_base_url=f"{server.url}/v1", agent_api_key="sk-test")
        with pytest.raises(Exception, match="307"):
            await Agent(build_model(model, settings)).run("hello")
        assert len(server.requests()) == 1
        assert elsewhere.requests() == []
