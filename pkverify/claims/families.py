"""Importing this module registers every claim family, in the order reports show them."""

# ruff: noqa: F401, I001  (the import order is the report order)
from . import theorem1
from . import linear
from . import psd
from . import remarks
from . import symbolic
from . import ntk
from . import optim
