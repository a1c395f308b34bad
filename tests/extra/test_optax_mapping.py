"""optax transformations read onto pk.optim (pkverify.extra.optax_mapping).

Independent checks: the expected rules are written out by hand from optax's documented
arguments; the step sizes are those optax itself applies (measured by running its update on
a gradient of ones), not the mapping's own evaluation.
"""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="JAX is not installed (pip install 'pkverify[jax]')")
optax = pytest.importorskip("optax", reason="optax is not installed (pip install optax)")
jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

import pkverify as pk  # noqa: E402
from pkverify.errors import InvalidArgumentError  # noqa: E402
from pkverify.extra.optax_mapping import (  # noqa: E402
    OptaxRule,
    confirm,
    optimizer_rule,
    transformation_parts,
)

PARAMS = [(jnp.ones((3, 2)), jnp.zeros(3)), (jnp.full((1, 3), 0.5), jnp.zeros(1))]


@pytest.mark.parametrize("tx, expected", [
    (optax.sgd(0.1), pk.optim.gd(0.1)),
    (optax.sgd(0.1, momentum=0.0), pk.optim.gd(0.1)),
    (optax.sgd(0.1, momentum=0.9), pk.optim.sgd(0.1, momentum=0.9)),
    (optax.sgd(0.05, momentum=0.8, nesterov=True), pk.optim.sgd(0.05, momentum=0.8,
                                                                 nesterov=True)),
    (optax.chain(optax.add_decayed_weights(1e-3), optax.sgd(0.1, momentum=0.9)),
     pk.optim.sgd(0.1, momentum=0.9, weight_decay=1e-3)),
    (optax.chain(optax.add_decayed_weights(1e-3), optax.sgd(0.1)),
     pk.optim.sgd(0.1, weight_decay=1e-3)),
    (optax.adam(1e-3), pk.optim.adam(1e-3)),
    (optax.adam(2e-3, b1=0.8, b2=0.99, eps=1e-6), pk.optim.adam(2e-3, betas=(0.8, 0.99),
                                                                 eps=1e-6)),
    (optax.chain(optax.add_decayed_weights(1e-2), optax.adam(1e-3)),
     pk.optim.adam(1e-3, weight_decay=1e-2)),
    (optax.adamw(1e-3, weight_decay=0.05), pk.optim.adamw(1e-3, weight_decay=0.05)),
    (optax.adamw(1e-3), pk.optim.adamw(1e-3, weight_decay=1e-4)),  # optax's default λ
])
def test_supported_transformations_map_onto_their_pk_optim_rule(tx, expected):
    mapped = optimizer_rule(tx)
    assert mapped.rule == expected
    confirm(tx, mapped, PARAMS, rtol=1e-12)  # the same updates on probe gradients


def _applied_lrs(tx, steps):
    """The step sizes optax applies: −update/gradient for a gradient of ones, from plain
    scale_by_learning_rate chains (no momentum)."""
    state = tx.init(jnp.zeros(2))
    out = []
    for _ in range(steps):
        upd, state = tx.update(jnp.ones(2), state, jnp.zeros(2))
        out.append(-float(upd[0]))
    return out


@pytest.mark.parametrize("schedule", [
    optax.cosine_decay_schedule(0.1, decay_steps=8, alpha=0.1),
    optax.warmup_cosine_decay_schedule(0.01, 0.1, warmup_steps=3, decay_steps=10),
    optax.exponential_decay(0.1, transition_steps=2, decay_rate=0.5),
    lambda count: 0.1 / (1.0 + count),
])
def test_a_schedule_gives_the_step_sizes_optax_applies(schedule):
    mapped = optimizer_rule(optax.sgd(schedule))
    applied = _applied_lrs(optax.sgd(schedule), 10)
    assert [mapped.lr(s) for s in range(10)] == applied  # the same numbers, bit for bit
    assert len(set(applied)) > 1
    assert mapped.rule.lr == applied[0]


def test_the_chain_is_read_through_its_wrappers():
    tx = optax.chain(optax.add_decayed_weights(1e-3),
                     optax.chain(optax.trace(0.9, nesterov=True), optax.identity()),
                     optax.scale_by_learning_rate(0.1))
    assert [n for n, _ in transformation_parts(tx.update)] == [
        "add_decayed_weights", "trace", "scale"]
    mapped = optimizer_rule(tx)
    assert mapped.rule == pk.optim.sgd(0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)
    assert isinstance(mapped, OptaxRule) and mapped.lr(5) == 0.1
    named = optax.named_chain(("decay", optax.add_decayed_weights(1e-3)),
                              ("opt", optax.sgd(0.1, momentum=0.9)))
    assert optimizer_rule(named).rule == pk.optim.sgd(0.1, momentum=0.9, weight_decay=1e-3)


