"""The claim registry: every statement of the theory with the check that measures it.

import pkverify as pk
for result in pk.claims.run(["theorem1"], quick=True):
    print(result.id, result.status, result.metrics)
"""

from .registry import CheckConfig, Claim, Outcome, Result, all_claims, claim, get, run, select

__all__ = [
    "CheckConfig",
    "Claim",
    "Outcome",
    "Result",
    "all_claims",
    "claim",
    "get",
    "run",
    "select",
]
