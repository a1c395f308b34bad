"""Reports rendered from claim Results (the same Results the CLI prints)."""

from .markdown import render_markdown

__all__ = ["render_markdown"]
