"""``pkverify explain``: one prediction, term by term, as Theorem 1 writes it.

    y(x) = b(x) + Σ_i a_i(x) K^p(x, x_i)

For each query x the training points are ranked by |a_i(x) K^p(x, x_i)|; the check is that
b(x) plus the contributions of *all* n points equals the trained model's prediction
f(w_S, x) (to float64 rounding with the exact rule on a GD path). For a model with k > 1
outputs one output c is explained (the predicted class unless ``class_`` names one): the
contribution of x_i is the c-th component of K^p(x, x_i) a_i(x) = −∫ I_i K^g ℓ'_i dt
(Remark 2), and the check is on y_c(x).

Inputs are checked before any work: the saved trajectory (corrupt → TrajectoryFileError), the
query's dimension (ShapeError) and type (real numbers), ``top`` ≥ 1, ``class_``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError, ShapeError
from ..validation import positive_int
from .mathml import prose_html

__all__ = ["Explanation", "parse_query", "load_trajectory", "explain", "render_text",
           "render_html_page", "explain_page", "label_text", "DEMO_INPUT_DIM", "tolerance_for"]

DEMO_INPUT_DIM = 3  # the demo model is a [3, 16, 1] MLP (claims.problems.DEMO_SIZES)


@dataclass(frozen=True)
class Explanation:
    """Theorem 1 at one query. Over the n training points: ``a`` = a_i(x) (``(n,)``, or
    ``(n, k)`` for k outputs), ``kernel`` = K^p(x, x_i) (``(n,)`` or ``(n, k, k)``),
    ``contribution`` = a_i(x) K^p(x, x_i) (its ``class_`` component for k outputs, ``(n,)``);
    ``order`` (top indices by |contribution|); scalars (of output ``class_`` for k outputs)
    ``b``, ``machine`` = b + Σ contributions, ``trained`` = f(w_S, x), ``initial`` =
    f(w_0, x); ``tolerance`` (relative to |trained − initial|); ``class_`` (None for a scalar
    model)."""

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
    class_: int | None = None

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
    if np.iscomplexobj(arr) or not (np.issubdtype(arr.dtype, np.number)
                                    or arr.dtype == np.bool_):
        raise InvalidArgumentError(
            f"the query file {text!r} holds {arr.dtype} values; explain takes real numbers "
            "(the model's inputs). Save the real inputs, e.g. numpy.save(path, x.real) if the "
            "imaginary parts are all zero."
        )
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


def load_trajectory(path: str | os.PathLike[str], model: Any = None):
    """``Trajectory.load``; ``model`` is the Model of a trajectory trained on a custom model."""
    from ..trajectory import Trajectory

    return Trajectory.load(path, model=model)


def tolerance_for(traj) -> tuple[str, float | None, str]:
    """(rule, relative tolerance, reason) for a path: the exact rule on GD/SGD paths (judged
    at rounding level); Simpson on gradient-flow paths, whose quadrature error O(h⁴) depends
    on the sample spacing h the path was recorded with (reported, not judged)."""
    if traj.kind == "flow":
        return "simpson", None, ("Simpson's rule on the sampled flow path, error O(h^4) in "
                                 "the sample spacing h; record more samples to shrink it")
    return "exact", 1e-10, "float64 rounding accumulated over the steps of the exact rule"


def explain(traj, queries: np.ndarray, top: int = 5, class_: int | None = None,
            scheduler: Any = None) -> list[Explanation]:
    """One :class:`Explanation` per row of ``queries``; for k > 1 outputs, of output
    ``class_`` (default: each query's predicted class, as
    :meth:`~pkverify.machine.KernelMachine.explain` chooses it). ``scheduler`` (a Dask
    address or Client; the trajectory on a disk store): every part of the page — the kernel
    pass's K^p, a and K^{lp} in blocks of training points, b and the prediction in one product
    pass — runs as Dask tasks reading the store; only f(w_0, x) and f(w_S, x) (two rows of
    the path) run here."""
    from ..claims.problems import explain_bars
    from ..machine import kernel_machine

    top = positive_int(top, "top")
    rule, tol, reason = tolerance_for(traj)
    km = kernel_machine(traj, rule=rule)
    classes = km.classes(queries, class_, scheduler)  # validates class_, picks the class
    # every part on the whole query set at once (one pass over the path; cached per set)
    A = np.asarray(km.a(queries, scheduler))
    K = np.asarray(km.kernel(queries, scheduler))
    B = np.asarray(km.b(queries, scheduler))
    W = np.asarray(km.loss_weighted_kernel(queries, scheduler))
    trained = np.asarray(traj.predict(queries))
    initial = np.asarray(traj.predict_initial(queries))
    out = []
    for q, (xq, c) in enumerate(zip(queries, classes)):
        if c is None:
            contribution = A[q] * K[q]
            b, y, y0 = float(B[q]), float(trained[q]), float(initial[q])
        else:  # (K^p a_i)_c = −(∫ I_i K^g ℓ'_i dt)_c, the term predict sums (Remark 2)
            contribution = -W[q][:, c]
            b, y, y0 = float(B[q, c]), float(trained[q, c]), float(initial[q, c])
        e = {"contribution": contribution, "b": b, "machine": b + float(contribution.sum())}
        out.append(Explanation(
            query=np.asarray(xq), a=A[q], kernel=K[q], contribution=contribution,
            order=np.argsort(-np.abs(contribution), kind="stable")[:top], b=b,
            machine=e["machine"], trained=y, initial=y0, tolerance=tol,
            tolerance_reason=reason, spec=explain_bars(e, top=top), class_=c,
        ))
    return out


def _coords(v: np.ndarray, digits: int = 3) -> str:
    return "(" + ", ".join(f"{float(x):.{digits}g}" for x in np.atleast_1d(v)) + ")"


def label_text(y: Any) -> str:
    """A training label as printed: a number; ``class c`` for a one-hot row; else a vector."""
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 0:
        return f"{float(y):.4g}"
    if np.all((y == 0.0) | (y == 1.0)) and y.sum() == 1.0:
        return f"class {int(np.argmax(y))}"
    return _coords(y)


def _short(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis (a 64-pixel image's coordinates)."""
    return text if len(text) <= limit else text[: limit - 2] + "…)"


