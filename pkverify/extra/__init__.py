"""Adapters for models written in other frameworks (Hypothesis's ``extra/`` convention).

Each submodule imports its framework on first use only and is reachable lazily from the
package: ``pk.torch`` (extra ``[torch]``), ``pk.jax`` (extra ``[jax]``).
Nothing here is imported by ``import pkverify``.
"""

__all__: list[str] = []