@pytest.mark.parametrize("tx, match", [
    (optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-3)), "'clip_by_global_norm'"),
    (optax.chain(optax.clip(0.5), optax.sgd(0.1)), "'clip' \\(clipping"),
    (optax.lamb(1e-3), "'scale_by_trust_ratio'"),
    (optax.lars(0.1), "masked\\(scale_by_trust_ratio\\)"),
    (optax.adagrad(0.1), "'scale_by_rss'"),
    (optax.rmsprop(0.1), "'scale_by_rms'"),
    (optax.amsgrad(0.1), "'scale_by_amsgrad'"),
    (optax.lookahead(optax.sgd(0.1), 2, 0.5), "'lookahead'"),
    (optax.multi_transform({"a": optax.sgd(0.1)}, lambda p: "a"), "'partition'"),
    (optax.adamw(1e-3, mask=lambda p: p), "'masked\\(add_decayed_weights\\)'"),
    (optax.inject_hyperparams(optax.adam)(learning_rate=1e-3), "'inject_hyperparams'"),
    (optax.nadam(1e-3), "Nesterov"),
    (optax.adam(1e-3, eps_root=1e-8), "eps_root"),
    (optax.chain(optax.trace(0.9), optax.add_decayed_weights(1e-3), optax.scale(-0.1)),
     "decoupled SGD decay"),
    (optax.chain(optax.add_decayed_weights(1e-3), optax.adamw(1e-3, weight_decay=1e-2)),
     "both before Adam"),
    (optax.chain(optax.scale(-0.1), optax.trace(0.9), optax.scale(1.0)), "scales the gradient"),
    (optax.trace(0.9), "does not end in a learning rate"),
    (optax.sgd(optax.linear_schedule(0.0, 0.1, 5)), "at step 0 is 0"),
    (optax.sgd(-0.1), "at step 0 is -0.1"),
    (optax.sgd(0.1, momentum=1.5), "momentum must lie in"),
    (optax.adamw(1e-3, weight_decay=optax.linear_schedule(1e-3, 0.0, 5)), "is a schedule"),
    (optax.chain(optax.scale_by_adam(), optax.trace(0.9), optax.scale(-0.1)), "2 momentum/Adam"),
    ("adam", "GradientTransformation your loop uses"),
])
def test_transformations_it_cannot_rebuild_are_refused_by_name(tx, match):
    with pytest.raises(InvalidArgumentError, match=match) as info:
        optimizer_rule(tx)
    if "cannot rebuild" in str(info.value):  # a refusal names what it can rebuild
        assert "optax.sgd (momentum, nesterov), optax.adam, optax.adamw" in str(info.value)


def test_a_users_own_transformation_is_refused_by_its_name():
    def my_update(updates, state, params=None):
        return updates, state

    tx = optax.chain(optax.GradientTransformation(lambda p: optax.EmptyState(), my_update),
                     optax.sgd(0.1))
    with pytest.raises(InvalidArgumentError, match="my_update.*optax.sgd"):
        optimizer_rule(tx)


def test_the_probe_refuses_a_transformation_that_is_not_what_its_name_says():
    """An impostor of optax's trace (an EMA: t = μ t + (1 − μ) g) defined where optax's is:
    the closure reads as sgd momentum 0.9, the probe update shows otherwise."""
    def trace(decay, nesterov=False, accumulator_dtype=None):
        def init_fn(params):
            return optax.TraceState(trace=jax.tree_util.tree_map(jnp.zeros_like, params))

        def update_fn(updates, state, params=None):
            new = jax.tree_util.tree_map(lambda g, t: (1 - decay) * g + decay * t, updates,
                                         state.trace)
            return new, optax.TraceState(trace=new)

        return optax.GradientTransformation(init_fn, update_fn)

    fake = trace(0.9)
    fake.update.__module__ = "optax.transforms._accumulation"
    fake.update.__qualname__ = "trace.<locals>.update_fn"
    tx = optax.chain(fake, optax.scale_by_learning_rate(0.1))
    mapped = optimizer_rule(tx)
    assert mapped.rule == pk.optim.sgd(0.1, momentum=0.9)  # read by its closure ...
    with pytest.raises(InvalidArgumentError, match="was read as sgd.*differs"):
        confirm(tx, mapped, PARAMS, rtol=1e-9)  # ... and refused by what it does
    confirm(optax.sgd(0.1, 0.9), optimizer_rule(optax.sgd(0.1, 0.9)), PARAMS, rtol=1e-12)


def test_float32_params_are_confirmed_at_float32_rounding():
    p32 = jax.tree_util.tree_map(lambda a: a.astype(jnp.float32), PARAMS)
    tx = optax.adam(1e-2)
    confirm(tx, optimizer_rule(tx), p32, rtol=1e-3)
    # the gap is float32's, far above float64's: a float64 tolerance refuses it
    with pytest.raises(InvalidArgumentError, match="differs"):
        confirm(tx, optimizer_rule(tx), p32, rtol=1e-14)
    assert np.isfinite(optimizer_rule(tx).lr(3))
