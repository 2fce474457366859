"""Input contracts of the decompositions, as properties: an index set must lie in
``range(size)`` (a negative index would silently wrap around), and an overlap that is not a
number is a one-line user error, whatever the kind of bad value."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ml2bench.decomposition.base import IndexDecomposition, check_overlap
from ml2bench.errors import UserError

MODEST = settings(max_examples=40, deadline=None, derandomize=True, database=None)


@MODEST
@given(st.integers(2, 20), st.integers(1, 5))
def test_index_sets_outside_the_range_are_refused(size, below):
    """Any index < 0 or ≥ size is refused, even when the sets would cover range(size)."""
    full = torch.arange(size)
    with pytest.raises(ValueError):
        IndexDecomposition(size, [full, torch.tensor([-below])])
    with pytest.raises(ValueError):
        IndexDecomposition(size, [full, torch.tensor([size - 1 + below])])


@pytest.mark.parametrize("bad", ["a third", None, [0.1], "nan", 1.0, -0.1, float("inf")])
def test_an_overlap_that_is_not_a_number_in_0_1_is_a_user_error(bad):
    with pytest.raises(UserError):
        check_overlap(bad)
