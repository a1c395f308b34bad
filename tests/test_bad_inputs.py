"""Every bad input a new user is likely to try is answered before work starts, with a
pkverify error that says what was expected and how to fix it (issue 7, item 2)."""

from __future__ import annotations

import os
import stat
import sys
import time

import autograd.numpy as anp
import numpy as np
import pytest

import pkverify as pk
from pkverify.cli import main
from pkverify.errors import (
    InvalidArgumentError,
    NonFiniteError,
    OutputFileError,
    PkVerifyError,
    ResourceError,
    ShapeError,
    TrajectoryFileError,
)
from pkverify.validation import check_memory


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5, 2))
    return X, np.sin(X[:, 0])


@pytest.fixture(scope="module")
def model():
    return pk.models.mlp([2, 4, 1], activation="tanh")


@pytest.fixture(scope="module")
def traj(model, data):
    X, Y = data
    return pk.train(model, X, Y, lr=0.1, steps=4)


# ----- seeds --------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0", None])
def test_bad_seed_in_train(model, data, seed):
    X, Y = data
    with pytest.raises(InvalidArgumentError, match="seed must be a non-negative integer"):
        pk.train(model, X, Y, steps=2, seed=seed)


@pytest.mark.parametrize("seed", [-1, 1.5])
def test_bad_seed_everywhere_else(model, data, seed):
    X, Y = data
    with pytest.raises(InvalidArgumentError, match="non-negative integer"):
        model.init(seed)
    with pytest.raises(InvalidArgumentError, match="non-negative integer"):
        pk.models.mlp([2, 3, 1], seed=seed)
    with pytest.raises(InvalidArgumentError, match="non-negative integer"):
        pk.models.two_layer(2, 3, seed=seed)
    with pytest.raises(InvalidArgumentError, match="non-negative integer"):
        pk.gradient_flow(model, X, Y, seed=seed)
    with pytest.raises(InvalidArgumentError, match="non-negative integer"):
        pk.claims.run(["linear"], seed=seed, quick=True)


@pytest.mark.parametrize("seed", ["-1", "1.5", "abc"])
def test_bad_seed_on_the_command_line_is_a_usage_error_not_a_failed_claim(capsys, seed):
    assert main(["verify", "--claims", "linear", "--seed", seed]) == 2
    captured = capsys.readouterr()
    assert "--seed" in captured.err and "non-negative integer" in captured.err
    assert "linear.reduction" not in captured.out  # no claim ran


def test_claims_quick_must_be_a_bool():
    with pytest.raises(InvalidArgumentError, match="quick must be True or False"):
        pk.claims.run(["linear"], quick="yes")


# ----- custom models --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "f",
    [
        lambda w, X: np.asarray(X @ w),  # converts the tracer box to a plain array
        lambda w, X: np.dot(X, w),  # numpy's dot on autograd's box
        lambda w, X: X @ np.array(w),
    ],
)
def test_custom_f_written_with_plain_numpy(data, f):
    X, Y = data
    m = pk.models.custom(f, np.zeros(2))
    with pytest.raises(InvalidArgumentError, match="autograd.numpy"):
        pk.train(m, X, Y, steps=2)


def test_custom_w0_of_the_wrong_length(data):
    X, Y = data

    def f(w, X):  # needs 4 parameters
        return anp.tanh(anp.dot(X, anp.reshape(w, (2, 2))))[:, 0]

    m = pk.models.custom(f, np.zeros(3))
    with pytest.raises(InvalidArgumentError, match="length f expects"):
        pk.train(m, X, Y, steps=2)


def test_train_w0_of_the_wrong_length(model, data):
    X, Y = data
    with pytest.raises(ShapeError, match=f"shape \\({model.n_params},\\)"):
        pk.train(model, X, Y, steps=2, w0=np.zeros(3))


@pytest.mark.parametrize("w0", ["abc", np.zeros(2) + 1j, [], [np.nan, 1.0]])
def test_custom_bad_w0(w0):
    with pytest.raises(InvalidArgumentError):
        pk.models.custom(lambda w, X: anp.dot(X, w), w0)


def test_linear_features_must_be_callable():
    with pytest.raises(InvalidArgumentError, match="features must be a function"):
        pk.models.linear(2, features=3)


def test_initial_output_already_inf_is_not_blamed_on_the_step_size(data):
    X, Y = data
    m = pk.models.custom(lambda w, X: anp.exp(1000.0 * anp.dot(X, w)), np.ones(2))
    with np.errstate(over="ignore"), pytest.raises(NonFiniteError) as info:
        pk.train(m, X, Y, steps=2, lr=1e-6)
    msg = str(info.value)
    assert "before any training step" in msg and "not a step-size problem" in msg
    assert "diverged" not in msg


def test_initial_loss_already_inf_with_finite_outputs(data):
    X, _ = data
    m = pk.models.custom(lambda w, X: anp.dot(X, w), np.ones(2))
    Y = np.full(X.shape[0], 1e300)  # ½ (y − 1e300)² overflows to inf
    with np.errstate(over="ignore"), pytest.raises(NonFiniteError) as info:
        pk.train(m, X, Y, steps=2)
    assert "before any step" in str(info.value) and "diverged" not in str(info.value)


