"""Input checks: each failure is a specific PkVerifyError naming what was expected."""

from __future__ import annotations

import numpy as np
import pytest

from pkverify.errors import EmptyDataError, InvalidArgumentError, NonFiniteError, ShapeError
from pkverify.validation import (
    as_array_in,
    as_data,
    as_targets,
    as_weights,
    positive_float,
    positive_int,
)


class TestAsData:
    def test_accepts_lists_and_returns_float64(self):
        arr = as_data([[1, 2], [3, 4]], dim=2)
        assert arr.dtype == np.float64
        assert arr.shape == (2, 2)
        np.testing.assert_array_equal(arr, [[1.0, 2.0], [3.0, 4.0]])

    def test_one_dimensional_x_suggests_reshape(self):
        with pytest.raises(ShapeError, match=r"2-D with shape \(n, d\).*reshape\(-1, 1\)"):
            as_data(np.arange(3.0))

    def test_three_dimensional_x(self):
        with pytest.raises(ShapeError, match=r"2-D with shape \(n, d\); got shape \(2, 2, 2\)"):
            as_data(np.zeros((2, 2, 2)))

    def test_empty_x(self):
        with pytest.raises(EmptyDataError, match="at least one data point"):
            as_data(np.zeros((0, 3)))

    def test_wrong_number_of_columns(self):
        with pytest.raises(ShapeError, match="d = 3 columns"):
            as_data(np.zeros((4, 2)), dim=3)

    @pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
    def test_non_finite_x(self, bad):
        X = np.ones((3, 2))
        X[1, 0] = bad
        with pytest.raises(NonFiniteError, match="1 NaN or inf"):
            as_data(X)

    def test_non_numeric_x(self):
        with pytest.raises(InvalidArgumentError, match="numeric array"):
            as_data([["a", "b"]])

    def test_name_appears_in_message(self):
        with pytest.raises(ShapeError, match="Xq must be 2-D"):
            as_data(np.ones(2), name="Xq")


class TestAsWeights:
    def test_wrong_length_names_p(self):
        with pytest.raises(ShapeError, match=r"shape \(5,\).*model.init"):
            as_weights(np.ones(4), 5)

    def test_non_finite(self):
        with pytest.raises(NonFiniteError, match="NaN or inf"):
            as_weights(np.array([1.0, np.nan]), 2)

    def test_returns_float_copy_of_the_values(self):
        w = as_weights([1, 2, 3], 3)
        assert w.dtype == np.float64
        np.testing.assert_array_equal(w, [1.0, 2.0, 3.0])


    @pytest.mark.parametrize("dtype", [np.float32, np.float64])
    @pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
    def test_every_position_of_a_non_finite_entry_is_found(self, dtype, bad):
        for at in (0, 517, 999):
            w = np.ones(1000, dtype=dtype)
            w[at] = bad
            with pytest.raises(NonFiniteError, match="NaN or inf"):
                as_weights(w, 1000, dtype=dtype)

    def test_huge_finite_weights_pass(self):
        # squares overflow float32 (3e38² = inf): the full entry-by-entry check decides
        w = np.full(10, 3e38, dtype=np.float32)
        assert as_weights(w, 10, dtype=np.float32) is w


class TestAsArrayIn:
    """Host arrays are converted once, straight to the dtype of the work."""

    @pytest.mark.parametrize("dtype", [np.float32, np.float64])
    def test_an_array_of_the_work_dtype_is_passed_through_not_copied(self, dtype):
        w = np.linspace(-1, 1, 7).astype(dtype)
        X = np.ones((3, 2), dtype=dtype)
        assert as_array_in(w, np, dtype, 7, "w", ndim=1) is w
        assert as_array_in(X, np, dtype, 2, "X") is X

    def test_float64_to_float32_in_one_conversion(self):
        X = np.arange(6.0).reshape(3, 2)
        out = as_array_in(X, np, np.float32, 2, "X")
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out, X)  # small integers: exact in float32

    def test_values_beyond_float32_are_refused_not_made_inf(self):
        X = np.array([[1.0, 1e39]])  # finite in float64, inf in float32
        with pytest.raises(NonFiniteError, match="float32, values beyond"):
            as_array_in(X, np, np.float32, 2, "X")
        assert as_array_in(X, np, np.float64, 2, "X") is X


class TestAsTargets:
    def test_mismatched_lengths(self):
        with pytest.raises(ShapeError, match="same number of rows; X has 3, Y has 2"):
            as_targets(np.zeros(2), 3)

    def test_three_dimensional(self):
        with pytest.raises(ShapeError, match=r"\(n,\) or \(n, k\)"):
            as_targets(np.zeros((3, 1, 1)), 3)

    @pytest.mark.parametrize("bad", [np.nan, np.inf])
    def test_non_finite(self, bad):
        with pytest.raises(NonFiniteError, match="finite targets"):
            as_targets(np.array([0.0, bad, 1.0]), 3)

    def test_non_numeric(self):
        with pytest.raises(InvalidArgumentError, match="numeric targets"):
            as_targets(["x", "y"], 2)

    def test_vector_targets_pass(self):
        assert as_targets(np.zeros((3, 2)), 3).shape == (3, 2)


class TestPositive:
    @pytest.mark.parametrize("bad", [0, 0.0, -1.0, np.nan, np.inf, -np.inf])
    def test_positive_float_rejects(self, bad):
        with pytest.raises(InvalidArgumentError, match="lr must be a finite number > 0"):
            positive_float(bad, "lr")

    def test_positive_float_rejects_non_numbers(self):
        with pytest.raises(InvalidArgumentError, match="lr must be a positive number"):
            positive_float("fast", "lr")

    def test_positive_float_accepts(self):
        assert positive_float(np.float32(0.5), "lr") == 0.5

    @pytest.mark.parametrize("bad", [0, -3])
    def test_positive_int_rejects_small(self, bad):
        with pytest.raises(InvalidArgumentError, match="steps must be ≥ 1"):
            positive_int(bad, "steps")

    @pytest.mark.parametrize("bad", [1.5, 2.0, True, "3", None])
    def test_positive_int_rejects_non_integers(self, bad):
        with pytest.raises(InvalidArgumentError, match="steps must be a positive integer"):
            positive_int(bad, "steps")

    def test_positive_int_accepts_numpy_integers(self):
        v = positive_int(np.int64(4), "steps")
        assert v == 4 and type(v) is int


def test_weights_that_are_not_numbers_raise_a_pkverify_error():
    import pkverify as pk

    model = pk.models.linear(2)
    with pytest.raises(pk.errors.InvalidArgumentError, match="must be numbers"):
        pk.tangent_kernel(model, ["a", "b", "c"], np.zeros((1, 2)))