def _what(expl: Explanation) -> str:
    """Which output is explained ("" for a scalar model)."""
    return "" if expl.class_ is None else f"output (class) {expl.class_}"


def _rows(expl: Explanation, X: np.ndarray, Y: np.ndarray) -> list[tuple[str, ...]]:
    """(rank, i, x_i, y_i, a_i(x), K^p(x, x_i), contribution) as text, top rows first; a_i
    and K^p are shown for scalar models only (for k outputs they are a vector and a k × k
    block; the contribution is the explained output's component of their product)."""
    rows = []
    for rank, i in enumerate(expl.order, 1):
        parts = (f"{expl.a[i]:.5g}", f"{expl.kernel[i]:.5g}") if expl.class_ is None else ()
        rows.append((str(rank), str(i), _short(_coords(X[i])), label_text(Y[i]), *parts,
                     f"{expl.contribution[i]:.5g}"))
    return rows


def _headers(expl: Explanation) -> tuple[str, ...]:
    if expl.class_ is None:
        return ("rank", "i", "x_i", "y_i", "a_i(x)", "K^p(x,x_i)", "a_i·K^p")
    return ("rank", "i", "x_i", "y_i", f"(K^p a_i)_{expl.class_}")


def render_text(expl: Explanation, X: np.ndarray, Y: np.ndarray | None = None) -> str:
    """The console table for one query (``Y``: the training labels, shown beside x_i)."""
    Y = np.full(X.shape[0], np.nan) if Y is None else np.asarray(Y)
    lines = [f"query x = {_coords(expl.query, 4)}"]
    if expl.class_ is not None:
        lines.append(f"explaining {_what(expl)}: contributions to y_{expl.class_}(x)")
    head, rows = _headers(expl), _rows(expl, X, Y)
    widths = [max(len(r[j]) for r in [head, *rows]) for j in range(len(head))]
    lines.append("")
    for r in [head, *rows]:
        lines.append("  ".join(f"{v:>{w}}" if j not in (2, 3) else f"{v:<{w}}"
                               for j, (v, w) in enumerate(zip(r, widths))))
    n = expl.contribution.size
    shown = float(expl.contribution[expl.order].sum())
    sub = "" if expl.class_ is None else f"_{expl.class_}"
    lines += [
        "",
        f"b(x){sub} = y_0(x){sub}                   {expl.b:.12g}",
        f"Σ_i contributions, all {n} points      {float(expl.contribution.sum()):.12g}"
        f"   (top {expl.order.size}: {shown:.6g})",
        f"b(x) + Σ                                {expl.machine:.12g}",
        f"prediction f(w_S, x){sub}                  {expl.trained:.12g}",
        f"check: |b + Σ − prediction| / |prediction − y_0| = {expl.error:.2e}  "
        f"({expl.tolerance_text})  {expl.verdict}",
    ]
    return "\n".join(lines)