def test_regulariser_returning_a_vector(model, data):
    X, Y = data
    with pytest.raises(InvalidArgumentError, match="one real number"):
        pk.train(model, X, Y, steps=2, regularizer=lambda w: w * w)


def test_regulariser_returning_a_string(model, data):
    X, Y = data
    with pytest.raises(InvalidArgumentError, match="one real number"):
        pk.train(model, X, Y, steps=2, regularizer=lambda w: "a")


# ----- data -----------------------------------------------------------------------------------


def test_complex_inputs_are_refused_not_cast(model, data):
    X, Y = data
    with pytest.raises(InvalidArgumentError, match="complex"):
        pk.train(model, X + 1j, Y, steps=2)
    with pytest.raises(InvalidArgumentError, match="complex"):
        pk.train(model, X, Y + 1j, steps=2)
    with pytest.raises(InvalidArgumentError, match="complex"):
        pk.train(model, X, Y, steps=2, w0=model.init() + 0j)
    with pytest.raises(InvalidArgumentError, match="complex"):
        model.apply(model.init(), X.astype(complex))
    obj = np.array([[1.0, 2j]] * 5, dtype=object)  # complex hidden in an object array
    with pytest.raises(InvalidArgumentError):
        pk.train(model, obj, Y, steps=2)


def test_string_data_and_schedules(model, data):
    X, Y = data
    with pytest.raises(InvalidArgumentError):
        pk.train(model, [["a", "b"]], [1.0])
    with pytest.raises(InvalidArgumentError, match="lr"):
        pk.train(model, X, Y, steps=2, lr=["a", "b"])
    with pytest.raises(InvalidArgumentError, match="lr"):
        pk.train(model, X, Y, steps=2, lr="0.1")


def test_too_many_steps_are_refused_before_allocating(model, data):
    X, Y = data
    start = time.perf_counter()
    with pytest.raises(ResourceError, match="needs .* of memory") as info:
        pk.train(model, X, Y, steps=10**9)
    # refused from arithmetic alone: no allocation, no training (seconds would mean work)
    assert time.perf_counter() - start < 1.0
    assert "fewer steps" in str(info.value)


def test_check_memory_names_both_sizes():
    with pytest.raises(ResourceError, match="needs 2.0 GiB of memory, but only 1.0 GiB"):
        check_memory(2 * 1024**3, "this", "Do less.", available=1024**3)
    check_memory(1024, "this", "Do less.", available=1024**3)  # fits: no error


def test_gradient_flow_bad_method(model, data):
    X, Y = data
    with pytest.raises(InvalidArgumentError, match="DOP853"):
        pk.gradient_flow(model, X, Y, method="zz")


def test_kernels_need_a_model_or_a_trajectory(model, data):
    X, _ = data
    with pytest.raises(InvalidArgumentError, match="needs a pkverify Model"):
        pk.tangent_kernel("mlp", model.init(), X)
    with pytest.raises(InvalidArgumentError, match="needs a Trajectory"):
        pk.path_kernel("traj", X)
    with pytest.raises(InvalidArgumentError):
        pk.tangent_kernel(model, "w", X)


# ----- files ----------------------------------------------------------------------------------


def test_save_under_a_file(traj, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputFileError, match="is a file, not a directory"):
        traj.save(blocker / "t.npz")


def test_save_onto_a_directory(traj, tmp_path):
    with pytest.raises(OutputFileError, match="is a directory"):
        traj.save(tmp_path)


