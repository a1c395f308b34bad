"""The recorded path: shapes, bookkeeping, and .npz persistence (atomic, validated)."""

from __future__ import annotations

import json
import os

import autograd.numpy as anp
import numpy as np
import pytest

import pkverify as pk
from pkverify.errors import (
    InvalidArgumentError,
    ModelRequiredError,
    OutputFileError,
    PkVerifyError,
    ShapeError,
    TrajectoryFileError,
)


@pytest.fixture
def mlp_traj(data2d):
    X, Y = data2d
    return pk.train(pk.models.mlp([2, 4, 1], activation="tanh"), X, Y, lr=0.1, steps=5)


def test_shapes(mlp_traj):
    t = mlp_traj
    S, P, n = 5, t.model.n_params, 6
    assert t.ws.shape == (S + 1, P)
    assert t.step_sizes.shape == (S,)
    assert t.batches.shape == (S, n) and t.batches.dtype == bool
    assert t.losses.shape == (S + 1,)
    assert t.times.shape == (S + 1,)
    assert t.steps == S
    assert t.T == pytest.approx(0.5, rel=1e-15)
    np.testing.assert_array_equal(t.w0, t.ws[0])
    np.testing.assert_array_equal(t.w_final, t.ws[-1])
    assert t.kind == "gd"


def test_losses_are_the_full_training_loss(mlp_traj):
    t = mlp_traj
    for w, value in zip(t.ws, t.losses):
        y = t.model.apply(w, t.X)
        assert value == pytest.approx(0.5 * np.sum((y - t.Y) ** 2), rel=1e-13)


def test_predict_uses_the_final_and_initial_weights(mlp_traj, queries2d):
    t = mlp_traj
    np.testing.assert_array_equal(t.predict(queries2d), t.model.apply(t.ws[-1], queries2d))
    np.testing.assert_array_equal(t.predict_initial(queries2d), t.model.apply(t.ws[0], queries2d))


def test_losses_non_increasing_for_small_step_on_convex_problem(data2d):
    X, Y = data2d
    A = np.hstack([X, np.ones((6, 1))])
    lam_max = np.linalg.eigvalsh(A.T @ A).max()
    lr = 0.9 / lam_max  # < 1/λ_max: each GD step on a convex quadratic cannot raise the loss
    traj = pk.train(pk.models.linear(2), X, Y, lr=lr, steps=40)
    assert np.all(np.diff(traj.losses) <= 0.0)
    assert traj.losses[-1] < 0.5 * traj.losses[0]


def test_trajectory_is_frozen(mlp_traj):
    with pytest.raises(AttributeError):
        mlp_traj.kind = "sgd"


