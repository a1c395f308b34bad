"""Start-up time: ``import pkverify`` and ``pkverify --help`` against a baseline of the same run.

Run: ``python benchmarks/bench_startup.py [repeats]``. Each command runs in a fresh
interpreter ``repeats`` times (default 7); the table shows the median wall time and the ratio
to the baseline ``python -c "import numpy, autograd.numpy"`` (the two libraries pkverify cannot
start without). Targets (issue 7): ``import pkverify`` ≤ 3× the baseline, ``pkverify --help``
under 1 s. ``pkverify --help`` is run the way the console script runs it (import the package,
then ``pkverify.cli.main``).

This is a benchmark, not a test: it prints figures and never fails.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

COMMANDS = {
    "baseline: import numpy, autograd.numpy": "import numpy, autograd.numpy",
    "import pkverify": "import pkverify",
    "pkverify --help": "import sys; from pkverify.cli import main; sys.argv = ['pkverify', "
    "'--help']; sys.exit(main())",
    "pkverify --version": "import sys; from pkverify.cli import main; sys.argv = ['pkverify', "
    "'--version']; sys.exit(main())",
    "first pk.symbolic use (SymPy)": "import pkverify as pk; pk.symbolic.SYM_ACTIVATIONS",
}


def _time(code: str, repeats: int) -> float:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], env=env, check=False, cwd=ROOT,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(repeats: int = 7) -> None:
    results = {label: _time(code, repeats) for label, code in COMMANDS.items()}
    base = results["baseline: import numpy, autograd.numpy"]
    print(f"start-up, median of {repeats} fresh interpreters ({sys.executable})")
    print(f"{'command':<42} {'seconds':>8} {'× baseline':>11}")
    for label, seconds in results.items():
        print(f"{label:<42} {seconds:8.3f} {seconds / base:11.2f}")
    ratio = results["import pkverify"] / base
    help_s = results["pkverify --help"]
    print(f"\nimport pkverify: {ratio:.2f}× baseline (target ≤ 3×): "
          f"{'met' if ratio <= 3 else 'NOT met'}")
    print(f"pkverify --help: {help_s:.3f} s (target < 1 s): {'met' if help_s < 1 else 'NOT met'}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
