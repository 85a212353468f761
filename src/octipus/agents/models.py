"""Which model an agent run uses, and how a model string becomes a pydantic-ai model.

Model strings are `provider:model` (`openai:gpt-4o-mini`, `anthropic:claude-sonnet-4-5`,
`google-gla:gemini-2.5-flash`, `ollama:llama3.2`), or a bare model name served by the
OpenAI-compatible server at `OCTIPUS_AGENT_BASE_URL`. `builtin:summary` (the default when nothing
is configured) is the offline summariser.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from weakref import WeakKeyDictionary

from pydantic_ai.exceptions import UserError
from pydantic_ai.models import Model, infer_model
from pydantic_ai.providers import infer_provider_class

from octipus.agents.summariser import BUILTIN_MODEL
from octipus.config import Settings

OLLAMA_DEFAULT_URL = "http://127.0.0.1:11434/v1"
GEMINI_PREFIXES = ("google-gla", "google")
GEMINI_EXTRA_HINT = (
    "Gemini models need pydantic-ai's google extra, which this installation lacks: "
    "pip install 'pydantic-ai-slim[google]'"
)


# Models own their HTTP client; one per model string and loop (clients are bound to a loop).
_MODELS: WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str | None, ...], Model]] = (
    WeakKeyDictionary()
)


class ModelConfigError(ValueError):
    """A model string that cannot be used on this server; the message says how to fix it."""


def choose_model(settings: Settings, topics: Sequence[str | None], override: str | None) -> str:
    """Per-hook `agentModel`, else the first mapped topic's model, else OCTIPUS_AGENT_MODEL,
    else the builtin summariser."""
    if override:
        return override
    for topic in topics:
        if topic and topic in settings.agent_topic_models:
            return settings.agent_topic_models[topic]
    return settings.agent_model or BUILTIN_MODEL


def _gemini_available() -> bool:
    try:
        import pydantic_ai.models.google  # noqa: F401
    except ImportError:
        return False
    return True


def check_model_name(name: str, settings: Settings) -> None:
    """Save-time check of a model string; ModelConfigError explains what is wrong."""
    if name == BUILTIN_MODEL:
        return
    provider, sep, model_name = name.partition(":")
    if not sep:
        if settings.agent_base_url:
            return
        raise ModelConfigError(
            f"model {name!r} has no provider prefix: write 'openai:{name}', 'ollama:{name}', … "
            "or set OCTIPUS_AGENT_BASE_URL to an OpenAI-compatible server"
        )
    if not model_name:
        raise ModelConfigError(f"model {name!r} names no model after '{provider}:'")
    if provider in GEMINI_PREFIXES:
        if not _gemini_available():
            raise ModelConfigError(GEMINI_EXTRA_HINT)
        return
    try:
        infer_provider_class(provider)
    except ValueError:
        raise ModelConfigError(
            f"unknown model provider {provider!r}; use openai:, anthropic:, google-gla:, ollama: "
            "or a bare model name with OCTIPUS_AGENT_BASE_URL"
        ) from None


def _openai_compatible(model_name: str, base_url: str, api_key: str | None) -> Model:
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai_compatible import OpenAICompatibleProvider

    provider = OpenAICompatibleProvider("openai-compatible", base_url=base_url, api_key=api_key)
    return OpenAIChatModel(model_name, provider=provider)


def _build(name: str, settings: Settings) -> Model:
    provider, sep, model_name = name.partition(":")
    base_url, api_key = settings.agent_base_url, settings.agent_api_key
    if not sep:  # a bare name: the configured OpenAI-compatible server
        return _openai_compatible(name, base_url or "", api_key)
    if provider == "openai" and base_url:
        return _openai_compatible(model_name, base_url, api_key)
    if provider == "openai":
        from pydantic_ai.models.openai import OpenAIResponsesModel
        from pydantic_ai.providers.openai import OpenAIProvider

        return OpenAIResponsesModel(model_name, provider=OpenAIProvider(api_key=api_key))
    if provider == "ollama":
        from pydantic_ai.models.ollama import OllamaModel
        from pydantic_ai.providers.ollama import OllamaProvider

        url = base_url or OLLAMA_DEFAULT_URL
        return OllamaModel(model_name, provider=OllamaProvider(base_url=url, api_key=api_key))
    if provider == "anthropic" and api_key:
        from pydantic_ai.models.anthropic import AnthropicModel
        from pydantic_ai.providers.anthropic import AnthropicProvider

        return AnthropicModel(model_name, provider=AnthropicProvider(api_key=api_key))
    if provider in GEMINI_PREFIXES:
        from pydantic_ai.models.google import GoogleModel
        from pydantic_ai.providers.google import GoogleProvider

        return GoogleModel(model_name, provider=GoogleProvider(api_key=api_key))
    return infer_model(name)  # anthropic with ANTHROPIC_API_KEY, and pydantic-ai's other providers


def build_model(name: str, settings: Settings) -> Model:
    """The pydantic-ai model for `name`, reused within this event loop so its HTTP connections
    are pooled; ModelConfigError when it cannot be built here."""
    check_model_name(name, settings)
    models = _MODELS.setdefault(asyncio.get_running_loop(), {})
    key = (name, settings.agent_base_url, settings.agent_api_key)
    try:
        if key not in models:
            models[key] = _build(name, settings)
        return models[key]
    except ImportError as exc:
        raise ModelConfigError(f"model {name!r} needs a package this server lacks: {exc}") from None
    except UserError as exc:  # e.g. a missing API key
        raise ModelConfigError(f"model {name!r} cannot be used: {exc}") from None