def _assert_same(a, b):
    for name in ("X", "Y", "ws", "step_sizes", "batches", "losses", "times"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.kind == b.kind
    assert a.loss.name == b.loss.name


class TestSaveLoad:
    def test_round_trip_builtin_model(self, tmp_path, mlp_traj, queries2d):
        path = mlp_traj.save(tmp_path / "run.npz")
        assert path == tmp_path / "run.npz" and path.exists()
        back = pk.Trajectory.load(path)
        _assert_same(back, mlp_traj)
        assert back.model.spec == mlp_traj.model.spec
        np.testing.assert_array_equal(back.predict(queries2d), mlp_traj.predict(queries2d))

    def test_loaded_path_still_rebuilds_the_model(self, tmp_path, mlp_traj, queries2d):
        back = pk.Trajectory.load(mlp_traj.save(tmp_path / "run.npz"))
        pred = pk.kernel_machine(back).predict(queries2d)
        # exact rule: float64 rounding over 5 steps (see tests/test_machine.py)
        assert np.max(np.abs(pred - mlp_traj.predict(queries2d))) < 1e-10

    def test_save_adds_the_suffix(self, tmp_path, mlp_traj):
        path = mlp_traj.save(tmp_path / "run")
        assert path.name == "run.npz" and path.exists()
        _assert_same(pk.Trajectory.load(path), mlp_traj)

    def test_round_trip_sgd_logistic_two_layer(self, tmp_path, labels2d):
        X, Y = labels2d
        model = pk.models.two_layer(2, 5, activation="tanh", train_output=True, seed=4)
        traj = pk.train(model, X, Y, loss="logistic", lr=0.1, steps=4, batch_size=3)
        back = pk.Trajectory.load(traj.save(tmp_path / "sgd.npz"))
        _assert_same(back, traj)
        assert back.kind == "sgd"
        np.testing.assert_array_equal(back.predict(X), traj.predict(X))

    def test_round_trip_custom_model_passed_back(self, tmp_path, data2d):
        X, Y = data2d

        def f(w, X):
            return anp.tanh(X @ w[:2]) * w[2]

        model = pk.models.custom(f, [0.5, -0.5, 1.0])
        traj = pk.train(model, X, Y, lr=0.1, steps=3)
        path = traj.save(tmp_path / "custom.npz")
        with pytest.raises(ModelRequiredError, match="custom model; pass it back"):
            pk.Trajectory.load(path)
        back = pk.Trajectory.load(path, model=model)
        _assert_same(back, traj)
        np.testing.assert_array_equal(back.predict(X), traj.predict(X))

    def test_round_trip_l2_regularizer(self, tmp_path, data2d):
        X, Y = data2d
        traj = pk.train(pk.models.linear(2), X, Y, lr=0.05, steps=3, regularizer=pk.l2(0.25))
        back = pk.Trajectory.load(traj.save(tmp_path / "l2.npz"))
        _assert_same(back, traj)
        assert back.regularizer is not None and back.regularizer.spec == {"kind": "l2", "lam": 0.25}
        w = np.array([1.0, 2.0, 3.0])
        np.testing.assert_allclose(back.regularizer.grad(w), 0.25 * w)

    def test_custom_regularizer_must_be_passed_back(self, tmp_path, data2d):
        X, Y = data2d

        def R(w):
            return anp.sum(w**4)

        traj = pk.train(pk.models.linear(2), X, Y, lr=0.01, steps=2, regularizer=R)
        path = traj.save(tmp_path / "r.npz")
        with pytest.raises(InvalidArgumentError, match="custom regulariser"):
            pk.Trajectory.load(path)
        back = pk.Trajectory.load(path, regularizer=R)
        assert back.regularizer.value(np.ones(3)) == pytest.approx(3.0)

    def test_round_trip_flow(self, tmp_path, data2d):
        X, Y = data2d
        flow = pk.gradient_flow(pk.models.linear(2), X, Y, T=0.5, samples=4)
        back = pk.Trajectory.load(flow.save(tmp_path / "flow.npz"))
        _assert_same(back, flow)
        assert back.kind == "flow"

    def test_save_creates_parent_directories(self, tmp_path, mlp_traj):
        path = mlp_traj.save(tmp_path / "a" / "b" / "run.npz")
        assert path.exists()

    def test_failed_save_leaves_no_file(self, tmp_path, mlp_traj, monkeypatch):
        import pkverify.io

        real_fdopen = os.fdopen

        class HalfWritten:  # a partial write, then the disk fills up
            def __init__(self, fd, mode):
                self.fh = real_fdopen(fd, mode)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.fh.close()

            def write(self, data):
                self.fh.write(data[: len(data) // 2])
                raise OSError(28, "No space left on device")

        monkeypatch.setattr(pkverify.io.os, "fdopen", HalfWritten)
        with pytest.raises(OSError, match="No space left"):
            mlp_traj.save(tmp_path / "run.npz")
        assert os.listdir(tmp_path) == []

    def test_failed_save_keeps_the_previous_file(self, tmp_path, mlp_traj, monkeypatch):
        path = mlp_traj.save(tmp_path / "run.npz")
        before = path.read_bytes()

        def broken_savez(file, **arrays):
            raise OSError("disk error")

        monkeypatch.setattr(np, "savez", broken_savez)
        with pytest.raises(OSError):
            mlp_traj.save(path)
        assert path.read_bytes() == before
        assert os.listdir(tmp_path) == ["run.npz"]


class TestLoadErrors:
    def test_missing_file(self, tmp_path):
        with pytest.raises(TrajectoryFileError, match="no trajectory file"):
            pk.Trajectory.load(tmp_path / "nope.npz")

    def test_truncated_file(self, tmp_path, mlp_traj):
        path = mlp_traj.save(tmp_path / "run.npz")
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        with pytest.raises(TrajectoryFileError, match="truncated or from another program"):
            pk.Trajectory.load(path)

    def test_garbage_file(self, tmp_path):
        path = tmp_path / "junk.npz"
        path.write_bytes(b"this is not a zip archive at all")
        with pytest.raises(TrajectoryFileError, match="not a readable pkverify trajectory"):
            pk.Trajectory.load(path)

    def test_empty_file(self, tmp_path):
        path = tmp_path / "empty.npz"
        path.write_bytes(b"")
        with pytest.raises(TrajectoryFileError, match="pkverify trajectory"):
            pk.Trajectory.load(path)

    def test_other_programs_npz(self, tmp_path):
        path = tmp_path / "other.npz"
        np.savez(path, a=np.arange(3), b=np.ones(2))
        with pytest.raises(TrajectoryFileError, match="pkverify trajectory"):
            pk.Trajectory.load(path)

    def test_npz_with_a_foreign_meta_tag(self, tmp_path):
        path = tmp_path / "other.npz"
        np.savez(path, meta=np.array(json.dumps({"format": "something-else"})), ws=np.ones((2, 2)))
        with pytest.raises(TrajectoryFileError, match="not a pkverify trajectory"):
            pk.Trajectory.load(path)

    def test_npz_with_pickled_objects(self, tmp_path):
        path = tmp_path / "pickled.npz"
        np.savez(path, meta=np.array([{"format": "pkverify-trajectory"}], dtype=object))
        with pytest.raises(TrajectoryFileError, match="pkverify trajectory"):
            pk.Trajectory.load(path)

    def test_meta_that_is_json_but_not_an_object(self, tmp_path, mlp_traj):
        # a damaged meta entry that still parses as JSON (here a list) is a corrupt file
        path = mlp_traj.save(tmp_path / "run.npz")
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
        arrays["meta"] = np.array("[1, 2, 3]")
        np.savez(path, **arrays)
        with pytest.raises(TrajectoryFileError, match="pkverify trajectory"):
            pk.Trajectory.load(path)

    def test_meta_missing_its_keys(self, tmp_path, mlp_traj):
        # right format tag, every array present, but the model/loss/kind entries lost
        path = mlp_traj.save(tmp_path / "run.npz")
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
        arrays["meta"] = np.array(json.dumps({"format": "pkverify-trajectory", "version": 1}))
        np.savez(path, **arrays)
        with pytest.raises(TrajectoryFileError, match="pkverify trajectory"):
            pk.Trajectory.load(path)

    def test_arrays_that_disagree_in_length(self, tmp_path, mlp_traj):
        # ws lost rows: S + 1 = 3 weight vectors but 5 step sizes, (5, n) batches, 6 losses.
        # Loading it silently would give a path whose kernels are wrong, so it is corrupt.
        path = mlp_traj.save(tmp_path / "run.npz")
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
        arrays["ws"] = arrays["ws"][:3]
        np.savez(path, **arrays)
        with pytest.raises(TrajectoryFileError, match="pkverify trajectory"):
            pk.Trajectory.load(path)

    def test_model_spec_with_unknown_arguments(self, tmp_path, mlp_traj):
        path = mlp_traj.save(tmp_path / "run.npz")
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
        meta = json.loads(str(arrays["meta"]))
        meta["model"]["depth_multiplier"] = 3  # a spec no pkverify model accepts
        arrays["meta"] = np.array(json.dumps(meta))
        np.savez(path, **arrays)
        with pytest.raises(TrajectoryFileError, match="pkverify trajectory"):
            pk.Trajectory.load(path)

    def test_weights_that_do_not_fit_the_model(self, tmp_path, mlp_traj):
        path = mlp_traj.save(tmp_path / "run.npz")
        other = pk.models.mlp([2, 7, 1])
        with pytest.raises(TrajectoryFileError, match=r"do not fit Model\(mlp, P=29"):
            pk.Trajectory.load(path, model=other)


# ----- hand-built paths are validated like loaded files ----------------------------------------


def _fields(t):
    return dict(model=t.model, X=t.X, Y=t.Y, loss=t.loss, ws=t.ws, step_sizes=t.step_sizes,
                batches=t.batches, losses=t.losses, times=t.times, kind=t.kind)


class TestHandBuilt:
    def test_a_valid_hand_built_path_is_accepted(self, mlp_traj):
        t = pk.Trajectory(**_fields(mlp_traj))
        np.testing.assert_array_equal(t.ws, mlp_traj.ws)

    def test_zero_steps(self, mlp_traj):
        f = _fields(mlp_traj)
        f.update(ws=f["ws"][:1], step_sizes=f["step_sizes"][:0], batches=f["batches"][:0],
                 losses=f["losses"][:1], times=f["times"][:1])
        with pytest.raises(ShapeError, match="at least one step"):
            pk.Trajectory(**f)

    def test_weights_of_another_models_size(self, mlp_traj):
        f = _fields(mlp_traj)
        f["ws"] = np.zeros((f["ws"].shape[0], f["ws"].shape[1] + 3))
        with pytest.raises(ShapeError, match=r"do not fit .*another model"):
            pk.Trajectory(**f)

    def test_a_step_size_array_of_the_wrong_length(self, mlp_traj):
        f = _fields(mlp_traj)
        f["step_sizes"] = np.full(f["step_sizes"].shape[0] + 1, 0.1)
        with pytest.raises(ShapeError, match=r"step_sizes has shape \(6,\), expected \(5,\)"):
            pk.Trajectory(**f)

    @pytest.mark.parametrize("field, value, match", [
        ("model", "mlp", "needs a pkverify Model"),
        ("loss", "mse", "needs a pkverify Loss"),
        ("kind", "adam", "is not one of"),
        ("ws", "complex", "real floating-point"),
        ("step_sizes", "negative", "must be positive"),
        ("ws", "nan", "NaN or inf"),
        ("X", "columns", "columns"),
    ])
    def test_bad_fields(self, mlp_traj, field, value, match):
        f = _fields(mlp_traj)
        if value == "complex":
            value = f["ws"] + 0j
        elif value == "negative":
            value = -f["step_sizes"]
        elif value == "nan":
            value = f["ws"].copy()
            value[2, 0] = np.nan
        elif value == "columns":
            value = np.hstack([f["X"], f["X"]])
        f[field] = value
        with pytest.raises(PkVerifyError, match=match):
            pk.Trajectory(**f)


# ----- the file: every byte it holds is covered ------------------------------------------------


def _rewrite(path, out, arrays_change=None, meta_change=None):
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays.pop("meta")))
    if arrays_change:
        arrays_change(arrays)
    if meta_change:
        meta_change(meta)
    np.savez(out, meta=np.array(json.dumps(meta)), **arrays)
    return out


def _touch_array(name):
    def change(arrays):
        a = arrays[name].copy()
        if a.dtype == bool:
            a.flat[0] = not a.flat[0]
        else:
            a.flat[-1] = a.flat[-1] * (1 + 1e-12) + 1e-300
        arrays[name] = a
    return change


@pytest.mark.parametrize("name", ["X", "Y", "ws", "step_sizes", "batches", "losses", "times"])
def test_editing_any_array_is_refused(tmp_path, mlp_traj, name):
    path = mlp_traj.save(tmp_path / "run.npz")
    edited = _rewrite(path, tmp_path / "edited.npz", arrays_change=_touch_array(name))
    with pytest.raises(TrajectoryFileError, match="changed after it was saved"):
        pk.Trajectory.load(edited)


@pytest.mark.parametrize("key, value", [
    ("kind", "sgd"), ("loss", "cross_entropy"), ("regularizer", {"kind": "l2", "lam": 0.1}),
    ("model", {"kind": "mlp", "sizes": [2, 4, 1], "activation": "softplus", "bias": True}),
])
def test_editing_the_metadata_is_refused(tmp_path, mlp_traj, key, value):
    path = mlp_traj.save(tmp_path / "run.npz")

    def change(meta):
        assert key in meta  # the edit must hit a field the file really has
        meta[key] = value

    edited = _rewrite(path, tmp_path / "edited.npz", meta_change=change)
    with pytest.raises(TrajectoryFileError):
        pk.Trajectory.load(edited)


def test_the_unedited_rewrite_loads(tmp_path, mlp_traj):
    # control for the two tests above: rewriting without a change keeps the file loadable
    path = mlp_traj.save(tmp_path / "run.npz")
    same = _rewrite(path, tmp_path / "same.npz")
    _assert_same(pk.Trajectory.load(same), mlp_traj)


def test_a_version_2_file_with_an_edited_kind_is_refused(tmp_path, mlp_traj):
    from pkverify.trajectory_file import _checksum

    path = mlp_traj.save(tmp_path / "run.npz")

    def as_v2(meta, kind):
        meta["version"] = 2
        meta["kind"] = kind

    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files if k != "meta"}
    v2 = _rewrite(path, tmp_path / "v2.npz", meta_change=lambda m: (
        as_v2(m, "gd"), m.__setitem__("checksum", _checksum(arrays))))
    _assert_same(pk.Trajectory.load(v2), mlp_traj)  # an honest version-2 file still loads
    edited = _rewrite(path, tmp_path / "v2e.npz", meta_change=lambda m: (
        as_v2(m, "sgd"), m.__setitem__("checksum", _checksum(arrays))))
    with pytest.raises(TrajectoryFileError, match="metadata was edited"):
        pk.Trajectory.load(edited)


