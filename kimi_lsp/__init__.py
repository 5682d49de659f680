"""kimi-lsp: Kimi K2 Thinking in the editor, with verified fixes."""

__version__ = "0.1.0"
