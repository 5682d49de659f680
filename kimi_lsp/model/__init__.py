"""The streaming chat-completions client for Kimi K2 Thinking (and any OpenAI-compatible server)."""

from kimi_lsp.model.types import Completion, Message, ToolCall, ToolSpec, Usage

__all__ = ["Completion", "Message", "ToolCall", "ToolSpec", "Usage"]
