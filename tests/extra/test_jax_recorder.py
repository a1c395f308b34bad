"""pk.jax.Recorder: the user's own functional optax loop recorded as a path, and the same
network, batches and optimizer recorded from PyTorch and from JAX.

Independent checks: the kernel machine of a recorded path against the framework's own output
of the trained network (computed by torch or JAX alone); the recorded weights against
``pk.train`` stepping with the mapped pk.optim rule on the same data, batches and start; and the
torch path against the JAX path (two frameworks, two optimizer libraries, one network).
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import replace

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="JAX is not installed (pip install 'pkverify[jax]')")
optax = pytest.importorskip("optax", reason="optax is not installed (pip install optax)")
jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

import pkverify as pk  # noqa: E402
from pkverify.errors import DomainError, InvalidArgumentError, PkVerifyError, ShapeError  # noqa: E402,I001

from . import twins  # noqa: E402

# float64: the machine sums S steps of products in another order than the framework's forward
# pass (rounding ~1e-16 per term over ≤ 12 steps of ≤ 50 parameters); three orders below 1e-12
RTOL64 = 1e-12
N, D, H, K = 12, 3, 8, 2
STEPS, BATCH = 12, 4


def twin(k):
    """The tanh MLP D → H → k shared with the adapter tests, buildable in both frameworks
    from the same NumPy weights (tests/extra/twins.py)."""
    return twins.mlp(sizes=(D, H, k), act="tanh", seed=0)


jax_apply = twin(K).jax()[0]  # reads the layers from the params: any k


def jax_params(k, dtype="float64"):
    return {name: jnp.asarray(a, dtype=dtype) for name, a in twin(k).jax()[1].items()}


def torch_ordered(traj):
    """A JAX path's weights in the torch module's parameter order (w0, b0, w1, b1; the
    pytree's are its sorted keys b0, b1, w0, w1)."""
    unravel = traj.model.foreign.unravel

    def one(w):
        p = unravel(jnp.asarray(w))
        return np.concatenate([np.asarray(p[f"{kind}{i}"]).ravel()
                               for i in range(2) for kind in "wb"])

    return np.stack([one(w) for w in traj.ws])


def rel(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def data(seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((N, D)), {
        "reg": rng.standard_normal((N, K)), "cls": rng.integers(0, K, N),
        "bin": rng.integers(0, 2, (N, 1)).astype(np.float64)}


def pk_batches(seed=0, steps=STEPS, batch_size=BATCH):
    """The batches pk.train draws (so that pk.train can replay the same path)."""
    rng = np.random.default_rng(seed)
    return [np.sort(rng.choice(N, size=batch_size, replace=False)) for _ in range(steps)]


COSINE = optax.cosine_decay_schedule(0.02, decay_steps=STEPS, alpha=0.1)
WARMUP = optax.warmup_cosine_decay_schedule(0.002, 0.02, warmup_steps=3, decay_steps=STEPS,
                                            end_value=0.002)


def _torch_loss(name, reduction):
    import torch

    return {"squared_error_mean": torch.nn.MSELoss, "squared_error": torch.nn.MSELoss,
            "softmax_ce": torch.nn.CrossEntropyLoss,
            "logistic": torch.nn.BCEWithLogitsLoss}[name](reduction=reduction)


def _jax_batch_loss(name, reduction):
    per = {"squared_error_mean": lambda y, t: optax.squared_error(y, t),
           "squared_error": lambda y, t: optax.squared_error(y, t),
           "softmax_ce": optax.softmax_cross_entropy_with_integer_labels,
           "logistic": optax.sigmoid_binary_cross_entropy}[name]
    return lambda y, t: getattr(per(y, t), reduction)()


# the same optimizer in both libraries (PyTorch's conventions: undampened momentum, coupled
# SGD decay before the buffer, AdamW's decay ×lr), loss, targets, schedule (None: constant)
CASES = {
    "sgd_momentum": (lambda p: __import__("torch").optim.SGD(p, lr=0.05, momentum=0.9),
                     lambda: optax.sgd(0.05, momentum=0.9), "squared_error_mean", "mean",
                     "reg", None),
    "sgd_nesterov": (lambda p: __import__("torch").optim.SGD(p, lr=0.05, momentum=0.9,
                                                             nesterov=True),
                     lambda: optax.sgd(0.05, momentum=0.9, nesterov=True), "logistic", "sum",
                     "bin", None),
    "sgd_coupled_decay": (lambda p: __import__("torch").optim.SGD(p, lr=0.05, momentum=0.9,
                                                                  weight_decay=1e-2),
                          lambda: optax.chain(optax.add_decayed_weights(1e-2),
                                              optax.sgd(0.05, momentum=0.9)),
                          "softmax_ce", "mean", "cls", None),
    "adam": (lambda p: __import__("torch").optim.Adam(p, lr=0.01),
             lambda: optax.adam(0.01), "softmax_ce", "sum", "cls", None),
    "adamw_cosine": (lambda p: __import__("torch").optim.AdamW(p, lr=0.02, weight_decay=0.05),
                     lambda: optax.adamw(COSINE, weight_decay=0.05), "squared_error", "sum",
                     "reg", COSINE),
    "adamw_warmup": (lambda p: __import__("torch").optim.AdamW(p, lr=0.02, weight_decay=0.01),
                     lambda: optax.adamw(WARMUP, weight_decay=0.01), "softmax_ce", "mean",
                     "cls", WARMUP),
}


def run_jax(case, steps=STEPS, dtype="float64"):
    """The user's functional loop: grad of the batch loss, tx.update, apply_updates,
    rec.step. Returns the final params, the recorder and X."""
    _, make_tx, loss, reduction, target, _ = CASES[case]
    X, Ys = data()
    Y = Ys[target]
    params = jax_params(1 if target == "bin" else K, dtype)
    tx = make_tx()
    state = tx.init(params)
    rec = pk.jax.Recorder(jax_apply, params, X, Y, loss=loss, reduction=reduction,
                          optimizer=tx)
    batch_loss = _jax_batch_loss(loss, reduction)
    grad = jax.jit(jax.grad(lambda p, xb, yb: batch_loss(jax_apply(p, xb), yb)))
    for rows in pk_batches(steps=steps):
        g = grad(params, jnp.asarray(X[rows], dtype), jnp.asarray(Y[rows]))
        updates, state = tx.update(g, state, params)
        params = optax.apply_updates(params, updates)
        rec.step(params, rows, state)
    return params, rec, X


def run_torch(case, steps=STEPS):
    """The same loop in PyTorch, the same weights, batches and step sizes."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    make_opt, _, loss, reduction, target, schedule = CASES[case]
    X, Ys = data()
    Xt = torch.from_numpy(X)
    Yt = torch.from_numpy(Ys[target])
    net = twin(1 if target == "bin" else K).torch()
    opt = make_opt(net.parameters())
    loss_fn = _torch_loss(loss, reduction)
    rec = pk.torch.Recorder(net, opt, Xt, Yt, loss_fn)
    for s, rows in enumerate(pk_batches(steps=steps)):
        if schedule is not None:  # optax's schedule values, set as a manual schedule
            opt.param_groups[0]["lr"] = float(schedule(jnp.asarray(s, jnp.int32)))
        idx = torch.from_numpy(rows)
        opt.zero_grad()
        loss_fn(net(Xt[idx]), Yt[idx]).backward()
        opt.step()
        rec.step(idx)
    return net, rec, X


def _output(framework, trained, Xq):
    if framework == "jax":
        out = np.asarray(jax_apply(trained, jnp.asarray(Xq)))
    else:
        import torch

        with torch.no_grad():
            out = trained(torch.from_numpy(Xq)).numpy()
    return out[:, 0] if out.shape[1] == 1 else out


FRAMEWORKS = ["jax", "torch"]
XQ = np.concatenate([data()[0][:4], np.random.default_rng(5).standard_normal((3, D))])


@functools.cache
def recorded(case, framework):
    """One recorded loop per case and framework, shared by the tests below (each loop and
    machine is built once): the trained network, the recorder, its path and exact machine.
    Any RecorderWarning or PathWarning raised here fails the test (pyproject's filter)."""
    trained, rec, _ = (run_jax if framework == "jax" else run_torch)(case)
    traj = rec.trajectory()
    return trained, rec, traj, pk.kernel_machine(traj, rule="exact")


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("case", list(CASES))
def test_the_machine_of_a_recorded_loop_is_the_trained_network(case, framework):
    trained, rec, traj, km = recorded(case, framework)
    out = _output(framework, trained, XQ)
    assert rel(km.predict(XQ), out) <= RTOL64
    C = km.contributions(XQ)
    assert C.shape[:2] == (7, N)
    assert rel(km.b(XQ) + C.sum(axis=1), out) <= RTOL64
    assert max(rec.mismatch) <= 1e-12  # each step is the rule's, from the loss's gradient
    schedule = CASES[case][5]
    if schedule is not None:  # the step sizes optax's schedule gave, as used
        expected = [float(schedule(jnp.asarray(s, jnp.int32))) for s in range(STEPS)]
        np.testing.assert_array_equal(traj.step_sizes, expected)
        assert len(set(expected)) > 2
    assert traj.kind == "sgd" and traj.batches.sum(axis=1).tolist() == [BATCH] * STEPS


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("case", list(CASES))
def test_the_recorded_path_is_pk_trains_path_with_the_mapped_optimizer(case, framework):
    _, _, traj, _ = recorded(case, framework)
    again = pk.train(traj.model, traj.X, traj.Y, loss=traj.loss, optimizer=traj.optimizer,
                     steps=traj.steps, batch_size=BATCH, seed=0, w0=traj.ws[0],
                     reduction=traj.reduction)
    np.testing.assert_array_equal(again.batches, traj.batches)
    assert rel(again.ws, traj.ws) <= RTOL64


@pytest.mark.parametrize("case", list(CASES))
def test_torch_and_jax_record_the_same_path_and_machine(case):
    """One network, one batch sequence, the optimizer written in torch.optim and in optax:
    the same pk.optim rule, step sizes and loss are read from both, and the two paths and
    kernel machines agree to rounding (each framework rounds its own forward and backward
    passes; measured ≤ 3e-15 over 12 steps for the weights, outputs and contributions)."""
    net, _, tt, km_t = recorded(case, "torch")
    _, _, tj, km_j = recorded(case, "jax")
    assert tt.optimizer == tj.optimizer
    np.testing.assert_array_equal(tt.step_sizes, tj.step_sizes)
    assert (tt.loss.name, tt.reduction) == (tj.loss.name, tj.reduction)
    ws_j = torch_ordered(tj)
    np.testing.assert_array_equal(tt.ws[0], ws_j[0])  # the same weights
    np.testing.assert_array_equal(tt.Y, tj.Y)
    assert rel(ws_j, tt.ws) <= RTOL64
    assert rel(km_j.predict(XQ), km_t.predict(XQ)) <= RTOL64
    assert rel(km_j.contributions(XQ), km_t.contributions(XQ)) <= RTOL64
    assert rel(km_j.predict(XQ), _output("torch", net, XQ)) <= RTOL64


def test_the_mapping_names_the_rule_the_loss_and_the_counts():
    _, rec, _ = run_jax("sgd_coupled_decay", steps=2)
    traj = rec.trajectory()
    assert traj.optimizer == pk.optim.sgd(0.05, momentum=0.9, weight_decay=1e-2)
    assert (traj.loss.name, traj.reduction) == ("softmax_ce", "mean")
    assert rec.rule.name == "sgd" and pk.jax.RecorderWarning is not None
    _, rec, _ = run_jax("adamw_cosine", steps=3)
    lrs = rec.trajectory().optimizer.lr
    assert isinstance(lrs, tuple) and len(lrs) == 3 and lrs[0] > lrs[2]


def test_a_recorded_path_saves_and_loads_with_its_model(tmp_path):
    _, rec, _ = run_jax("adam", steps=3)
    traj = rec.trajectory()
    traj.save(tmp_path / "t.npz")
    back = pk.Trajectory.load(tmp_path / "t.npz", model=rec.model)
    np.testing.assert_array_equal(back.ws, traj.ws)
    assert back.optimizer == traj.optimizer and back.loss.name == "softmax_ce"


def test_a_float32_loop_is_checked_at_float32_rounding():
    """float32 params: optax steps in float32; the rebuilt step (float64 rule on the float32
    gradient) and the machine agree to float32 rounding: measured 2.5e-6 (steps) and 1.0e-7
    (machine) over 12 steps, under STEP_RTOL's 1e-3 and pk.testing's float32 default (both
    ~1e4 ulps of 6e-8)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, rec, _ = run_jax("adam", dtype="float32")
    assert 1e-12 < max(rec.mismatch) <= 1e-4  # float32 rounding, not float64's
    check = pk.testing.assert_kernel_machine(rec.trajectory())
    assert check.rtol == 1e-3 and check.rel_error <= 1e-4


def test_a_recorded_relu_loop_is_rebuilt_exactly_through_its_kinks():
    """relu is read as non-smooth from the jaxpr, and the exact rule splits each recorded
    step at its switches (pk.jax's kink location): measured 1e-16 over 10 AdamW steps."""
    apply, params = twins.mlp(sizes=(D, H, K), act="relu", seed=0).jax()
    X, Ys = data()
    tx = optax.adamw(optax.cosine_decay_schedule(0.05, 10, alpha=0.1), weight_decay=1e-2)
    state = tx.init(params)
    rec = pk.jax.Recorder(apply, params, X, Ys["cls"], loss="softmax_ce", optimizer=tx)
    assert not rec.model.smooth
    grad = jax.grad(lambda p, xb, yb: optax.softmax_cross_entropy_with_integer_labels(
        apply(p, xb), yb).mean())
    for rows in pk_batches(steps=10):
        updates, state = tx.update(grad(params, X[rows], Ys["cls"][rows]), state, params)
        params = optax.apply_updates(params, updates)
        rec.step(params, rows, state)
    km = pk.kernel_machine(rec.trajectory(), rule="exact")
    assert rel(km.predict(XQ), np.asarray(apply(params, jnp.asarray(XQ)))) <= RTOL64
    assert max(rec.mismatch) <= 1e-12


def test_a_recorded_cnn_loop_on_images():
    """X given as images (n, 1, 6, 6): the input shape is taken from X, apply_fn gets the
    images back, the path records flattened rows; the machine equals the GELU CNN."""
    apply, params = twins.cnn(act="gelu", k=K, seed=0).jax()
    rng = np.random.default_rng(3)
    X, Y = rng.standard_normal((N, 1, 6, 6)), rng.integers(0, K, N)
    tx = optax.sgd(0.1, momentum=0.9)
    state = tx.init(params)
    rec = pk.jax.Recorder(apply, params, X, Y, loss="softmax_ce", optimizer=tx)
    grad = jax.grad(lambda p, xb, yb: optax.softmax_cross_entropy_with_integer_labels(
        apply(p, xb), yb).mean())
    for rows in pk_batches(steps=4):
        updates, state = tx.update(grad(params, X[rows], Y[rows]), state, params)
        params = optax.apply_updates(params, updates)
        rec.step(params, rows, state)
    traj = rec.trajectory()
    assert traj.X.shape == (N, 36) and rec.model.foreign.input_shape == (1, 6, 6)
    km = pk.kernel_machine(traj, rule="exact")
    out = np.asarray(apply(params, jnp.asarray(X[:3])))
    assert rel(km.predict(traj.X[:3]), out) <= RTOL64
    assert max(rec.mismatch) <= 1e-12


# ----- the step check names the step and the cause ------------------------------------------


def _loop(tx, steps, *, clip_at=None, skip=None, loss="squared_error_mean", Y="reg"):
    X, Ys = data()
    params = jax_params(K)
    state = tx.init(params)
    rec = pk.jax.Recorder(jax_apply, params, X, Ys[Y], loss=loss, optimizer=tx)
    grad = jax.grad(lambda p, xb, yb: optax.squared_error(jax_apply(p, xb), yb).mean())
    for s in range(steps):
        g = grad(params, X, Ys[Y])
        if s == clip_at:  # clipped in the loop, outside the optimizer
            g, _ = optax.clip_by_global_norm(1e-3).update(g, optax.EmptyState())
        updates, state = tx.update(g, state, params)
        params = optax.apply_updates(params, updates)
        if s != skip:
            yield rec, params, state, s


def test_a_gradient_clipped_outside_the_optimizer_is_named_at_its_step():
    for rec, params, state, s in _loop(optax.sgd(0.1, momentum=0.9), 4, clip_at=2):
        if s < 2:
            rec.step(params, np.arange(N), state)
        elif s == 2:
            with pytest.warns(pk.jax.RecorderWarning,
                              match=r"step 2 .*not optax's .*gradient clipped"):
                rec.step(params, np.arange(N), state)
        else:  # the momentum buffer carries the clipped step on
            with pytest.warns(pk.jax.RecorderWarning, match=r"step 3 .*gap of step 2"):
                rec.step(params, np.arange(N), state)
    # the kernel machine of the path warns in turn that it does not follow its rule
    with pytest.warns(pk.kernels.exact.PathWarning, match="step 2"):
        pk.kernel_machine(rec.trajectory(), rule="exact").predict(data()[0][:2])


def test_a_mapping_that_differs_from_optax_is_told_apart_from_the_loop():
    """The recorder replays optax on the loss's gradient: when optax's own update is what the
    loop did, the fault is pkverify's reading (here a learning rate tampered with)."""
    for rec, params, state, s in _loop(optax.adam(1e-2), 2):
        if s == 1:
            rec.mapped = replace(rec.mapped, scale=rec.mapped.scale * 1.01)
            with pytest.warns(pk.jax.RecorderWarning, match=r"step 1 .*read wrongly"):
                rec.step(params, np.arange(N), state)
        else:
            rec.step(params, np.arange(N), state)


def test_a_skipped_rec_step():
    # without opt_state the step check sees two updates in one step ...
    for rec, params, _, s in _loop(optax.sgd(0.1, momentum=0.9), 3, skip=1):
        if s < 2:
            rec.step(params, np.arange(N))
        else:
            with pytest.warns(pk.jax.RecorderWarning, match=r"step 1 .*rec.step skipped"):
                rec.step(params, np.arange(N))
    # ... with it, optax's count says so at once
    for rec, params, state, s in _loop(optax.adam(1e-2), 3, skip=1):
        if s < 2:
            rec.step(params, np.arange(N), state)
        else:
            with pytest.raises(pk.jax.RecorderError, match=r"counted \[3\].*skipped"):
                rec.step(params, np.arange(N), state)


def test_rec_step_twice_for_one_update():
    for rec, params, _, _ in _loop(optax.sgd(0.1), 1):
        rec.step(params, np.arange(N))
        with pytest.raises(pk.jax.RecorderError, match="called twice for one update"):
            rec.step(params, np.arange(N))
    for rec, params, state, _ in _loop(optax.adam(1e-2), 1):
        rec.step(params, np.arange(N), state)
        with pytest.raises(pk.jax.RecorderError, match="called twice"):
            rec.step(params, np.arange(N), state)
    assert rec.trajectory().steps == 1  # the refused call recorded nothing


# ----- bad input ---------------------------------------------------------------------------


def _rec(tx=None, loss="squared_error_mean", Y="reg", k=K, **kw):
    X, Ys = data()
    params = jax_params(k)
    Yv = Ys[Y] if isinstance(Y, str) else Y
    return pk.jax.Recorder(jax_apply, params, X, Yv, loss=loss,
                           optimizer=tx or optax.sgd(0.1), **kw), params


@pytest.mark.parametrize("tx, match", [
    (optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-3)), "'clip_by_global_norm'"),
    (optax.rmsprop(1e-3), "'scale_by_rms'"),
    (optax.lamb(1e-3), "'scale_by_trust_ratio'"),
])
def test_an_unsupported_optax_transformation_is_refused_before_any_step(tx, match):
    with pytest.raises(InvalidArgumentError, match=match + ".*rebuilds optax.sgd"):
        _rec(tx)


def test_params_of_another_structure_or_shape_are_refused():
    rec, params = _rec()
    with pytest.raises(InvalidArgumentError, match="structure"):
        rec.step({"w0": params["w0"]}, np.arange(N))
    with pytest.raises(InvalidArgumentError, match="structure"):
        rec.step([params["w0"], params["b0"], params["w1"], params["b1"]], np.arange(N))
    wrong = dict(params, w0=params["w0"][:, :2])
    with pytest.raises(InvalidArgumentError, match=r"shape \(8, 2\)"):
        rec.step(wrong, np.arange(N))
    assert rec.lrs == []


@pytest.mark.parametrize("batch, match", [([0, 0, 1], "holds a row twice"),
                                          ([N], "integers in 0..11"), ([], "integers"),
                                          ([0.5, 1.0], "integers"),
                                          ([[0, 1]], "integers")])
def test_bad_batches(batch, match):
    rec, params = _rec()
    params = jax.tree_util.tree_map(lambda a: a + 1e-3, params)
    with pytest.raises(InvalidArgumentError, match=match):
        rec.step(params, np.asarray(batch))


def test_labels_that_do_not_fit_the_loss():
    with pytest.raises(DomainError, match="class ids in 0..1"):
        _rec(loss="softmax_ce", Y=np.full(N, 5))
    with pytest.raises(DomainError, match=r"labels in \{0, 1\}"):
        _rec(loss="logistic", k=1, Y=np.full((N, 1), 0.5))
    with pytest.raises(ShapeError, match="scalar-output model"):  # one logit per input
        _rec(loss="logistic", Y=np.zeros((N, K)))
    with pytest.raises(ShapeError, match="one target per row"):
        _rec(Y=np.zeros((N - 1, K)))


def test_unknown_losses_reductions_and_inputs_are_refused():
    with pytest.raises(PkVerifyError, match="huber"):
        _rec(loss="huber")
    with pytest.raises(PkVerifyError, match="reduction"):
        _rec(reduction="none")
    X, Ys = data()
    with pytest.raises(ShapeError, match="input_shape"):
        pk.jax.Recorder(jax_apply, jax_params(K), X[:, :2], Ys["reg"],
                        loss="squared_error", optimizer=optax.sgd(0.1))


def test_a_schedule_that_reaches_zero_is_refused_at_that_step():
    tx = optax.sgd(optax.cosine_decay_schedule(0.1, decay_steps=2))  # η_2 = 0
    for rec, params, state, s in _loop(tx, 3):
        if s < 2:
            rec.step(params, np.arange(N), state)
        else:
            with pytest.raises(InvalidArgumentError, match="learning rate at update 2 is 0"):
                rec.step(params, np.arange(N), state)


def test_no_step_recorded():
    rec, _ = _rec()
    with pytest.raises(pk.jax.RecorderError, match="no step was recorded"):
        rec.trajectory()
