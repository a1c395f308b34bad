"""The import graph of pkverify flows one way: no cycles, and no module imports a higher layer.

Every ``import`` / ``from ... import`` statement in every module is read with :mod:`ast`
(relative imports resolved; imports inside functions, the lazy ones, count too), so the test
sees what Python would load, without importing anything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "pkverify"

LAYERS: list[tuple[str, ...]] = [
    # the ground floor: checks, errors, arrays, files, citations, progress bars
    ("errors", "validation", "backend", "io", "sources", "progress", "rates", "dask_client"),
    ("stores",),  # where a path's weights live: memory or chunked files on disk
    ("activations",),
    ("losses",),
    ("models",),
    # a foreign framework's module as a Model (pk.torch.model); the kernel engines below it
    # differentiate it. A recorder of the user's loop (it builds a Trajectory) sits higher.
    ("extra",),
    ("optim",),  # the optimizers: the update rule as data
    ("extra.torch_mapping",),  # torch.optim and torch.nn losses → pk.optim and pkverify losses
    ("extra.optax_mapping",),  # optax transformations → pk.optim
    ("trajectory_file",),  # the .npz format the path is saved in
    ("trajectory",),  # the recorded path of any optimizer
    ("kernels",),  # tangent and path kernels over a recorded path
    ("train",),  # takes its steps with the kernel engine (kernels.engines)
    ("flow",),  # gradient flow, with train's loss and divergence helpers
    # the user's torch or JAX loop recorded as a Trajectory (on what recorders share), and
    # pk.torch's and pk.jax's faces re-exporting it
    ("extra.recording",),
    ("extra.torch_recorder", "extra.jax_recorder"),
    ("extra.pk_torch", "extra.pk_jax"),
    ("machine",),
    ("testing",),  # assert_kernel_machine: Theorem 1 as an assertion for the user's tests
    ("ntk",),
    ("symbolic",),
    ("sweeps",),  # configurations × seeds → a table; imports only the ground floor
    ("claims",),  # the NTK claims run their sweep tasks through sweeps.run
    ("strategies",),
    ("report",),
    ("cli", "__main__", ""),  # "" is the package itself: pkverify/__init__.py exports all
]

KNOWN_UPWARD: dict[tuple[str, str], str] = {
    # TODO(report helper): report reads pkverify.__version__ from the package itself; a
    # version module on the ground floor would remove these.
    ("report.environment", ""): "report helper",
    ("report.proof", ""): "report helper",
}
"""Arrows up that other helpers are removing while this test lands: (from, to) → owner."""

KNOWN_CYCLES: set[frozenset[str]] = set()
"""Import cycles other helpers are removing while this test lands (none left)."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {_module_name(p): p for p in ROOT.rglob("*.py")}


def _targets(module: str, path: Path, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The pkverify modules one import statement loads (names relative to pkverify)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        if node.level:
            base = module.split(".") if module else []
            if path.name != "__init__.py":
                base = base[:-1]
            base = base[: len(base) - (node.level - 1)]
            stem = ".".join(["pkverify", *base] + ([node.module] if node.module else []))
        else:
            stem = node.module or ""
        # `from pkg import sub` loads the submodule sub; `from mod import name` loads mod
        names = [
            f"{stem}.{a.name}" if f"{stem}.{a.name}".removeprefix("pkverify.") in MODULES
            else stem
            for a in node.names
        ]
    out = []
    for name in names:
        if name == "pkverify":
            out.append("")
        elif name.startswith("pkverify."):
            out.append(name.removeprefix("pkverify."))
    return out


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                graph[module].update(t for t in _targets(module, path, node) if t != module)
    return graph


def layer_of(module: str) -> int:
    """The layer of the longest dotted prefix of ``module`` named in LAYERS (a submodule
    may sit above its package's layer, as extra.torch_recorder does)."""
    parts = module.split(".")
    for size in range(len(parts), 0, -1):
        prefix = ".".join(parts[:size])
        for i, names in enumerate(LAYERS):
            if prefix in names:
                return i
    raise AssertionError(f"pkverify.{module} is in no layer: add it to LAYERS in this test")


def test_every_module_has_a_layer():
    for module in MODULES:
        layer_of(module)


def test_no_module_imports_a_higher_layer():
    graph = import_graph()
    upward = sorted(
        (src, dst)
        for src, targets in graph.items()
        for dst in targets
        if layer_of(dst) > layer_of(src) and (src, dst) not in KNOWN_UPWARD
    )
    assert upward == [], "imports from a lower layer up to a higher one: " + ", ".join(
        f"pkverify.{a} → pkverify.{b}".rstrip(".") for a, b in upward
    )


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm: the components of more than one module are the import cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            components.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return components


def _without_package_inits(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """A package's ``__init__`` re-exports its submodules; a submodule that imports a sibling
    through the package (``from .engines import Engine``) loads that ``__init__`` first. That
    is one package, not a cycle between modules, so an import of one's own enclosing package
    is dropped; every other edge stays."""
    return {
        src: {dst for dst in targets if not (dst == "" or src.startswith(dst + "."))}
        for src, targets in graph.items()
    }


def test_no_import_cycles():
    graph = _without_package_inits(import_graph())
    for a, b in KNOWN_UPWARD:  # an exception's edge is allowed to close its own cycle
        graph[a].discard(b)
    cycles = [c for c in _strongly_connected(graph) if len(c) > 1]
    unexpected = [c for c in cycles if not any(known <= c for known in KNOWN_CYCLES)]
    assert unexpected == [], f"import cycles: {unexpected}"


def test_the_walker_sees_a_planted_upward_import(tmp_path):
    """The check can fail: a ground-floor module importing the kernels is reported."""
    node = ast.parse("from .kernels import tangent_kernel").body[0]
    assert isinstance(node, ast.ImportFrom)
    targets = _targets("validation", ROOT / "validation.py", node)
    assert targets == ["kernels"]
    assert layer_of("kernels") > layer_of("validation")


def test_the_cycle_finder_finds_a_cycle():
    comps = _strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    assert {"a", "b", "c"} in comps and {"d"} in comps


@pytest.mark.parametrize("module", ["validation", "losses"])
def test_core_checkers_import_no_domain_types(module):
    """validation.py and losses.py import nothing from models, trajectory, kernels or train."""
    graph = import_graph()
    assert not {t.split(".")[0] for t in graph[module]} & {
        "models", "trajectory", "kernels", "train", "machine"
    }


def test_every_known_exception_is_still_needed():
    """An arrow up that was removed must leave KNOWN_UPWARD too, so the list stays true."""
    graph = import_graph()
    stale = [(a, b) for a, b in KNOWN_UPWARD if b not in graph.get(a, set())]
    assert stale == [], f"remove these fixed exceptions from KNOWN_UPWARD: {stale}"
