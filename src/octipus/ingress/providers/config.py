"""`triggerConfig` as one typed value: a union of the providers' config models, chosen by
`provider` ("auto" when absent), validated once, with messages that name the field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union

from pydantic import Discriminator, Tag, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from octipus.ingress.providers.core import TriggerConfigBase
from octipus.ingress.providers.github import ALLOW_SHA1
from octipus.ingress.providers.registry import AUTO, BY_NAME, PROVIDERS, SUPPORTED_PROVIDERS

UNKNOWN_PROVIDER = "unknown_provider"
_SHOWN_ERRORS = 3


class AutoConfig(TriggerConfigBase):
    """`provider: "auto"` (or absent): the scheme of whichever signature header arrives."""

    provider: Literal["auto"] | None = None
    allowSha1: bool | None = ALLOW_SHA1  # for GitHub's legacy header, when it is the one sent


MODELS: dict[str, type[TriggerConfigBase]] = {AUTO: AutoConfig} | {
    p.name: p.config for p in PROVIDERS
}


def _tag(value: Any) -> str:
    """The model a config is validated with: its provider's own name ("auto" when absent)."""
    name = value.get("provider") if isinstance(value, Mapping) else getattr(value, "provider", None)
    if name is None or name == AUTO:
        return AUTO
    provider = BY_NAME.get(name) if isinstance(name, str) else None
    return provider.name if provider else "?"


# Built from the registry, so mypy sees only "one of the models"; pydantic sees the union.
_MEMBERS: Any = tuple(Annotated[model, Tag(tag)] for tag, model in MODELS.items())
TriggerConfig: Any = Annotated[
    Union[_MEMBERS],  # noqa: UP007 (a union of a computed tuple of types)
    Discriminator(_tag, custom_error_type=UNKNOWN_PROVIDER, custom_error_message="unknown"),
]
_ADAPTER: TypeAdapter[TriggerConfigBase] = TypeAdapter(TriggerConfig)


class TriggerConfigError(ValueError):
    """An invalid `triggerConfig`; the message names each wrong field and how to fix it."""


def _path(loc: tuple[int | str, ...]) -> str:
    return "triggerConfig" + "".join(f"[{x}]" if isinstance(x, int) else f".{x}" for x in loc)


def _message(error: ErrorDetails) -> str:
    """One error as a sentence naming the field (the tag pydantic puts first is dropped)."""
    kind, tag, loc = error["type"], str((*error["loc"], AUTO)[0]), error["loc"][1:]
    if kind == UNKNOWN_PROVIDER:
        given = error["input"].get("provider") if isinstance(error["input"], Mapping) else None
        return (
            f"triggerConfig.provider {str(given)[:40]!r} is unknown;"
            f" use one of {', '.join(SUPPORTED_PROVIDERS)}"
        )
    model = MODELS[tag]
    if kind == "value_error":
        reason = str(error.get("ctx", {}).get("error", error["msg"]))
        return f"{_path(loc)} {reason}" if loc else reason
    if kind == "extra_forbidden":
        return (
            f"{_path(loc)}: unknown field {str(loc[-1])[:40]!r} for provider {tag!r};"
            f" its fields are {', '.join(model.model_fields)}"
        )
    field = model.model_fields.get(str(loc[0])) if loc else None
    hint = f"; expected {field.description}" if field and field.description else ""
    return f"{_path(loc)}: {error['msg']}{hint}"


def parse_trigger_config(config: Mapping[str, Any], *, saving: bool = False) -> TriggerConfigBase:
    """The typed `triggerConfig`; `saving` adds the rules for new input (webhookPath required,
    new Standard Webhooks secrets written `whsec_…`). Raises TriggerConfigError."""
    try:
        parsed = _ADAPTER.validate_python(config, context={"saving": saving})
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        raise TriggerConfigError("; ".join(_message(e) for e in errors[:_SHOWN_ERRORS])) from None
    if saving and parsed.webhookPath is None:
        raise TriggerConfigError('triggerConfig.webhookPath is required, e.g. "github"')
    return parsed
