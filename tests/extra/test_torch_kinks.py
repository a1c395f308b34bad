"""Torch networks with piecewise-linear units: switch values captured during the forward pass
(extra.torch_switches), their kinks located along a step (kernels.switches) and the exact
rule rebuilding ReLU / LeakyReLU / max-pooling networks to rounding.

The slow, obvious reference for the kinks: the switch values written out by hand for each
network (pre-activations, and the pairwise differences of each max-pooling window through
``F.unfold``), on a dense grid of τ, each sign change bisected to the last bit.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="PyTorch is not installed (pip install 'pkverify[torch]'); the torch "
    "adapter and engine need it"
)
F = torch.nn.functional

import pkverify as pk  # noqa: E402
from pkverify.kernels.engines import engine_for  # noqa: E402
from pkverify.kernels.exact import adaptive_rtol  # noqa: E402
from pkverify.kernels.exact_rows import integrate_pieces  # noqa: E402
from pkverify.kernels.switches import locate_switches  # noqa: E402

EPS = float(np.finfo(np.float64).eps)
# float64: the machine sums the same products as the model in another order, over ≤ 6
# steps of nets of depth ≤ 3: rounding only, the bound
RTOL64 = 1e-12


def rel(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


# ----- the networks and their switch values written out by hand ----------------------------


def relu_mlp(dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 8),
                               torch.nn.ReLU(), torch.nn.Linear(8, 2)).to(dtype)


def leaky_cnn(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3, padding=1), torch.nn.LeakyReLU(0.1),
                               torch.nn.AvgPool2d(2), torch.nn.Flatten(),
                               torch.nn.Linear(27, 2)).double()


class PoolCNN(torch.nn.Module):
    """conv → F.relu → F.max_pool2d → linear: the relu and the pooling are plain calls inside
    forward, no modules, so only the captured calls can tell that the net has kinks."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 3, 3, padding=1)
        self.out = torch.nn.Linear(27, 2)

    def forward(self, x):
        return self.out(F.max_pool2d(F.relu(self.conv(x)), 2).flatten(1))


def pool_cnn(seed=0):
    torch.manual_seed(seed)
    return PoolCNN().double()


def _params(M, w):
    fm = M.foreign
    out, o = {}, 0
    for name, shape in zip(fm.names, fm.shapes):
        size = int(np.prod(shape))
        out[name] = torch.from_numpy(np.asarray(w[o:o + size])).reshape(shape)
        o += size
    return out


def _pairs_in_windows(h):
    """Every pair's difference in each 2×2 window (stride 2) of h (n, C, H, W), by F.unfold."""
    n, c = h.shape[:2]
    win = F.unfold(h, 2, stride=2).reshape(n, c, 4, -1)
    i, j = np.triu_indices(4, 1)
    return (win[:, :, i] - win[:, :, j]).reshape(n, -1)


def switches_by_hand(kind, M, w, X):
    p = _params(M, w)
    x = torch.from_numpy(X)
    if kind == "relu_mlp":
        z1 = x @ p["0.weight"].T + p["0.bias"]
        z2 = torch.relu(z1) @ p["2.weight"].T + p["2.bias"]
        return [z1, z2]
    z = F.conv2d(x.reshape(-1, 1, 6, 6), p[next(iter(p))], p[list(p)[1]], padding=1)
    if kind == "leaky_cnn":
        return [z.reshape(len(X), -1)]
    return [z.reshape(len(X), -1), _pairs_in_windows(torch.relu(z))]


NETS = {"relu_mlp": (relu_mlp, None), "leaky_cnn": (leaky_cnn, (1, 6, 6)),
        "pool_cnn": (pool_cnn, (1, 6, 6))}


def reference_kinks(kind, M, w, delta, X, grid=2001):
    """Per row, the sign changes of the hand-written switch values on a uniform grid of τ,
    bisected 55 times (to the last bit of τ)."""
    out = []
    for x in X:
        taus = np.linspace(0.0, 1.0, grid)
        vals = np.concatenate([np.concatenate([v.numpy() for v in switches_by_hand(
            kind, M, w + t * delta, x[None])], axis=1) for t in taus])  # (grid, units)
        g, u = np.nonzero(np.sign(vals[:-1]) * np.sign(vals[1:]) < 0)
        lo, hi = taus[g], taus[g + 1]
        s_lo = vals[g, u]
        for _ in range(55):
            mid = 0.5 * (lo + hi)
            s_mid = np.asarray([_unit(kind, M, w + t * delta, x, k) for t, k in zip(mid, u)])
            left = np.sign(s_lo) * np.sign(s_mid) <= 0
            hi, lo = np.where(left, mid, hi), np.where(left, lo, mid)
            s_lo = np.where(left, s_lo, s_mid)
        out.append(np.sort(0.5 * (lo + hi)))
    return out