@pytest.mark.parametrize("version, match", [(99, "newer than this pkverify reads"),
                                            ("3", "no pkverify writes"), (0, "no pkverify")])
def test_format_versions_it_cannot_read(tmp_path, mlp_traj, version, match):
    path = mlp_traj.save(tmp_path / "run.npz")
    edited = _rewrite(path, tmp_path / "v.npz",
                      meta_change=lambda m: m.__setitem__("version", version))
    with pytest.raises(TrajectoryFileError, match=match):
        pk.Trajectory.load(edited)


def test_save_into_a_folder_that_does_not_exist_is_refused(tmp_path, mlp_traj, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OutputFileError, match="names a folder"):
        mlp_traj.save("runs/")
    assert list(tmp_path.iterdir()) == []  # no runs.npz beside it
    with pytest.raises(OutputFileError, match="is a directory"):
        mlp_traj.save(tmp_path)
    # a file inside a missing folder is fine: the folder is created
    assert mlp_traj.save("runs/a.npz").resolve() == tmp_path / "runs" / "a.npz"


def test_save_never_overwrites_a_file_pkverify_did_not_write(tmp_path, mlp_traj):
    theirs = tmp_path / "data.npz"
    np.savez(theirs, X=np.arange(3.0))
    before = theirs.read_bytes()
    with pytest.raises(OutputFileError, match="never overwrites"):
        mlp_traj.save(theirs)
    assert theirs.read_bytes() == before
    # its own earlier file is replaced
    mine = mlp_traj.save(tmp_path / "run.npz")
    assert mlp_traj.save(mine) == mine
    _assert_same(pk.Trajectory.load(mine), mlp_traj)


