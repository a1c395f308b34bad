"""Importing this module registers every claim family, in the order reports show them."""

from . import (
    linear,  # noqa: F401
    psd,  # noqa: F401
    remarks,  # noqa: F401
    symbolic,  # noqa: F401
    theorem1,  # noqa: F401
    vector,  # noqa: F401
)
