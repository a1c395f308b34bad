"""Where and how a report was made: seed, mode, package versions, command line, git revision.

Everything here is the same for two runs of the same command on the same checkout, so it
can sit in ``results.json`` without breaking the "same seed, same file" guarantee; the
only run-dependent field, ``generated_at``, is listed in :data:`TIMING_KEYS`.
"""

from __future__ import annotations

import platform
import shlex
import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["environment", "git_revision", "PACKAGES", "TIMING_KEYS"]

PACKAGES = (
    "pkverify", "numpy", "scipy", "sympy", "autograd", "hypothesis", "matplotlib",
    "latex2mathml",
)
"""The packages whose versions a report records."""

TIMING_KEYS = ("seconds", "generated_at", "wall_seconds")
"""Keys whose values differ between two otherwise identical runs."""


def git_revision(where: Path | None = None) -> dict[str, Any] | None:
    """``{"commit": sha, "dirty": bool}`` of the checkout holding pkverify, or None when it is
    not in a git work tree (an installed wheel) or git is missing."""
    where = where or Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10
        )
        if sha.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
            capture_output=True, text=True, timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": sha.stdout.strip(), "dirty": bool(status.stdout.strip())}


def _version(pkg: str) -> str | None:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        if pkg == "pkverify":  # run from a checkout without installing
            from .. import __version__

            return __version__
        return None


def environment(
    seed: int, quick: bool, argv: Sequence[str] | None = None
) -> dict[str, Any]:
    """The record written beside the results (see :data:`PACKAGES`)."""
    args = list(sys.argv[1:] if argv is None else argv)
    return {
        "seed": seed,
        "mode": "quick" if quick else "full",
        "dtype": "float64",
        "command": " ".join(["pkverify", *(shlex.quote(a) for a in args)]),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {pkg: _version(pkg) for pkg in PACKAGES},
        "git": git_revision(),
        "generated_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
