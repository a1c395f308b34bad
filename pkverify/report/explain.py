"""``pkverify explain``: one prediction, term by term, as Theorem 1 writes it.

    y(x) = b(x) + Σ_i a_i(x) K^p(x, x_i)

For each query x the training points are ranked by |a_i(x) K^p(x, x_i)|; the check is that
b(x) plus the contributions of *all* n points equals the trained model's prediction
f(w_S, x) (to float64 rounding with the exact rule on a GD path).

Inputs are checked before any work: the saved trajectory (corrupt → TrajectoryFileError), a
scalar-output model, the query's dimension (ShapeError), ``top`` ≥ 1.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError, ShapeError
from ..validation import positive_int

__all__ = ["Explanation", "parse_query", "load_trajectory", "explain", "render_text",
           "render_html_page", "DEMO_INPUT_DIM", "tolerance_for"]

DEMO_INPUT_DIM = 3  # the demo model is a [3, 16, 1] MLP (claims.problems.DEMO_SIZES)


@dataclass(frozen=True)
class Explanation:
    """Theorem 1 at one query. Arrays over the n training points: ``a`` = a_i(x),
    ``kernel`` = K^p(x, x_i), ``contribution`` = a_i(x) K^p(x, x_i); ``order`` (top indices
    by |contribution|); scalars ``b``, ``machine`` = b + Σ contributions, ``trained`` =
    f(w_S, x), ``initial`` = f(w_0, x); ``tolerance`` (relative to |trained − initial|)."""

    query: np.ndarray
    a: np.ndarray
    kernel: np.ndarray
    contribution: np.ndarray
    order: np.ndarray
    b: float
    machine: float
    trained: float
    initial: float
    tolerance: float | None
    tolerance_reason: str
    spec: dict[str, Any]

    @property
    def error(self) -> float:
        """|b + Σ contributions − prediction| / max(|prediction − y_0|, tiny)."""
        change = max(abs(self.trained - self.initial), np.finfo(float).tiny)
        return abs(self.machine - self.trained) / change

    @property
    def ok(self) -> bool:
        """Within tolerance (always True when the difference is only reported)."""
        return self.tolerance is None or bool(self.error <= self.tolerance)

    @property
    def verdict(self) -> str:
        if self.tolerance is None:
            return "reported"
        return "OK" if self.ok else "MISMATCH"

    @property
    def tolerance_text(self) -> str:
        if self.tolerance is None:
            return f"reported, not judged: {self.tolerance_reason}"
        return f"tolerance {self.tolerance:g}: {self.tolerance_reason}"


def parse_query(text: str, dim: int) -> np.ndarray:
    """``"x1,x2,..."`` or the path of a ``.npy`` file → ``(q, dim)`` float array."""
    path = Path(text)
    if text.endswith(".npy") or path.is_file():
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InvalidArgumentError(
                f"cannot read the query file {text!r} ({exc}); give a .npy file of shape "
                f"({dim},) or (q, {dim}) written with numpy.save."
            ) from exc
    else:
        try:
            arr = np.array([float(v) for v in text.replace(" ", "").split(",") if v != ""])
        except ValueError as exc:
            raise InvalidArgumentError(
                f"--query {text!r} is not a comma-separated list of numbers; write it like "
                f"\"{','.join(['0.1'] * dim)}\" ({dim} numbers) or give a .npy file."
            ) from exc
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != dim or arr.shape[0] == 0:
        raise ShapeError(
            f"the query has shape {tuple(np.shape(arr))} but the model takes {dim} inputs; "
            f"give {dim} comma-separated numbers or a .npy array of shape ({dim},) or (q, {dim})."
        )
    if not np.all(np.isfinite(arr)):
        raise InvalidArgumentError("the query contains NaN or inf; give finite numbers.")
    return arr


def load_trajectory(path: str | os.PathLike[str]):
    """``Trajectory.load`` plus the check that the model has one output."""
    from ..trajectory import Trajectory

    traj = Trajectory.load(path)
    if traj.model.output_dim is not None:
        raise InvalidArgumentError(
            f"explain shows scalar-output models; {str(path)!r} holds a model with "
            f"{traj.model.output_dim} outputs."
        )
    return traj


def tolerance_for(traj) -> tuple[str, float | None, str]:
    """(rule, relative tolerance, reason) for a path: the exact rule on GD/SGD paths (judged
    at rounding level); Simpson on gradient-flow paths, whose quadrature error O(h⁴) depends
    on the sample spacing h the path was recorded with (reported, not judged)."""
    if traj.kind == "flow":
        return "simpson", None, ("Simpson's rule on the sampled flow path, error O(h^4) in "
                                 "the sample spacing h; record more samples to shrink it")
    return "exact", 1e-10, "float64 rounding accumulated over the steps of the exact rule"


def explain(traj, queries: np.ndarray, top: int = 5) -> list[Explanation]:
    """One :class:`Explanation` per row of ``queries``."""
    from ..claims.problems import explain_bars, explain_query
    from ..machine import kernel_machine

    top = positive_int(top, "top")
    rule, tol, reason = tolerance_for(traj)
    km = kernel_machine(traj, rule=rule)
    out = []
    for xq in queries:
        e = explain_query(km, xq[None, :])
        c = np.asarray(e["contribution"])
        out.append(Explanation(
            query=np.asarray(xq), a=np.asarray(e["a"]), kernel=np.asarray(e["kernel"]),
            contribution=c, order=np.argsort(-np.abs(c), kind="stable")[:top],
            b=e["b"], machine=e["machine"], trained=e["trained"],
            initial=float(np.asarray(traj.predict_initial(xq[None, :]))[0]),
            tolerance=tol, tolerance_reason=reason, spec=explain_bars(e, top=top),
        ))
    return out


def render_text(expl: Explanation, X: np.ndarray) -> str:
    """The console table for one query."""
    q = ", ".join(f"{v:.4g}" for v in expl.query)
    lines = [f"query x = ({q})", "",
             f"{'rank':>4}  {'i':>4}  {'x_i':<26} {'a_i(x)':>12} {'K^p(x,x_i)':>12} "
             f"{'a_i·K^p':>12}"]
    for rank, i in enumerate(expl.order, 1):
        xi = "(" + ", ".join(f"{v:.3g}" for v in X[i]) + ")"
        lines.append(f"{rank:>4}  {i:>4}  {xi:<26} {expl.a[i]:>12.5g} {expl.kernel[i]:>12.5g} "
                     f"{expl.contribution[i]:>12.5g}")
    n = expl.contribution.size
    shown = float(expl.contribution[expl.order].sum())
    lines += [
        "",
        f"b(x) = y_0(x)                           {expl.b:.12g}",
        f"Σ_i a_i(x) K^p(x, x_i), all {n} points    {float(expl.contribution.sum()):.12g}"
        f"   (top {expl.order.size}: {shown:.6g})",
        f"b(x) + Σ                                {expl.machine:.12g}",
        f"prediction f(w_S, x)                    {expl.trained:.12g}",
        f"check: |b + Σ − prediction| / |prediction − y_0| = {expl.error:.2e}  "
        f"({expl.tolerance_text})  {expl.verdict}",
    ]
    return "\n".join(lines)


def render_html_page(expls: list[Explanation], X: np.ndarray, title: str) -> str:
    """A self-contained page: per query, the contribution chart (inline SVG) and the table."""
    from html import escape

    from .plots import inline_svg, render_svg

    parts = []
    for k, e in enumerate(expls):
        rows = "".join(
            f"<tr><td>{r}</td><td>{i}</td><td>{e.a[i]:.6g}</td><td>{e.kernel[i]:.6g}</td>"
            f"<td>{e.contribution[i]:.6g}</td></tr>" for r, i in enumerate(e.order, 1))
        q = ", ".join(f"{v:.4g}" for v in e.query)
        parts.append(
            f'<section class="query"><h2>query x = ({escape(q)})</h2>'
            f'<figure>{inline_svg(render_svg(e.spec), f"q{k}")}</figure>'
            "<table><thead><tr><th>rank</th><th>i</th><th>a_i(x)</th><th>K^p(x, x_i)</th>"
            f"<th>a_i(x) K^p(x, x_i)</th></tr></thead><tbody>{rows}</tbody></table>"
            f"<p>b(x) = {e.b:.12g}; b(x) + Σ over all {e.contribution.size} points = "
            f"{e.machine:.12g}; prediction f(w_S, x) = {e.trained:.12g}; relative difference "
            f"{e.error:.2e}: {escape(e.verdict)} ({escape(e.tolerance_text)})</p>"
            "</section>")
    css = ("body{font-family:system-ui,sans-serif;max-width:900px;margin:0 auto;padding:1em}"
           "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em}"
           "figure svg{max-width:100%;height:auto}")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            f"style-src 'unsafe-inline'\"><title>{escape(title)}</title><style>{css}</style>"
            f"</head><body><h1>{escape(title)}</h1>{''.join(parts)}</body></html>\n")
