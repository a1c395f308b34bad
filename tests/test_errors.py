"""The error family: one base class, standard-library parents, readable messages."""

from __future__ import annotations

import pytest

import pkverify as pk
from pkverify import errors

SUBCLASSES = [
    errors.InvalidArgumentError,
    errors.ShapeError,
    errors.NonFiniteError,
    errors.EmptyDataError,
    errors.UnknownNameError,
    errors.DomainError,
    errors.DivergenceError,
    errors.BackendMissingError,
    errors.TrajectoryFileError,
    errors.SymbolicError,
]


@pytest.mark.parametrize("cls", SUBCLASSES, ids=lambda c: c.__name__)
def test_every_error_is_a_pkverify_error(cls):
    assert issubclass(cls, errors.PkVerifyError)
    assert cls.__name__ in errors.__all__


@pytest.mark.parametrize(
    "cls, parent",
    [
        (errors.InvalidArgumentError, ValueError),
        (errors.ShapeError, errors.InvalidArgumentError),
        (errors.NonFiniteError, errors.InvalidArgumentError),
        (errors.EmptyDataError, errors.InvalidArgumentError),
        (errors.DomainError, errors.InvalidArgumentError),
        (errors.UnknownNameError, KeyError),
        (errors.UnknownNameError, errors.InvalidArgumentError),
        (errors.DivergenceError, ArithmeticError),
        (errors.BackendMissingError, ImportError),
        (errors.TrajectoryFileError, OSError),
    ],
)
def test_errors_keep_standard_library_parents(cls, parent):
    # callers that catch ValueError / KeyError / ImportError / OSError keep working
    assert issubclass(cls, parent)


def test_public_api_reexports_the_same_classes():
    assert pk.PkVerifyError is errors.PkVerifyError
    assert pk.DivergenceError is errors.DivergenceError
    assert pk.errors is errors


def test_unknown_name_error_message_is_not_quoted_like_keyerror():
    err = errors.UnknownNameError("unknown loss 'x'; expected one of 'mse'.")
    assert str(err) == "unknown loss 'x'; expected one of 'mse'."
    assert str(errors.UnknownNameError()) == ""


def test_unknown_name_lists_every_known_name():
    err = errors.unknown_name("rule", "bogus", ["riemann", "exact"])
    assert isinstance(err, errors.UnknownNameError)
    msg = str(err)
    assert "unknown rule 'bogus'" in msg
    assert "expected one of 'riemann', 'exact'" in msg


def test_divergence_error_carries_its_step():
    err = errors.DivergenceError("diverged", step=7)
    assert err.step == 7
    assert str(err) == "diverged"
    assert errors.DivergenceError("no step").step is None
