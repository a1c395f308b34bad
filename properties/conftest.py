"""Hypothesis settings profiles for the property suites, chosen by ``HYPOTHESIS_PROFILE``.

=========  ===================================================================================
profile    use
=========  ===================================================================================
dev        a quick local loop: few examples, random each run, failures saved to .hypothesis/
ci         the default (HYPOTHESIS_PROFILE unset): moderate examples, derandomized so every CI
           run draws the same examples, no example database, no deadline (timing on shared
           runners is not a correctness property)
thorough   many examples, random; run before a release or after touching the core
=========  ===================================================================================

Suites that cost more per example run a fraction of the profile's ``max_examples`` (read from
``settings.default`` when the module is imported) rather than a fixed count, so each profile
keeps its meaning everywhere.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("dev", max_examples=10, deadline=None)
settings.register_profile(
    "ci", max_examples=300, deadline=None, derandomize=True, database=None, print_blob=True
)
settings.register_profile("thorough", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
