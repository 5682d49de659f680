"""Which serving stack an endpoint is: Moonshot's API, vLLM, SGLang or OpenRouter.

The client works without knowing (each assistant turn goes back with its reasoning under the names it
arrived with, see ``types``); ``kimi-lsp doctor`` names the stack so a user can tell what they reach and
match it with the README's recipe. The endpoint URL tells Moonshot and OpenRouter apart without a network
call; vLLM and SGLang are told by their model listing, whose ``owned_by`` each server fills with its own name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

MOONSHOT_HOSTS = frozenset({"api.moonshot.ai", "api.moonshot.cn"})
OPENROUTER_HOST = "openrouter.ai"
# The stacks that write their own name as ``owned_by`` of the models they serve.
_SELF_NAMED = frozenset({"moonshot", "vllm", "sglang"})


def dialect_from_url(base_url: str) -> str | None:
    """The stack a public endpoint's host names, None for a host that does not tell (self-hosted)."""
    host = (urlsplit(base_url).hostname or "").lower()
    if host in MOONSHOT_HOSTS:
        return "moonshot"
    if host == OPENROUTER_HOST or host.endswith("." + OPENROUTER_HOST):
        return "openrouter"
    return None


def dialect_from_models(cards: Sequence[Mapping[str, Any]]) -> str | None:
    """The stack that wrote this ``GET /models`` listing, None when it does not say."""
    for card in cards:
        owner = str(card.get("owned_by", "")).lower()
        if owner in _SELF_NAMED:
            return owner
        if "canonical_slug" in card or "supported_parameters" in card:  # OpenRouter's own listing shape
            return "openrouter"
    return None


def describe_dialect(base_url: str, cards: Sequence[Mapping[str, Any]] | None = None) -> str:
    """One line for ``doctor``: the stack detected and from what, or ``unknown``."""
    by_url = dialect_from_url(base_url)
    if by_url is not None:
        return f"{by_url} (from the endpoint URL)"
    by_models = dialect_from_models(cards or ())
    if by_models is not None:
        return f"{by_models} (from the server's model list)"
    if cards is None:
        return "unknown (the endpoint URL does not tell and the server's model list could not be read)"
    return "unknown (neither the endpoint URL nor the model list tells; any OpenAI-compatible server works)"
