"""How each serving stack for Kimi K2 Thinking speaks the chat API, as the stand-in plays it.

What each server emits, reads back and silently drops (sources: vLLM's reasoning-outputs docs and RFC
#27755, which renamed ``reasoning_content`` to ``reasoning``, PR #33402 removing the old name, issue
#38488 showing an incoming ``reasoning_content`` dropped; SGLang's ``ChatCompletionMessageGenericParam``,
which declares only ``reasoning_content`` and ignores unknown fields; OpenRouter's reasoning-tokens and
tool-calling docs; Moonshot's Kimi K2 Thinking guide and the 400 it gives a tool-call turn without
``reasoning_content``):

=========== ===================== ================================ =================== ==============
dialect     thinking streamed as  thinking read back from          usage chunk         models owned_by
=========== ===================== ================================ =================== ==============
moonshot    reasoning_content     reasoning_content (else 400)     in choices[0]       moonshot
vllm        reasoning             reasoning                        top-level (OpenAI)  vllm
sglang      reasoning_content     reasoning_content                top-level (OpenAI)  sglang
openrouter  reasoning + details   reasoning_details, else          top-level (OpenAI)  (OpenRouter's
                                  reasoning; wants ``tools`` on                        own listing)
                                  every request
=========== ===================== ================================ =================== ==============

Errors: Moonshot ``{"error": {"message", "type"}}``; vLLM the same with an exception name as ``type`` and the
status as ``code``; SGLang the same fields flat beside ``"object": "error"``; OpenRouter ``{"error":
{"message", "code"}}``; vLLM's and SGLang's API-key check ``{"error": "Unauthorized"}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from kimi_lsp.testing.script import UsageShape
from kimi_lsp.testing.strict import ApiError

DialectName = Literal["moonshot", "vllm", "sglang", "openrouter"]
CONTEXT_LENGTH = 262_144
# vLLM and SGLang name an error by the exception behind it; their API-key check answers a bare string.
_ERROR_CLASSES = {400: "BadRequestError", 404: "NotFoundError", 429: "RateLimitError"}


@dataclass(frozen=True)
class Dialect:
    """One server's way with the reasoning, the usage and the model listing."""

    name: DialectName
    reasoning_out: str  # the delta field the thinking streams under
    reasoning_in: tuple[str, ...]  # the message fields the chat template is given, first found wins
    details: bool = False  # streams ``reasoning_details`` and reads them back (OpenRouter)
    usage_shape: UsageShape | None = "openai"  # None: the turn chooses (Moonshot's tests play both)
    requires_reasoning: bool = False  # a tool-call turn without the thinking is a 400 (Moonshot)
    requires_tools: bool = False  # a request with tool history must offer ``tools`` (OpenRouter)
    base_path: str = "/v1"

    def thinking_seen(self, message: Mapping[str, Any]) -> str | None:
        """The thinking of an assistant ``message`` as this server hands it to the model, None if dropped."""
        if self.details:
            details = message.get("reasoning_details")
            if isinstance(details, list) and details:
                texts = [d.get("text") for d in details if isinstance(d, Mapping) and d.get("type") == "reasoning.text"]
                return "".join(t for t in texts if isinstance(t, str))
        for name in self.reasoning_in:
            value = message.get(name)
            if isinstance(value, str):
                return value
        return None

    def error_body(self, error: ApiError) -> dict[str, Any]:
        """``error`` as this server words an error answer."""
        if self.name == "moonshot":
            return {"error": {"message": error.message, "type": error.type}}
        if error.status == 401 and self.name != "openrouter":
            return {"error": "Unauthorized"}
        if self.name == "openrouter":
            return {"error": {"message": error.message, "code": error.status}}
        kind = _ERROR_CLASSES.get(error.status, "InternalServerError")
        fields = {"message": error.message, "type": kind, "param": None, "code": error.status}
        return {"error": fields} if self.name == "vllm" else {"object": "error", **fields}  # SGLang's is flat

    def model_cards(self, models: Sequence[str]) -> list[dict[str, Any]]:
        """The ``data`` of ``GET /models`` as this server lists ``models``."""
        if self.name == "openrouter":
            return [
                {
                    "id": model,
                    "canonical_slug": model,
                    "name": model,
                    "created": 0,
                    "context_length": CONTEXT_LENGTH,
                    "supported_parameters": ["include_reasoning", "reasoning", "tool_choice", "tools"],
                }
                for model in models
            ]
        cards = [{"id": m, "object": "model", "created": 0, "owned_by": self.name} for m in models]
        if self.name in ("vllm", "sglang"):
            for card in cards:
                card |= {"root": card["id"], "max_model_len": CONTEXT_LENGTH}
        return cards


DIALECTS: dict[DialectName, Dialect] = {
    "moonshot": Dialect(
        "moonshot", "reasoning_content", ("reasoning_content",), usage_shape=None, requires_reasoning=True
    ),
    "vllm": Dialect("vllm", "reasoning", ("reasoning",)),
    "sglang": Dialect("sglang", "reasoning_content", ("reasoning_content",)),
    "openrouter": Dialect(
        "openrouter", "reasoning", ("reasoning",), details=True, requires_tools=True, base_path="/api/v1"
    ),
}


def default_details(reasoning: str) -> list[dict[str, Any]]:
    """The ``reasoning_details`` OpenRouter sends for plain thinking text."""
    return [{"type": "reasoning.text", "text": reasoning, "format": "unknown", "index": 0}] if reasoning else []
