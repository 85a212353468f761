"""Every provider module registers every part, and every list Octipus reads is derived from them."""

from __future__ import annotations

import pkgutil
import typing
from pathlib import Path

import pytest

from octipus.ingress import providers as package
from octipus.ingress.event import delivery_id, event_type
from octipus.ingress.headers import safe_headers
from octipus.ingress.providers.config import MODELS
from octipus.ingress.providers.core import Provider, TriggerConfigBase
from octipus.ingress.providers.registry import (
    AUTO_EXPECTED_HEADERS,
    BY_NAME,
    PROVIDERS,
    SUPPORTED_PROVIDERS,
    detect_provider,
    sign_headers,
)

# The package's own machinery; every other module in it is one provider.
NOT_PROVIDERS = {"core", "mac", "paths", "registry", "config", "verifier"}
ROOT = Path(__file__).resolve().parents[2]
IDS = [p.name for p in PROVIDERS]
# Only the generic `hmac` signs in a header of the hook's choosing, which auto cannot know.
DETECTED = [p for p in PROVIDERS if p.name != "hmac"]


def test_every_provider_module_is_registered():
    modules = {m.name for m in pkgutil.iter_modules(package.__path__)} - NOT_PROVIDERS
    assert modules == {p.name for p in PROVIDERS}


def test_provider_names_are_unique_and_listed_as_choices():
    names = [name for p in PROVIDERS for name in p.names]
    assert len(names) == len(set(names))
    assert ("auto", *names) == SUPPORTED_PROVIDERS


@pytest.mark.parametrize("provider", PROVIDERS, ids=IDS)
def test_the_config_model_answers_to_exactly_the_provider_names(provider: Provider):
    assert issubclass(provider.config, TriggerConfigBase)
    assert MODELS[provider.name] is provider.config
    annotation = provider.config.model_fields["provider"].annotation
    assert set(typing.get_args(annotation)) == set(provider.names)


@pytest.mark.parametrize("provider", DETECTED, ids=[p.name for p in DETECTED])
def test_signing_sends_a_signature_header_that_auto_detects_as_the_provider(provider: Provider):
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" if provider.name == "standard" else "s3cret"
    signed = sign_headers(provider.name, secret, b"{}", url="https://example.com/h")
    lowered = {k.lower(): v for k, v in signed.items()}
    assert {h.lower() for h in provider.signature_headers} & lowered.keys()
    assert detect_provider(lowered) is provider


@pytest.mark.parametrize("provider", PROVIDERS, ids=IDS)
def test_detect_headers_are_signature_headers_named_in_auto_refusals(provider: Provider):
    for rule in provider.detect:
        assert rule.header in provider.signature_headers
        assert rule.header in AUTO_EXPECTED_HEADERS


@pytest.mark.parametrize("provider", PROVIDERS, ids=IDS)
def test_signature_headers_are_never_stored(provider: Provider):
    headers = {h: "sig" for h in provider.signature_headers}
    assert safe_headers(headers) == {}


@pytest.mark.parametrize("provider", PROVIDERS, ids=IDS)
def test_event_and_delivery_headers_are_read_by_the_ingress(provider: Provider):
    if provider.event_header:
        assert event_type({provider.event_header.lower(): "e1"}, None) == "e1"
    for header in provider.delivery_headers:
        assert delivery_id({header.lower(): "d1"}, None) == "d1"


@pytest.mark.parametrize("doc", ["docs/providers.md", "README.md"])
def test_the_docs_list_every_provider_name(doc: str):
    text = (ROOT / doc).read_text()
    table = text[text.index("| `provider` |") :] if doc == "README.md" else text
    missing = [name for name in BY_NAME if f"`{name}`" not in table]
    assert not missing, f"{doc} does not list {missing}"