def _gallery(e: Explanation, X: np.ndarray, Y: np.ndarray, shape: tuple[int, int]) -> str:
    """The query image, then its top proponents (largest positive contributions) and
    opponents (most negative), each with its index, label and contribution."""
    from html import escape

    from .pixels import image_svg

    def card(x: Any, caption: str) -> str:
        return (f'<figure class="img">{image_svg(x, shape, title=caption)}'
                f"<figcaption>{escape(caption)}</figcaption></figure>")

    m = e.order.size
    c = e.contribution
    pro = [int(i) for i in np.argsort(-c, kind="stable")[:m] if c[i] > 0]
    con = [int(i) for i in np.argsort(c, kind="stable")[:m] if c[i] < 0]
    rows = [f'<div class="imgs"><strong>query</strong>{card(e.query, "query")}</div>']
    for name, idx in (("proponents", pro), ("opponents", con)):
        cards = "".join(card(X[i], f"#{i} {label_text(Y[i])}: {c[i]:+.3g}") for i in idx)
        rows.append(f'<div class="imgs"><strong>{name}</strong>{cards or "none"}</div>')
    return "".join(rows)


def render_html_page(expls: list[Explanation], X: np.ndarray, title: str,
                     Y: np.ndarray | None = None, image_shape: Any = None) -> str:
    """A self-contained page: per query, the explained output, the contribution chart (inline
    SVG) and the table of the top training points with their coordinates and labels. With
    ``image_shape`` (``(H, W)``, ``(1, H, W)`` or ``"HxW"``) the query and its top proponents
    and opponents are drawn as images too (:mod:`.pixels`)."""
    from html import escape

    from .pixels import parse_image_shape
    from .plots import inline_svg, render_svg

    Y = np.full(X.shape[0], np.nan) if Y is None else np.asarray(Y)
    shape = None if image_shape is None else parse_image_shape(image_shape, X.shape[1])
    parts = []
    for k, e in enumerate(expls):
        head = "".join(f"<th>{prose_html(h)}</th>" for h in _headers(e))  # notation as MathML
        rows = "".join("<tr>" + "".join(f"<td>{escape(v)}</td>" for v in r) + "</tr>"
                       for r in _rows(e, X, Y))
        what = (f"<p>Explaining {escape(_what(e))}: each training point's contribution to "
                f"y_{e.class_}(x).</p>" if e.class_ is not None else "")
        parts.append(
            f'<section class="query"><h2>query x = {escape(_short(_coords(e.query, 4)))}'
            f"</h2>{what}{'' if shape is None else _gallery(e, X, Y, shape)}"
            f'<figure>{inline_svg(render_svg(e.spec), f"q{k}")}</figure>'
            f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
            f"<p>b(x) = {e.b:.12g}; b(x) + Σ over all {e.contribution.size} points = "
            f"{e.machine:.12g}; prediction f(w_S, x) = {e.trained:.12g}; relative difference "
            f"{e.error:.2e}: {escape(e.verdict)} ({escape(e.tolerance_text)})</p>"
            "</section>")
    css = ("body{font-family:system-ui,sans-serif;max-width:900px;margin:0 auto;padding:1em}"
           "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em}"
           "figure svg{max-width:100%;height:auto}.imgs{display:flex;flex-wrap:wrap;"
           "align-items:center;gap:.6em;margin:.4em 0}.imgs strong{width:7em}"
           "figure.img{margin:0;text-align:center;font-size:.8em}"
           "figure.img svg{border:1px solid #999;display:block;margin:0 auto}")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            f"style-src 'unsafe-inline'\"><title>{escape(title)}</title><style>{css}</style>"
            f"</head><body><h1>{escape(title)}</h1>{''.join(parts)}</body></html>\n")


def explain_page(traj, queries: Any, top: int = 5, class_: int | None = None,
                 image_shape: Any = None, title: str = "pkverify explain"
                 ) -> tuple[list[Explanation], str]:
    """:func:`explain` and its HTML page in one call (``image_shape``: draw the inputs as
    images; default a torch model's ``(1, H, W)`` input shape, else none)."""
    from .pixels import image_shape_for, parse_image_shape

    Xq = np.asarray(queries, dtype=np.float64)
    shape = (parse_image_shape(image_shape, traj.X.shape[1]) if image_shape is not None
             else image_shape_for(traj.model))
    expls = explain(traj, Xq, top, class_=class_)
    return expls, render_html_page(expls, traj.X, title, traj.Y, image_shape=shape)
