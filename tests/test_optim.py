"""pkverify.optim against PyTorch's update rules written out by hand, and against
torch.optim itself when torch is installed."""

from __future__ import annotations

import numpy as np
import pytest

from pkverify import optim
from pkverify.errors import InvalidArgumentError, UnknownNameError

P, S = 5, 7
_A = np.random.default_rng(3).standard_normal((P, P))
_A = _A @ _A.T / P + 0.1 * np.eye(P)
_C = np.random.default_rng(4).standard_normal(P)
W0 = np.random.default_rng(5).standard_normal(P)


def grad(w: np.ndarray) -> np.ndarray:
    """∇ of the quadratic ½ wᵀAw + cᵀw: a gradient that depends on w, so weight decay and the
    order of operations show."""
    return _A @ w + _C


def pk_path(opt: optim.Optimizer, steps: int = S) -> np.ndarray:
    eta = opt.step_sizes(steps)
    w, state, path = W0.copy(), optim.OptimizerState(), [W0.copy()]
    for s in range(steps):
        g = opt.gradient(grad(w), w)
        parts, dec, _, state = opt.advance(state, g[None, :], w, float(eta[s]), s, total=g)
        w = w + (parts[0] + dec)
        path.append(w)
    return np.array(path)


def hand_sgd(lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    """torch/optim/sgd.py's _single_tensor_sgd, line by line."""
    lrs = np.broadcast_to(np.asarray(lr, float), (S,))
    w, buf, path = W0.copy(), None, [W0.copy()]
    for s in range(S):
        d_p = grad(w)
        if weight_decay != 0:
            d_p = d_p + weight_decay * w
        if momentum != 0:
            buf = d_p.copy() if buf is None else momentum * buf + (1 - dampening) * d_p
            d_p = d_p + momentum * buf if nesterov else buf
        w = w - lrs[s] * d_p
        path.append(w)
    return np.array(path)


def hand_adam(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
    """torch/optim/adam.py's _single_tensor_adam (decoupled=True: AdamW), line by line."""
    lrs = np.broadcast_to(np.asarray(lr, float), (S,))
    b1, b2 = betas
    w, m, v, path = W0.copy(), np.zeros(P), np.zeros(P), [W0.copy()]
    for s in range(S):
        g = grad(w)
        t = s + 1
        if decoupled:
            w = w * (1 - lrs[s] * weight_decay)
        elif weight_decay != 0:
            g = g + weight_decay * w
        m = m + (g - m) * (1 - b1)  # torch: exp_avg.lerp_(grad, 1 - beta1)
        v = v * b2 + (1 - b2) * g * g
        step_size = lrs[s] / (1 - b1**t)
        denom = np.sqrt(v) / np.sqrt(1 - b2**t) + eps
        w = w - step_size * m / denom
        path.append(w)
    return np.array(path)


SCHEDULE = tuple(0.1 * (1.0 + 0.5 * np.sin(np.arange(S))))

CASES = [
    ("gd", optim.gd(0.1), lambda: hand_sgd(0.1)),
    ("gd-schedule", optim.gd(SCHEDULE), lambda: hand_sgd(SCHEDULE)),
    ("sgd-wd", optim.sgd(0.1, weight_decay=0.05), lambda: hand_sgd(0.1, weight_decay=0.05)),
    ("momentum", optim.sgd(0.1, momentum=0.9), lambda: hand_sgd(0.1, momentum=0.9)),
    ("dampening", optim.sgd(0.1, momentum=0.8, dampening=0.3),
     lambda: hand_sgd(0.1, momentum=0.8, dampening=0.3)),
    ("nesterov-wd", optim.sgd(SCHEDULE, momentum=0.9, nesterov=True, weight_decay=0.01),
     lambda: hand_sgd(SCHEDULE, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("adam", optim.adam(0.05), lambda: hand_adam(0.05)),
    ("adam-wd-schedule", optim.adam(SCHEDULE, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
     lambda: hand_adam(SCHEDULE, (0.8, 0.99), 1e-6, 0.1)),
    ("adamw", optim.adamw(0.05), lambda: hand_adam(0.05, weight_decay=1e-2, decoupled=True)),
    ("adamw-strong", optim.adamw(SCHEDULE, weight_decay=0.5),
     lambda: hand_adam(SCHEDULE, weight_decay=0.5, decoupled=True)),
]
IDS = [c[0] for c in CASES]

# the same float64 operations in a different order (z = μ·buf for Nesterov, m by lerp):
# paths agree to a few ulps per step over 7 steps of O(1) weights
ROUNDING = 1e-13


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_rule_matches_pytorch_written_out(case):
    _, opt, hand = case
    np.testing.assert_allclose(pk_path(opt), hand(), rtol=0, atol=ROUNDING)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_coefficients_rebuild_the_direction(case):
    """d_s = α_s (z_s + ν g_s) equals Σ_{r≤s} c_{s,r} g_r: the weights the reverse recursion
    sums are the rule's own."""
    _, opt, _ = case
    rng = np.random.default_rng(0)
    G = rng.standard_normal((S, P))
    state = optim.OptimizerState()
    for s in range(S):
        z = opt.buffers(state, G[s][None, :], s)
        state = optim.OptimizerState(z, None)
        d = opt.direction(z, G[s][None, :], None, 1.0, s)[0]
        expected = -sum(opt.coefficient(s, r) * G[r] for r in range(s + 1))
        np.testing.assert_allclose(d, expected, rtol=0, atol=ROUNDING)


def test_momentum_coefficients_by_hand():
    """PyTorch's SGD: buf_0 = g_0 (no dampening at the first step), then dampened."""
    opt = optim.sgd(0.1, momentum=0.5, dampening=0.25)
    assert opt.coefficient(0, 0) == 1.0
    assert opt.coefficient(2, 0) == 0.25  # μ²
    assert opt.coefficient(2, 1) == 0.5 * 0.75  # μ (1 − d)
    assert opt.coefficient(2, 2) == 0.75
    nest = optim.sgd(0.1, momentum=0.5, nesterov=True)
    assert nest.coefficient(0, 0) == 1.5  # g_0 + μ buf_0
    assert nest.coefficient(1, 0) == 0.25
    a = optim.adam(betas=(0.5, 0.9))
    assert a.coefficient(1, 0) == pytest.approx(0.5 * 0.5 / (1 - 0.25), rel=1e-15)


def test_spec_round_trip():
    for _, opt, _ in CASES:
        assert optim.from_spec(opt.spec) == opt
    assert optim.as_optimizer("adam") == optim.adam()
    assert optim.adamw().weight_decay == 1e-2 and optim.adam().lr == 1e-3


def test_plain_is_gradient_descent_only():
    assert optim.gd(0.1).plain and optim.sgd(0.1).plain
    assert not optim.sgd(0.1, momentum=0.9).plain
    assert not optim.sgd(0.1, weight_decay=0.1).plain
    assert not optim.adam().plain


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda: optim.as_optimizer("rmsprop"), "unknown optimizer"),
        (lambda: optim.from_spec({"name": "lion"}), "unknown optimizer"),
        (lambda: optim.adam(betas=(0.9, 1.0)), "[0, 1)"),
        (lambda: optim.adam(betas=(-0.1, 0.9)), "≥ 0"),
        (lambda: optim.adamw(betas=0.9), "pair"),
        (lambda: optim.adam(eps=-1e-8), "eps"),
        (lambda: optim.sgd(-0.1), "lr"),
        (lambda: optim.gd(0.0), "lr"),
        (lambda: optim.gd([0.1, -0.1]), "lr"),
        (lambda: optim.sgd(0.1, weight_decay=-1.0), "weight_decay"),
        (lambda: optim.adamw(weight_decay=-0.01), "weight_decay"),
        (lambda: optim.sgd(0.1, momentum=1.5), "momentum"),
        (lambda: optim.sgd(0.1, momentum=0.9, dampening=0.1, nesterov=True), "dampening"),
        (lambda: optim.sgd(0.1, nesterov=True), "momentum > 0"),
        (lambda: optim.gd((0.1, 0.2)).step_sizes(3), "one entry per step"),
        (lambda: optim.parse_reduction("avg"), "reduction"),
        (lambda: optim.as_optimizer(0.1), "optimizer must be"),
    ],
)
def test_bad_input_is_a_clear_error(make, words):
    with pytest.raises(InvalidArgumentError, match=None) as info:
        make()
    assert words in str(info.value)


def test_unknown_names_list_the_known_ones():
    with pytest.raises(UnknownNameError, match="'adamw'"):
        optim.as_optimizer("adamax")
    with pytest.raises(UnknownNameError, match="'mean'"):
        optim.parse_reduction("none")


def test_mean_reduction_weights():
    batches = np.array([[True, False, True, True], [True, True, True, True]])
    np.testing.assert_array_equal(optim.batch_weights(batches, "sum"), batches.astype(float))
    np.testing.assert_allclose(optim.batch_weights(batches, "mean"),
                               [[1 / 3, 0, 1 / 3, 1 / 3], [0.25] * 4], rtol=1e-15)


# ----- torch.optim itself ----------------------------------------------------------------------

TORCH_CASES = {
    "gd": (optim.gd(0.1), "SGD", dict(lr=0.1)),
    "momentum-damp-wd": (optim.sgd(0.1, momentum=0.8, dampening=0.3, weight_decay=0.05),
                         "SGD", dict(lr=0.1, momentum=0.8, dampening=0.3, weight_decay=0.05)),
    "nesterov": (optim.sgd(0.1, momentum=0.9, nesterov=True), "SGD",
                 dict(lr=0.1, momentum=0.9, nesterov=True)),
    "adam-wd": (optim.adam(0.05, betas=(0.8, 0.99), weight_decay=0.1), "Adam",
                dict(lr=0.05, betas=(0.8, 0.99), weight_decay=0.1)),
    "adamw": (optim.adamw(0.05), "AdamW", dict(lr=0.05)),
}


@pytest.mark.parametrize("name", list(TORCH_CASES))
def test_rule_matches_torch_optim(name):
    torch = pytest.importorskip("torch", reason="torch is not installed (pip install "
                                "'pkverify[torch]' runs this comparison)")
    opt, cls, kwargs = TORCH_CASES[name]
    p = torch.nn.Parameter(torch.tensor(W0, dtype=torch.float64))
    topt = getattr(torch.optim, cls)([p], foreach=False, **kwargs)
    path = [W0.copy()]
    for _ in range(S):
        topt.zero_grad()
        p.grad = torch.tensor(grad(p.detach().numpy()), dtype=torch.float64)
        topt.step()
        path.append(p.detach().numpy().copy())
    np.testing.assert_allclose(pk_path(opt), np.array(path), rtol=0, atol=1e-12)