def _unit(kind, M, w, x, k):
    return float(np.concatenate([v.numpy() for v in switches_by_hand(kind, M, w, x[None])],
                                axis=1)[0, k])


def _step(M, seed, size):
    rng = np.random.default_rng(seed)
    w = np.asarray(M.init(0), dtype=np.float64)
    return w, size * rng.standard_normal(w.size) * (np.abs(w) + 0.1)


# ----- capture ----------------------------------------------------------------------------


def test_functional_relu_and_pooling_inside_forward_are_seen():
    M = pk.torch.model(pool_cnn(), input_shape=(1, 6, 6))
    assert not M.smooth
    assert M.foreign.kinked == ("max_pool2d (call)", "relu (call)")
    assert M.foreign.unlocated == ()
    # a module of smooth layers that calls F.relu itself: no longer smooth by mistake
    class Hidden(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = torch.nn.Linear(2, 4), torch.nn.Linear(4, 1)

        def forward(self, x):
            return self.b(torch.tanh(self.a(x)).clamp(min=0.0))

    assert pk.torch.model(Hidden().double()).foreign.kinked == ("clamp (call)",)


@pytest.mark.parametrize("kind", list(NETS))
def test_captured_switch_values_are_the_hand_written_ones(kind):
    build, shape = NETS[kind]
    M = pk.torch.model(build(), input_shape=shape)
    eng = engine_for(M)
    X = np.random.default_rng(1).standard_normal((4, 3 if shape is None else 36))
    w, delta = _step(M, 2, 0.3)
    taus = np.array([0.0, 0.25, 0.5, 1.0])
    got = eng.switch_values(w, X, (delta, taus))
    for r, t in enumerate(taus):
        want = switches_by_hand(kind, M, w + t * delta, X[r:r + 1])
        assert len(got) == len(want)
        for g, h in zip(got, want):  # the same values (pairs in another order for the pool)
            np.testing.assert_allclose(np.sort(g[r]), np.sort(h.numpy()[0]), rtol=0,
                                       atol=1e-13)  # float64 sums of ≤ 30 O(1) terms


@pytest.mark.parametrize("kind", list(NETS))
def test_kinks_match_a_dense_grid_with_bisection(kind):
    build, shape = NETS[kind]
    M = pk.torch.model(build(), input_shape=shape)
    eng = engine_for(M)
    X = np.random.default_rng(3).standard_normal((3, 3 if shape is None else 36))
    w, delta = _step(M, 4, 2.0)  # a large step: many kinks per row

    def values(rows, taus):
        return eng.switch_values(w, X[rows], (delta, taus))

    found = locate_switches(values, len(X), EPS)
    assert found.unresolved == 0  # the pieces are polynomial: interpolated exactly
    ref = reference_kinks(kind, M, w, delta, X)
    assert sum(r.size for r in ref) >= 3 * len(X)  # the check has kinks to compare
    for r in range(len(X)):
        # every sign change the grid saw is located, to rounding of τ (the switch values
        # have slope O(1) in τ and values O(1): a few ulps; 1e-12 is ~5000)
        near = np.min(np.abs(found.kinks[r][None, :] - ref[r][:, None]), axis=1)
        assert np.all(near <= 1e-12), near
        # and a located kink the grid missed (two crossings inside one cell of the grid)
        # is a true zero of some hand-written switch value
        for t in found.kinks[r][np.min(np.abs(found.kinks[r][:, None] - ref[r][None, :]),
                                       axis=1, initial=np.inf) > 1e-12]:
            vals = np.concatenate([v.numpy()[0] for v in switches_by_hand(
                kind, M, w + t * delta, X[r:r + 1])])
            assert np.min(np.abs(vals)) <= 1e-12


def test_two_crossings_inside_one_grid_cell_of_a_relu_net_are_both_located():
    # 1 → 1 → 1 → 1 relu net at x = 1: z1 = (1 + τ) > 0, and the second pre-activation
    # z2 = (−1 + 2τ)(1 + τ) + c0 + c1 τ = 2(τ − c)² − 2δ²: negative on (c − δ, c + δ) only
    c, d = 0.3712, 1e-4
    net = torch.nn.Sequential(torch.nn.Linear(1, 1), torch.nn.ReLU(), torch.nn.Linear(1, 1),
                              torch.nn.ReLU(), torch.nn.Linear(1, 1)).double()
    c1, c0 = -4 * c - 1, 1 + 2 * c * c - 2 * d * d
    with torch.no_grad():
        for p, v in zip(net.parameters(), [1.0, 0.0, -1.0, c0, 1.0, 0.0]):
            p.fill_(v)
    M = pk.torch.model(net)
    eng = engine_for(M)
    w = np.asarray(M.init(0))
    delta = np.array([1.0, 0.0, 2.0, c1, 0.0, 0.0])
    Xq = np.ones((1, 1))
    grid = np.linspace(0.0, 1.0, 101)
    z2 = eng.switch_values(w, np.ones((101, 1)), (delta, grid))[1][:, 0]
    assert np.all(z2 > 0)  # a grid of 101 points never sees the dip
    found = locate_switches(lambda r, t: eng.switch_values(w, Xq[r], (delta, t)), 1, EPS)
    np.testing.assert_allclose(found.kinks[0], [c - d, c + d], rtol=0, atol=1e-12)
    I, _, plan = integrate_pieces(eng, w, delta, Xq, delta[None, :], lambda I: I[0], None)
    gap = M.f(w + delta, Xq) - M.f(w, Xq) - I[0, :, 0]
    # f(w + Δ) − f(w) = relu(z2(1)) − relu(z2(0)) ≈ 1.4 here: rounding is ~1e-16
    assert plan.residual <= adaptive_rtol(np.float64) and abs(float(gap[0])) <= 1e-15
    np.testing.assert_array_equal(np.unique(plan.taus > c - d) , [False, True])


# ----- the exact machine ---------------------------------------------------------------


def _regression(n, d, k, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.standard_normal((n, k))


def _pool_cnn_by_recorder():
    """The max-pooling CNN trained by the user's own loop: Adam, mini-batches, MSELoss."""
    net = pool_cnn(1)
    X, Y = _regression(8, 36, 2, seed=5)
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    loss_fn = torch.nn.MSELoss()
    rec = pk.torch.Recorder(net, opt, Xt, Yt, loss_fn, input_shape=(1, 6, 6))
    rng = np.random.default_rng(0)
    for _ in range(5):
        rows = rng.choice(8, 4, replace=False)
        idx = torch.from_numpy(rows)
        opt.zero_grad()
        loss_fn(net(Xt[idx].reshape(-1, 1, 6, 6)), Yt[idx]).backward()
        opt.step()
        rec.step(idx)
    return rec.trajectory(), X


def gelu_relu_mlp(seed=0):
    """GELU, then ReLU: between the ReLU's kinks the pieces are smooth, not polynomial, in τ
    (the locator raises its Chebyshev degree, the quadrature climbs its levels)."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.GELU(), torch.nn.Linear(8, 8),
                               torch.nn.ReLU(), torch.nn.Linear(8, 2)).double()


def _trained(kind):
    if kind == "pool_cnn_adam":
        return _pool_cnn_by_recorder()
    if kind == "gelu_relu_mlp":
        X, Y = _regression(10, 3, 2, seed=1)
        M = pk.torch.model(gelu_relu_mlp(1))
        return pk.train(M, X, Y, loss="mse", lr=0.1, steps=6, batch_size=5, seed=0), X
    build, shape = NETS[kind]
    M = pk.torch.model(build(seed=1), input_shape=shape)
    d = 3 if shape is None else 36
    X, Y = _regression(10, d, 2, seed=1)
    return pk.train(M, X, Y, loss="mse", lr=0.03, steps=6, batch_size=5, seed=0), X


@pytest.mark.parametrize("kind", ["relu_mlp", "leaky_cnn", "pool_cnn", "pool_cnn_adam",
                                  "gelu_relu_mlp"])
def test_exact_machine_rebuilds_piecewise_linear_nets_to_rounding(kind):
    traj, X = _trained(kind)
    assert not traj.model.smooth
    Xq = np.random.default_rng(7).standard_normal((4, X.shape[1]))
    km = pk.kernel_machine(traj, rule="exact")  # a PathWarning would fail (pyproject)
    for Z in (Xq, X):
        assert rel(km.predict(Z), traj.predict(Z)) <= RTOL64
    diag = km.diagnostics(Xq)
    assert diag.max_residual <= adaptive_rtol(np.float64)
    # the kernel pass evaluates the same per-row nodes (per-row Jacobians and kernels along
    # the steps): the training points' contributions and b add up to the model
    C = km.contributions(Xq)
    assert rel(km.b(Xq) + C.sum(axis=1), traj.predict(Xq)) <= RTOL64


def test_relu_mlp_pieces_are_polynomial_so_the_first_level_is_exact():
    # a 2-hidden-layer relu MLP: between kinks f(w + τΔ) is a polynomial of degree 3 in τ,
    # ∇f·Δ one of degree ≤ 2, and Fejér's rule with 3 nodes is exact to degree 2: every
    # row stops at the first level, 3 gradient evaluations per piece
    traj, _ = _trained("relu_mlp")
    eng = engine_for(traj.model)
    Xq = np.random.default_rng(7).standard_normal((5, 3))
    w, delta = traj.ws[0], traj.ws[1] - traj.ws[0]
    I, _, plan = integrate_pieces(eng, w, delta, Xq, delta[None, :], lambda I: I[0], None)
    found = locate_switches(lambda r, t: eng.switch_values(w, Xq[r], (delta, t)), 5, EPS)
    pieces = np.asarray([k.size + 1 for k in found.kinks])
    assert pieces.sum() > 5  # some rows cross kinks on this step
    np.testing.assert_array_equal(np.bincount(plan.rows, minlength=5), 3 * pieces)
    assert plan.residual <= adaptive_rtol(np.float64)


def test_float32_relu_net_is_rebuilt_at_float32_rounding():
    M = pk.torch.model(relu_mlp(torch.float32, seed=1))
    X, Y = _regression(10, 3, 2, seed=1)
    traj = pk.train(M, X, Y, loss="mse", lr=0.1, steps=4)
    km = pk.kernel_machine(traj, rule="exact")
    assert km.dtype == np.float32
    # float32: the exact rule's target is 45 ulps of float32 per step (adaptive_rtol:
    # 5.4e-6 relative; the kinks are located to float32 rounding of the switch values), so
    # 4 steps stay within 4 × 5.4e-6 ≈ 2.2e-5, and 5e-5 leaves a factor 2 for the forward
    # passes' own rounding. Measured: 1.7e-7 here, against 9.6e-4 when the same steps are
    # integrated across their kinks without locating them
    assert rel(km.predict(X), traj.predict(X)) <= 5e-5


def test_kinked_steps_cost_against_a_smooth_net():
    """Measured, not a speed test: gradient and switch evaluations per row and step of the
    relu MLP against the same net with tanh (printed with -s)."""
    out = {}
    for act in (torch.nn.ReLU, torch.nn.Tanh):
        torch.manual_seed(1)
        net = torch.nn.Sequential(torch.nn.Linear(3, 8), act(), torch.nn.Linear(8, 8), act(),
                                  torch.nn.Linear(8, 2)).double()
        X, Y = _regression(10, 3, 2, seed=1)
        traj = pk.train(pk.torch.model(net), X, Y, loss="mse", lr=0.1, steps=6)
        t0 = time.perf_counter()
        km = pk.kernel_machine(traj, rule="exact")
        km.predict(X)
        diag = km.diagnostics(X)
        out[act.__name__] = (time.perf_counter() - t0, float(np.mean(diag.evaluations)))
    print(out)
    assert out["ReLU"][1] >= 3 and out["Tanh"][1] >= 1


def test_per_row_products_in_row_chunks_equal_one_batch(monkeypatch):
    import pkverify.kernels.engines.torch as torch_engine

    M = pk.torch.model(relu_mlp())
    eng = engine_for(M)
    rng = np.random.default_rng(0)
    X, U = rng.standard_normal((7, 3)), rng.standard_normal((2, M.n_params))
    w, delta = _step(M, 1, 0.3)
    along = (delta, rng.uniform(0.0, 1.0, 7))
    y1, dY1 = eng.jvp(w, X, U, along)
    # a budget of 2 rows of (tangents + 1) per-row weight vectors: 4 chunks
    monkeypatch.setattr(torch_engine, "DEFAULT_MEMORY", 4 * 3 * M.n_params * 8 * 2)
    y2, dY2 = eng.jvp(w, X, U, along)
    np.testing.assert_array_equal(dY1, dY2)  # the same products row by row, no sums between
    np.testing.assert_array_equal(y1, y2)


def _captured(fn, *args):
    from pkverify.extra.torch_switches import SwitchCapture

    cap = SwitchCapture()
    with cap:
        fn(*args)
    return [np.sort(s.detach().numpy().ravel()) for s in cap.switches], cap.unlocated


def _pairs_unfold(x, kernel, stride, padding, dilation):
    """Pairwise differences per window by F.unfold (zero padding, pairs with a padded element
    held at 1): the obvious version of the pooling switch values."""
    n, c = x.shape[:2]
    win = F.unfold(x, kernel, dilation=dilation, padding=padding, stride=stride)
    ones = F.unfold(torch.ones_like(x), kernel, dilation=dilation, padding=padding,
                    stride=stride)
    k = int(np.prod(kernel)) if isinstance(kernel, tuple) else kernel * kernel
    win, ones = win.reshape(n, c, k, -1), ones.reshape(n, c, k, -1)
    i, j = np.triu_indices(k, 1)
    valid = ones[:, :, i] * ones[:, :, j]
    return np.sort(((win[:, :, i] - win[:, :, j]) * valid + (1 - valid)).numpy().ravel())


def test_each_kinked_op_records_the_values_whose_signs_switch_it():
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((2, 3, 5, 6)))
    y = torch.from_numpy(np.random.default_rng(1).standard_normal((2, 3, 5, 6)))
    s = np.sort
    cases = [
        (lambda: F.hardtanh(x, -0.5, 0.7), [x + 0.5, x - 0.7]),
        (lambda: F.relu6(x), [x, x - 6.0]),
        (lambda: x.clamp(min=-0.2), [x + 0.2]),
        (lambda: torch.clamp(x, y, None), [x - y]),
        (lambda: F.leaky_relu(x, 0.2), [x]),
        (lambda: F.threshold(x, 0.3, 0.3), [x - 0.3]),
        (lambda: torch.maximum(x, y), [x - y]),
        (lambda: x.abs(), [x]),
        (lambda: F.hardswish(x), [x + 3.0, x - 3.0]),
        (lambda: F.elu(x, alpha=1.0), []),  # C¹: counted smooth (the module docstring)
        (lambda: F.gelu(x), []),
    ]
    for fn, want in cases:
        got, unlocated = _captured(fn)
        assert unlocated == [] and len(got) == len(want)
        for g, h in zip(got, want):
            np.testing.assert_array_equal(g, s(h.numpy().ravel()))
    for kernel, stride, padding, dilation in [(2, 2, 0, 1), (3, 1, 1, 1), (2, 1, 1, 2),
                                              ((2, 3), (1, 2), (1, 0), (1, 1))]:
        got, _ = _captured(F.max_pool2d, x, kernel, stride, padding, dilation)
        np.testing.assert_array_equal(got[0], _pairs_unfold(x, kernel, stride, padding,
                                                            dilation))
    got, _ = _captured(lambda: F.max_pool1d(x[:, :, 0], 3, 2))  # as a 1 × 3 window in 2-d
    np.testing.assert_array_equal(got[0], _pairs_unfold(x[:, :, :1], (1, 3), (1, 2), 0, 1))
    got, _ = _captured(lambda: x.amax(dim=(2, 3)))
    flat = x.reshape(2, 3, -1).numpy()
    i, j = np.triu_indices(30, 1)
    np.testing.assert_array_equal(got[0], s((flat[..., i] - flat[..., j]).ravel()))
    assert _captured(lambda: F.max_pool2d(x, 2, ceil_mode=True))[1] == ["max_pool2d"]
    assert _captured(lambda: F.adaptive_max_pool2d(x, 2))[1] == ["adaptive_max_pool2d"]
