"""Hypothesis strategies for games. Random preference games are drawn from deliberately cyclic families: a
quarter of uniform 5x5 preference matrices have a pure equilibrium, where every rule converges and nothing is
tested."""

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import games

_entries = st.floats(-10, 10, allow_nan=False, allow_infinity=False, width=64)


@st.composite
def payoff_matrices(draw, min_size=1, max_size=8):
    """General m x n payoff matrices (not 1 x 1), entries in [-10, 10]."""
    m = draw(st.integers(min_size, max_size))
    n = draw(st.integers(2 if m == 1 else min_size, max_size))
    return draw(hnp.arrays(np.float64, (m, n), elements=_entries))


@st.composite
def cyclic_games(draw, min_n=3, max_n=9, kind="cyclic"):
    """Random preference games with an interior equilibrium (``random_preference(kind='cyclic')``)."""
    n = draw(st.integers(min_n, max_n))
    seed = draw(st.integers(0, 2**31 - 1))
    return games.random_preference(seed, n, kind)


@st.composite
def preference_games(draw, min_n=2, max_n=8):
    """Any preference game: uniform, cyclic or mixed family."""
    kind = draw(st.sampled_from(games.library.RANDOM_KINDS))
    n = draw(st.integers(max(min_n, 3 if kind != "uniform" else min_n), max_n))
    return games.random_preference(draw(st.integers(0, 2**31 - 1)), n, kind)


def simplex(n):
    """Strategies on the n-simplex, zeros allowed."""
    return (
        hnp.arrays(np.float64, (n,), elements=st.floats(0, 1, width=64))
        .filter(lambda v: v.sum() > 1e-3)
        .map(lambda v: v / v.sum())
    )
