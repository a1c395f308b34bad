"""``pkverify explain --scheduler ADDRESS``: the contributions computed on a Dask cluster.

The O(q·n) part of an explanation — every training point's contribution
``a_i(x) K^p(x, x_i)`` — runs as blocks on the cluster, each a task streaming the path from
its store (:meth:`~pkverify.KernelMachine.contributions` with ``scheduler=``); b(x), y_0(x)
and the prediction (no kernel) run here. The table lists the top points with their
contribution; a_i(x) and K^p(x, x_i) separately would need the full kernel pass, which stays
in-process (run without --scheduler to see them).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["explain_on_cluster", "render_contributions"]


def explain_on_cluster(traj: Any, queries: np.ndarray, top: int, class_: int | None,
                       scheduler: Any) -> list[Any]:
    """One :class:`~pkverify.report.explain.Explanation` per query, its contributions from
    the cluster (``a`` and ``kernel`` are not computed: NaN)."""
    from ..claims.problems import explain_bars
    from ..errors import InvalidArgumentError
    from ..machine import kernel_machine
    from ..report.explain import Explanation, tolerance_for

    rule, tol, reason = tolerance_for(traj)
    km = kernel_machine(traj, rule=rule)
    k = None if traj.Y.ndim == 1 else int(traj.Y.shape[1])
    if k is None and class_ is not None:
        raise InvalidArgumentError(
            f"--class {class_} applies to models with several outputs; this model has one "
            "output. Leave --class out."
        )
    if k is not None and class_ is not None and not 0 <= class_ < k:
        raise InvalidArgumentError(
            f"--class must be an output index 0 ... {k - 1} (the model has {k} outputs); got "
            f"{class_}."
        )
    C = np.asarray(km.contributions(queries, scheduler=scheduler))  # (q, n) or (q, n, k)
    B = np.asarray(km.b(queries))
    trained = np.asarray(traj.predict(queries))
    initial = np.asarray(traj.predict_initial(queries))
    chosen = None if k is None else np.argmax(np.asarray(km.predict(queries)), axis=1)
    n = int(traj.X.shape[0])
    out = []
    for q, xq in enumerate(queries):
        c = None if chosen is None else int(chosen[q]) if class_ is None \
            else int(class_)  # the predicted class, as KernelMachine.explain chooses it
        contribution = C[q] if c is None else C[q][:, c]
        b, y, y0 = (float(v[q] if c is None else v[q, c]) for v in (B, trained, initial))
        e = {"contribution": contribution, "b": b, "machine": b + float(contribution.sum())}
        out.append(Explanation(
            query=np.asarray(xq), a=np.full(n, np.nan), kernel=np.full(n, np.nan),
            contribution=contribution,
            order=np.argsort(-np.abs(contribution), kind="stable")[:top], b=b,
            machine=e["machine"], trained=y, initial=y0, tolerance=tol,
            tolerance_reason=reason, spec=explain_bars(e, top=top), class_=c))
    return out


def render_contributions(expl: Any, X: np.ndarray, Y: np.ndarray) -> str:
    """The console text of an explanation from the cluster: :func:`render_text`'s, with the
    table's a_i(x) and K^p(x, x_i) columns (not computed here) left out."""
    from ..report.explain import _coords, _short, label_text, render_text

    lines = render_text(expl, X, Y).splitlines()
    if expl.class_ is not None:  # that table has the contribution column only already
        return "\n".join(lines)
    head = next(j for j, line in enumerate(lines) if line.lstrip().startswith("rank"))
    end = lines.index("", head)
    cells = [("rank", "i", "x_i", "y_i", "a_i·K^p")] + [
        (str(r), str(i), _short(_coords(X[i])), label_text(Y[i]), f"{expl.contribution[i]:.5g}")
        for r, i in enumerate(expl.order, 1)]
    widths = [max(len(c[j]) for c in cells) for j in range(5)]
    table = ["  ".join(v.ljust(w) if j in (2, 3) else v.rjust(w)
                       for j, (v, w) in enumerate(zip(c, widths))) for c in cells]
    return "\n".join(lines[:head] + table + lines[end:])