# ----- the optimizer and the reduction (format 4) ---------------------------------------------


@pytest.fixture
def adam_traj(data2d):
    X, Y = data2d
    return pk.train(pk.models.mlp([2, 5, 1], "tanh"), X, Y,
                    optimizer=pk.optim.adamw((0.01, 0.02, 0.03), weight_decay=0.1), steps=3,
                    batch_size=4, reduction="mean", progress=False)


def test_optimizer_and_reduction_round_trip(tmp_path, adam_traj):
    back = pk.Trajectory.load(adam_traj.save(tmp_path / "adam.npz"))
    assert back.optimizer == adam_traj.optimizer
    assert back.reduction == "mean"
    np.testing.assert_array_equal(back.ws, adam_traj.ws)


@pytest.mark.parametrize("change", [
    lambda m: m["optimizer"].update(name="adam"),
    lambda m: m["optimizer"].update(betas=[0.8, 0.999]),
    lambda m: m.update(reduction="sum"),
])
def test_editing_the_optimizer_is_refused(tmp_path, adam_traj, change):
    path = adam_traj.save(tmp_path / "adam.npz")
    edited = _rewrite(path, tmp_path / "edited.npz", meta_change=change)
    with pytest.raises(TrajectoryFileError, match="changed after it was saved"):
        pk.Trajectory.load(edited)


