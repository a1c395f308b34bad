"""Seed 003's NTK facts as claims measured on real networks, each by its rate.

* ``ntk.lemma1`` — du/dt = −H(t)(u − y) along a gradient flow (central differences of the
  flow's own u(t) converge to it at order 2); H(t) PSD at every sample.
* ``ntk.lemma2`` — ‖H(0) − H*‖₂ ∝ m^{-1/2} for relu, softplus, tanh, erf; the width the
  lemma's Hoeffding bound asks for beside the width where the error first falls below ε.
* ``ntk.lemma3`` — ‖H(t) − H(0)‖₂ and max_r ‖w_r(t) − w_r(0)‖ shrink with width (lazy
  training); a narrow net's kernel moves, a wide one's hardly does.
* ``ntk.eigen_dynamics`` — v_iᵀ(u(t) − y) = e^{−λ_i t} v_iᵀ(u(0) − y), the gap shrinking with
  width; top-eigenvector labels train faster than bottom ones, true faster than random.
* ``ntk.kernel_regression`` — a wide net trained to convergence predicts
  u(0)(x) + k(x, X) H*⁻¹(y − u(0)), the gap shrinking with width; the eq. 15 bound is larger
  for random labels than for true ones.
* ``ntk.deep`` — the empirical NTK of NTK-parameterised MLPs converges to eqs. 16–23; eq. 18;
  the layer-wise product form of eq. 22 equals the full kernel.

The sweep tasks and named sweeps are in :mod:`pkverify.claims.ntk_measures`, the sizes in
:mod:`pkverify.claims.ntk_setup`, the numerics in :mod:`pkverify.ntk`; every sweep runs
through :mod:`pkverify.sweeps` (in-process, processes, or Dask).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import sweeps
from ..ntk.two_layer import bound_width
from ..rates import rate
from . import figures
from .ntk_measures import (
    measure_bound,
    measure_deep,
    measure_drift_curve,
    measure_eigen,
    measure_eq22,
    measure_kernel_regression,
    measure_labels,
    measure_lemma1,
    measure_lemma2,
    measure_lemma3,
    measure_modes,
    measure_norms,
)
from .ntk_setup import (
    ACTIVATIONS_LEMMA2,
    DEEP_RANGE,
    DYN_RANGE,
    LEMMA2_RANGE,
    N_POINTS,
    PSD_FLOOR,
    grid_for,
    seeds_for,
    sizes,
    within,
)
from .registry import CheckConfig, Outcome, claim

# ---------------------------------------------------------------------------------------
# the claims
# ---------------------------------------------------------------------------------------


@claim(
    "ntk.lemma1",
    title="Lemma 1: du/dt = −H(t)(u − y) along the gradient flow, H(t) PSD",
    statement=r"\frac{du}{dt} = -H(t)\,(u(t) - y),\quad H_{ij}(t) = \nabla_w f(w(t),x_i)\cdot"
    r"\nabla_w f(w(t),x_j) \succeq 0",
    source="ntk-notes Lemma 1 (eqs. 3–6)",
    tolerance="central differences (u(t+h) − u(t−h))/2h of the flow's own outputs must meet "
    "−H(t)(u − y) at order 2: log-log slope of the relative residual against h in [1.8, 2.2] "
    "— truncation error h²u'''/6, the DOP853 flow at rtol 1e-11 adds ≤ 1e-9; residual ≤ 1e-4 "
    "at h = T/160; the control −H(0)(u − y) must stall (slope ≤ 0.5); min eig H(t) ≥ "
    "−1e-12·‖H‖ (rounding; PSD_FLOOR)",
)
def check_lemma1(cfg: CheckConfig) -> Outcome:
    table = sweeps.run(
        measure_lemma1, grid_for(cfg, activation=["softplus", "tanh"], width=[16], T=[2.0]),
        seeds_for(cfg, 1 if cfg.quick else 3), desc="lemma1")
    ok = True
    metrics: dict[str, Any] = {}
    series, ctl_series = {}, {}
    for act in ("softplus", "tanh"):
        sub = table.where(activation=act)
        r = rate(sub, "h", "residual")
        c = rate(sub, "h", "control")
        smallest = float(np.max(sub.where(h=min(sub.column("h"))).column("residual")))
        min_eig = float(np.min(sub.column("min_eig_ratio")))
        metrics |= {f"{act}_slope": r.slope, f"{act}_slope_spread": r.seed_std,
                    f"{act}_residual_at_min_h": smallest, f"{act}_control_slope": c.slope,
                    f"{act}_min_eig_over_max": min_eig}
        ok &= within(r.slope, 1.8, 2.2) and smallest <= 1e-4 and c.slope <= 0.5
        ok &= min_eig >= PSD_FLOOR
        series[f"{act}: −H(t)(u−y)"] = r.mean
        ctl_series[f"{act}: control −H(0)(u−y)"] = c.mean
    fig = figures.loglog_rate(
        "Lemma 1: central-difference du/dt against −H(t)(u − y)", r.x,
        {**series, **ctl_series}, xlabel="h", ylabel="relative residual",
        slopes={k: v for k, v in zip(series, (metrics["softplus_slope"],
                                              metrics["tanh_slope"]))}, reference_slope=2.0)
    return Outcome(
        key="softplus_slope",
        passed=ok, metrics=metrics, data={"figures": [fig]},
        message=f"residual ∝ h^{metrics['softplus_slope']:.2f} (softplus), "
        f"h^{metrics['tanh_slope']:.2f} (tanh) down to "
        f"{metrics['softplus_residual_at_min_h']:.1e}; "
        f"with H(0) it stalls (slope {metrics['softplus_control_slope']:.2f}); H(t) PSD.",
    )


@claim(
    "ntk.lemma2",
    title="Lemma 2: ‖H(0) − H*‖₂ shrinks like m^{-1/2}",
    statement=r"\|H(0) - H^*\|_2 \le \epsilon\ \text{w.p.}\ 1-\delta\ \text{once}\ "
    r"m = \Omega\!\left(\frac{n^4\log(n/\delta)}{\epsilon^2}\right);\ \text{measured rate}\ "
    r"m^{-1/2}",
    source="ntk-notes eq. 9 and Lemma 2 (Hoeffding + union bound)",
    tolerance="pooled log-log slope of ‖H(0) − H*‖₂ against m = 2^6…2^14 in [−0.65, −0.35] "
    "for each activation — H(0) is a mean of m i.i.d. terms, so the Monte-Carlo rate is −1/2; "
    "±0.15 covers the seed-to-seed spread of a fitted slope (measured ≈ 0.06–0.10 per seed)",
)
def check_lemma2(cfg: CheckConfig) -> Outcome:
    size = sizes(cfg)
    table = sweeps.run(
        measure_lemma2,
        grid_for(cfg, activation=list(ACTIVATIONS_LEMMA2), width=size.lemma2_widths),
        seeds_for(cfg, size.lemma2_seeds), desc="lemma2")
    eps, delta = 0.1, 0.05
    metrics: dict[str, Any] = {"epsilon": eps, "delta": delta, "n": N_POINTS}
    series, slopes = {}, {}
    ok = True
    for act in ACTIVATIONS_LEMMA2:
        sub = table.where(activation=act)
        r = rate(sub, "width", "err")
        worst = [float(np.max(sub.where(width=m).column("err"))) for m in r.x]
        below = next((int(m) for m, e in zip(r.x, worst) if e <= eps), None)
        metrics |= {f"{act}_slope": r.slope, f"{act}_slope_spread": r.seed_std,
                    f"{act}_bound_width": bound_width(N_POINTS, eps, delta, act),
                    f"{act}_observed_width": below if below is not None else "none"}
        ok &= within(r.slope, *LEMMA2_RANGE)
        series[act], slopes[act] = r.mean, r.slope
    fig = figures.loglog_rate("Lemma 2: ‖H(0) − H*‖₂ against width", r.x, series,
        xlabel="width m",
        ylabel="‖H(0) − H*‖₂ (geometric mean over seeds)", slopes=slopes,
        reference_slope=-0.5)
    text = ", ".join(f"{a} {metrics[f'{a}_slope']:.2f}±{metrics[f'{a}_slope_spread']:.2f}"
                     for a in ACTIVATIONS_LEMMA2)
    return Outcome(
        key="relu_slope",
        passed=ok, metrics=metrics, data={"figures": [fig]},
        message=f"slopes {text}; for ε = {eps} the bound asks m ≥ "
        f"{metrics['relu_bound_width']:.2g}, observed below ε at m = "
        f"{metrics['relu_observed_width']} (relu).",
    )


@claim(
    "ntk.lemma3",
    title="Lemma 3: lazy training — H(t) and the weights barely move in wide nets",
    statement=r"\|w_r(t)-w_r(0)\|_2 = O\!\left(\frac{tn}{\sqrt m}\right),\quad "
    r"\|H(t) - H(0)\|_2 = O\!\left(\frac{tn^3}{\sqrt m}\right)",
    source="ntk-notes Lemma 3 and its proof",
    tolerance="at t = 1, pooled log-log slopes against m: max_r ‖w_r(t) − w_r(0)‖ in "
    "[−0.65, −0.35] — m^{-1/2}, the max over m units adds a √log m factor — for relu and "
    "softplus; ‖H(t) − H(0)‖₂ in [−0.65, −0.35] for relu (the rate comes from units whose "
    "pre-activation crosses 0) and ≤ −0.35 for softplus (the bound is an upper bound: for "
    "smooth σ the first-order change averages over the random signs a_r and the measured "
    "rate is ≈ m^{-1}); ±0.15: seed spread of a fitted slope. Narrow vs wide: the wide net's "
    "relative drift at t = 4 (mean of 3 seeds) must be ≤ 1/3 of the narrow one's (m^{-1/2} "
    "predicts 1/8 for a 64× wider net, 1/16 for 256×)",
)
def check_lemma3(cfg: CheckConfig) -> Outcome:
    size = sizes(cfg)
    acts = ["relu", "softplus"]
    table = sweeps.run(
        measure_lemma3, grid_for(cfg, activation=acts, width=size.lemma3_widths, t=[1.0]),
        seeds_for(cfg, size.lemma3_seeds), desc="lemma3")
    metrics: dict[str, Any] = {"t": 1.0}
    ok = True
    series, slopes = {}, {}
    for act in acts:
        sub = table.where(activation=act)
        rd, rw = rate(sub, "width", "drift"), rate(sub, "width", "max_dw")
        metrics |= {f"{act}_drift_slope": rd.slope, f"{act}_drift_spread": rd.seed_std,
                    f"{act}_max_dw_slope": rw.slope, f"{act}_max_dw_spread": rw.seed_std}
        ok &= within(rw.slope, *LEMMA2_RANGE)
        ok &= within(rd.slope, *LEMMA2_RANGE) if act == "relu" else rd.slope <= LEMMA2_RANGE[1]
        series[f"{act} ‖H(t)−H(0)‖₂"], slopes[f"{act} ‖H(t)−H(0)‖₂"] = rd.mean, rd.slope
        series[f"{act} max_r ‖Δw_r‖"], slopes[f"{act} max_r ‖Δw_r‖"] = rw.mean, rw.slope
    narrow, wide = 2**6, size.wide
    curves = sweeps.run(
        measure_drift_curve, grid_for(cfg, activation=["relu"], width=[narrow, wide], T=[4.0]),
        seeds_for(cfg, 3), desc="lemma3 drift")
    t = curves.where(width=narrow, seed=seeds_for(cfg, 1)[0]).column("t").tolist()
    dn, dw = (np.mean(curves.where(width=m).column("rel_drift").reshape(3, -1), axis=0)
              for m in (narrow, wide))
    metrics |= {"narrow_rel_drift_at_T": float(dn[-1]), "wide_rel_drift_at_T": float(dw[-1])}
    ok &= dw[-1] <= dn[-1] / 3
    figs = [
        figures.loglog_rate("Lemma 3: kernel and weight movement at t = 1 against width",
                            rd.x, series, xlabel="width m", ylabel="distance", slopes=slopes,
                            reference_slope=-0.5),
        figures.curves("Kernel drift ‖H(t) − H(0)‖₂/‖H(0)‖₂ (relu)", t,
                       {f"narrow m = {narrow}": dn.tolist(), f"wide m = {wide}": dw.tolist()},
                       xlabel="t",
                       ylabel="relative drift"),
    ]
    return Outcome(
        key="relu_drift_slope",
        passed=ok, metrics=metrics, data={"figures": figs},
        message=f"‖H(t)−H(0)‖ ∝ m^{metrics['relu_drift_slope']:.2f} (relu), "
        f"m^{metrics['softplus_drift_slope']:.2f} (softplus); max‖Δw_r‖ ∝ "
        f"m^{metrics['relu_max_dw_slope']:.2f}; at t = 4 the kernel moved "
        f"{dn[-1]:.1%} (m = {narrow}) vs {dw[-1]:.2%} (m = {wide}).",
    )


@claim(
    "ntk.eigen_dynamics",
    title="Eigen-dynamics: each residual mode decays like e^{−λ_i t}",
    statement=r"v_i^\top(u(t) - y) = e^{-\lambda_i t}\, v_i^\top(u(0) - y),\quad "
    r"H^* = \textstyle\sum_i \lambda_i v_i v_i^\top",
    source="ntk-notes §4.1, eqs. 11–14",
    tolerance="the gap max_{t≤4,i} |v_iᵀ(u(t)−y) − e^{−λ_i t}v_iᵀ(u(0)−y)| / ‖u(0)−y‖ has "
    "pooled log-log slope in [−0.7, −0.3] against m — softplus; it is driven by H(0) − H*, "
    "m^{-1/2}, plus the drift, m^{-1}; labels: the top eigenvector's share left at T = 2 "
    "must be below the bottom one's and true labels' below random labels' (seed means), "
    "each within 0.02 of Σ_i e^{−2λ_i T}(v_iᵀy)²/‖y‖² (finite width, m^{-1/2})",
)
def check_eigen_dynamics(cfg: CheckConfig) -> Outcome:
    size = sizes(cfg)
    gap = sweeps.run(
        measure_eigen, grid_for(cfg, activation=["softplus"], width=size.dyn_widths, T=[4.0]),
        seeds_for(cfg, size.dyn_seeds), desc="eigen")
    r = rate(gap, "width", "gap")
    metrics: dict[str, Any] = {"gap_slope": r.slope, "gap_slope_spread": r.seed_std,
                               "gap_at_max_width": r.mean[-1]}
    ok = within(r.slope, *DYN_RANGE)
    label_width = size.wide // 4
    labels = sweeps.run(
        measure_labels, grid_for(cfg, activation=["softplus"], width=[label_width], T=[2.0],
                                 labels=["top", "bottom", "true", "random"]),
        seeds_for(cfg, size.label_seeds), desc="eigen labels")
    left = {k: float(np.mean(labels.where(labels=k).column("remaining")))
            for k in ("top", "bottom", "true", "random")}
    pred_err = float(np.max(np.abs(labels.column("remaining") - labels.column("predicted"))))
    metrics |= {f"remaining_{k}": v for k, v in left.items()}
    metrics["remaining_vs_predicted_max_err"] = pred_err
    ok &= left["top"] < left["bottom"] and left["true"] < left["random"] and pred_err <= 0.02
    modes = sweeps.run(
        measure_modes, grid_for(cfg, activation=["softplus"], width=[size.wide], T=[4.0]),
        seeds_for(cfg, 1), desc="eigen modes")
    t = modes.where(mode="top").column("t").tolist()
    mode_series: dict[str, list[float]] = {}
    for m in ("top", "middle", "bottom"):
        sub = modes.where(mode=m)
        lam = sub.column("lambda")[0]
        mode_series[f"{m} (λ={lam:.3g}) measured"] = sub.column("measured").tolist()
        mode_series[f"{m} predicted e^(−λt)"] = sub.column("predicted").tolist()
    figs = [
        figures.loglog_rate("Eigen-dynamics: gap to e^{−λt} against width", r.x,
                            {"gap": r.mean}, xlabel="width m", ylabel="relative gap",
                            slopes={"gap": r.slope}, reference_slope=-0.5),
        figures.curves(f"Residual modes |v_iᵀ(u(t) − y)|, m = {size.wide}", t, mode_series,
                       xlabel="t", ylabel="|v_iᵀ(u − y)|", logy=True),
        figures.bars(f"Share of the labels not yet learned at t = 2 (m = {label_width})",
                     list(left), list(left.values()), ylabel="‖y − Δu‖²/‖y‖²"),
    ]
    return Outcome(
        key="gap_slope",
        passed=bool(ok), metrics=metrics, data={"figures": figs},
        message=f"gap ∝ m^{r.slope:.2f}±{r.seed_std:.2f}; left at t = 2: top {left['top']:.3f} < "
        f"bottom {left['bottom']:.3f}, true {left['true']:.3f} < random {left['random']:.3f}.",
    )


@claim(
    "ntk.kernel_regression",
    title="Kernel-regression limit and the generalisation bound, true vs random labels",
    statement=r"f_\infty(x) = u_0(x) + k(x,X)\,H^{*-1}(y - u_0),\qquad "
    r"\text{bound} = \frac{\sqrt{2\,y^\top H^{*-1} y\cdot \mathrm{tr}\,H^*}}{n}",
    source="ntk-notes eqs. 7–8 and 15",
    tolerance="the net trained to convergence (‖u(T) − y‖/‖u(0) − y‖ ≤ 1e-4 — trained in "
    "chunks of 12/λ_min(H*) until 1e-6 or 8 chunks) against kernel "
    "regression at test points (relu): pooled log-log slope of the relative gap in "
    "[−0.7, −0.3] — H(0) − H* is m^{-1/2}; eq. 15 with relu H* solved by Cholesky: random "
    "labels give the larger bound at every n and seed (a strict inequality, no tolerance)",
)
def check_kernel_regression(cfg: CheckConfig) -> Outcome:
    size = sizes(cfg)
    kr_table = sweeps.run(
        measure_kernel_regression, grid_for(cfg, activation=["relu"], width=size.kr_widths),
        seeds_for(cfg, size.kr_seeds), desc="kernel regression")
    r = rate(kr_table, "width", "gap")
    resid = float(np.max(kr_table.column("train_residual")))
    metrics: dict[str, Any] = {"gap_slope": r.slope, "gap_slope_spread": r.seed_std,
                               "gap_at_max_width": r.mean[-1], "max_train_residual": resid}
    ok = within(r.slope, *DYN_RANGE) and resid <= 1e-4
    bound = sweeps.run(
        measure_bound, sweeps.grid(n=size.bound_ns, d=[5], labels=["true", "random"]),
        seeds_for(cfg, size.bound_seeds), desc="bound")
    true_b = bound.where(labels="true").column("bound")
    rand_b = bound.where(labels="random").column("bound")
    ok &= bool(np.all(rand_b > true_b))
    bound_true = rate(bound.where(labels="true"), "n", "bound")
    bound_random = rate(bound.where(labels="random"), "n", "bound")
    metrics |= {"bound_true_slope_in_n": bound_true.slope,
                "bound_random_slope_in_n": bound_random.slope,
                "bound_true_at_max_n": bound_true.mean[-1],
                "bound_random_at_max_n": bound_random.mean[-1],
                "random_exceeds_true_everywhere": bool(np.all(rand_b > true_b))}
    figs = [
        figures.loglog_rate("Kernel-regression limit: gap against width", r.x, {"gap": r.mean},
                            xlabel="width m", ylabel="‖f_T − KR‖/‖KR − f_0‖ at test points",
                            slopes={"gap": r.slope}, reference_slope=-0.5),
        figures.loglog_rate("Generalisation bound (eq. 15), relu H*", bound_true.x,
                            {"true labels": bound_true.mean, "random labels": bound_random.mean},
                            xlabel="n", ylabel="bound",
                            slopes={"true labels": bound_true.slope,
                                    "random labels": bound_random.slope}),
    ]
    return Outcome(
        key="gap_slope",
        passed=bool(ok), metrics=metrics, data={"figures": figs},
        message=f"gap ∝ m^{r.slope:.2f}±{r.seed_std:.2f} ({r.mean[-1]:.1e} at m = {r.x[-1]:.0f});"
        f" bound at n = {bound_true.x[-1]:.0f}: true {bound_true.mean[-1]:.2f} < random "
        f"{bound_random.mean[-1]:.2f}.",
    )


@claim(
    "ntk.deep",
    title="Deep NTK: wide MLPs converge to the recursion of eqs. 16–23",
    statement=r"\Theta^{(h+1)} = \Sigma^{(h)} + \Theta^{(h)}\dot\Sigma^{(h)};\ "
    r"\langle\partial_{W^h} f(x), \partial_{W^h} f(x')\rangle = \langle g^{h-1}(x), g^{h-1}(x')"
    r"\rangle\langle b^h(x), b^h(x')\rangle;\ \mathbb{E}\|g^{(h)}(x)\|^2 = \|x\|^2",
    source="ntk-notes eqs. 16–23",
    tolerance="relative Frobenius error of the empirical NTK (relu, erf; depth 2, 3; bias=False) "
    "against eqs. 16–23: pooled log-log slope over 8 seeds in [−0.75, −0.3] — Monte-Carlo "
    "rate −1/2; per-seed slopes spread ≈ 0.1–0.2 in deep nets, whose finite-width error "
    "also carries O(1/m) terms; eq. 22 per "
    "layer and summed against pk.tangent_kernel: 1e-12 relative (rounding); eq. 18: the mean "
    "of ‖g^h‖²/‖x‖² over seeds within 4 standard errors of 1 (Monte Carlo)",
)
def check_deep(cfg: CheckConfig) -> Outcome:
    size = sizes(cfg)
    table = sweeps.run(
        measure_deep, grid_for(cfg, activation=["relu", "erf"], depth=[2, 3],
                               width=size.deep_widths),
        seeds_for(cfg, size.deep_seeds), desc="deep")
    metrics: dict[str, Any] = {}
    series, slopes = {}, {}
    ok = True
    for act in ("relu", "erf"):
        for depth in (2, 3):
            r = rate(table.where(activation=act, depth=depth), "width", "rel_err")
            key = f"{act}_depth{depth}"
            metrics |= {f"{key}_slope": r.slope, f"{key}_slope_spread": r.seed_std}
            ok &= within(r.slope, *DEEP_RANGE)
            series[key], slopes[key] = r.mean, r.slope
    worst = measure_eq22(cfg.seed)
    metrics["eq22_max_rel_err"] = worst
    ok &= worst <= 1e-12
    norms = sweeps.run(measure_norms, sweeps.grid(depth=[3], width=[64], scale=[2.5]),
                       seeds_for(cfg, size.norm_seeds), desc="deep eq. 18")
    zs = []
    for h in (1, 2, 3):
        v = norms.where(layer=h).column("ratio")
        z = float(abs(v.mean() - 1.0) / (v.std(ddof=1) / math.sqrt(len(v))))
        metrics[f"eq18_layer{h}_mean"] = float(v.mean())
        zs.append(z)
    metrics["eq18_max_z"] = max(zs)
    ok &= max(zs) <= 4.0
    fig = figures.loglog_rate("Deep NTK: relative error against the recursion", size.deep_widths,
                              series, xlabel="width m", ylabel="‖K − Θ‖_F/‖Θ‖_F",
                              slopes=slopes, reference_slope=-0.5)
    text = ", ".join(f"{k} {metrics[f'{k}_slope']:.2f}±{metrics[f'{k}_slope_spread']:.2f}"
                     for k in series)
    return Outcome(
        key="relu_depth2_slope",
        passed=bool(ok), metrics=metrics, data={"figures": [fig]},
        message=f"slopes {text}; eq. 22 to {worst:.0e}; eq. 18 within {max(zs):.1f} s.e.",
    )