@pytest.mark.skipif(
    sys.platform == "win32" or os.geteuid() == 0, reason="root may write anywhere"
)
def test_save_into_a_read_only_directory(traj, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(OutputFileError, match="no write permission"):
            traj.save(ro / "t.npz")
    finally:
        ro.chmod(0o700)


def test_save_where_the_filesystem_refuses(traj):
    # /proc refuses new directories even to root: the OSError arrives as a pkverify error
    if not os.path.isdir("/proc/self"):
        pytest.skip("no /proc here")
    with pytest.raises(OutputFileError):
        traj.save("/proc/self/no/such/t.npz")


@pytest.mark.parametrize("path", [None, 3, "", "   "])
def test_load_needs_a_path(path):
    with pytest.raises(InvalidArgumentError, match="path"):
        pk.Trajectory.load(path)


def test_load_a_directory(tmp_path):
    with pytest.raises(TrajectoryFileError, match="is a directory"):
        pk.Trajectory.load(tmp_path)


def test_load_with_a_model_name_instead_of_a_model(traj, tmp_path):
    path = traj.save(tmp_path / "t.npz")
    with pytest.raises(InvalidArgumentError, match="needs a pkverify Model"):
        pk.Trajectory.load(path, model="mlp")


def _edit(path, out, key, change, drop_checksum=False):
    import json

    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays[key] = change(arrays[key])
    if drop_checksum:
        meta = json.loads(str(arrays["meta"]))
        meta.pop("checksum")
        meta["version"] = 1
        arrays["meta"] = np.array(json.dumps(meta))
    np.savez(out, **arrays)
    return out


def test_a_trajectory_whose_X_was_edited_is_refused(traj, tmp_path):
    path = traj.save(tmp_path / "t.npz")
    edited = _edit(path, tmp_path / "edited.npz", "X", lambda X: X + 1.0)
    with pytest.raises(TrajectoryFileError, match="changed after it was saved"):
        pk.Trajectory.load(edited)


def test_an_edited_trajectory_without_checksum_is_caught_by_its_losses(traj, tmp_path):
    path = traj.save(tmp_path / "t.npz")
    edited = _edit(path, tmp_path / "v1.npz", "X", lambda X: X * 1.01, drop_checksum=True)
    with pytest.raises(TrajectoryFileError, match="recomputed from the stored X"):
        pk.Trajectory.load(edited)
    # the untouched file, checksum removed, still loads (version-1 files stay readable)
    plain = _edit(path, tmp_path / "v1ok.npz", "X", lambda X: X, drop_checksum=True)
    assert np.array_equal(pk.Trajectory.load(plain).ws, traj.ws)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_written_files_get_the_users_umask(traj, tmp_path, capsys):
    old = os.umask(0o022)
    try:
        saved = traj.save(tmp_path / "t.npz")
        assert _mode(saved) == 0o644  # 0o666 & ~0o022, as open() would give; mkstemp gave 0o600
        out = tmp_path / "r.json"
        md = tmp_path / "r.md"
        assert main(["verify", "--quick", "--claims", "linear", "--json", str(out),
                     "--markdown", str(md)]) == 0
        assert _mode(out) == 0o644 and _mode(md) == 0o644
        os.umask(0o077)
        private = traj.save(tmp_path / "private.npz")
        assert _mode(private) == 0o600
    finally:
        os.umask(old)


# ----- the command line -----------------------------------------------------------------------


def test_json_empty_path_is_a_usage_error(capsys):
    assert main(["verify", "--claims", "linear", "--json", ""]) == 2
    assert "empty" in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--json", "--markdown"])
def test_unwritable_output_is_found_before_the_run(tmp_path, capsys, option):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    start = time.perf_counter()
    assert main(["verify", "--claims", "theorem1", option, str(blocker / "out")]) == 2
    captured = capsys.readouterr()
    assert "is a file, not a directory" in captured.err
    assert "theorem1.exact" not in captured.out  # refused before any claim ran
    assert time.perf_counter() - start < 5.0  # theorem1's claims alone take far longer


def test_output_onto_a_directory_is_refused(tmp_path, capsys):
    assert main(["verify", "--claims", "linear", "--markdown", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_every_error_is_a_pkverify_error():
    # the families a user can catch with one except clause
    for cls in (OutputFileError, ResourceError, TrajectoryFileError, ShapeError):
        assert issubclass(cls, PkVerifyError)


# ----- flags, names and other arguments found by trying every public function -----------------


@pytest.mark.parametrize(
    "call",
    [
        lambda m, X, tr: pk.models.mlp([2, 3, 1], bias="no"),
        lambda m, X, tr: pk.models.linear(2, bias="no"),
        lambda m, X, tr: pk.models.two_layer(2, 3, train_output="yes"),
        lambda m, X, tr: pk.path_kernel(tr, X, weighted="yes"),
        lambda m, X, tr: pk.tangent_kernel(m, m.init(), X, progress="yes"),
        lambda m, X, tr: pk.gradient_flow(m, X, X[:, 0], samples=3, progress="yes"),
        lambda m, X, tr: pk.progress.set_enabled("yes"),
        lambda m, X, tr: pk.l2(True),
        lambda m, X, tr: pk.models.custom(lambda w, X: anp.dot(X, w), np.zeros(2), name=3),
        lambda m, X, tr: pk.symbolic.verify_proof("theorem1", activation=["tanh"]),
        lambda m, X, tr: pk.Rule("zz"),
    ],
    ids=["mlp-bias", "linear-bias", "train_output", "weighted", "kernel-progress", "progress",
         "set_enabled", "l2-bool", "custom-name", "proof-activation-list", "Rule"],
)
def test_flags_and_names_of_the_wrong_type(model, data, traj, call):
    X, _ = data
    with pytest.raises(InvalidArgumentError):
        call(model, X, traj)


def test_plain_numpy_f_is_refused_at_custom_when_the_input_dim_is_known():
    with pytest.raises(InvalidArgumentError, match="autograd.numpy"):
        pk.models.custom(lambda w, X: np.asarray(X @ w), np.zeros(2), input_dim=2)
    # an autograd f passes, and so does an f written with numpy ufuncs autograd can trace
    pk.models.custom(lambda w, X: anp.tanh(anp.dot(X, w)), np.zeros(2), input_dim=2)