def test_version_3_files_load_as_gradient_descent(tmp_path, mlp_traj):
    """A file written before optimizers were recorded: plain GD, loss summed."""
    from pkverify.trajectory_file import _checksum

    path = mlp_traj.save(tmp_path / "run.npz")

    def as_v3(arrays, meta):
        for key in ("optimizer", "reduction"):
            meta.pop(key)
        meta["version"] = 3
        meta["checksum"] = _checksum(arrays, meta)

    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays.pop("meta")))
    as_v3(arrays, meta)
    np.savez(tmp_path / "v3.npz", meta=np.array(json.dumps(meta)), **arrays)
    back = pk.Trajectory.load(tmp_path / "v3.npz")
    assert back.optimizer == pk.optim.gd(float(mlp_traj.step_sizes[0]))
    assert back.reduction == "sum"


def test_hand_built_path_checks_its_optimizer(mlp_traj):
    import dataclasses

    with pytest.raises(pk.errors.InvalidArgumentError, match="disagrees with the recorded"):
        dataclasses.replace(mlp_traj, optimizer=pk.optim.adam(0.5))
    with pytest.raises(pk.errors.UnknownNameError, match="reduction"):
        dataclasses.replace(mlp_traj, reduction="none")
    assert dataclasses.replace(mlp_traj, optimizer=None).optimizer.plain
