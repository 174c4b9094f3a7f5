"""Hypothesis strategies for property-testing update rules, metrics and solvers against exact ground truth.

Games are drawn from deliberately cyclic families: about a quarter of uniform-random 5x5 preference matrices
have a pure equilibrium, where every rule converges and nothing is tested. A random skew-symmetric payoff
built with an interior equilibrium (``random_preference(kind="cyclic")``) has rank ``n - 1`` when ``n`` is odd
(a skew-symmetric matrix has even rank), so its equilibrium is unique; for even ``n`` the kernel has dimension
2 and the equilibria form a segment. ``cyclic_games(unique=True)`` draws odd ``n`` only.

Needs ``hypothesis`` (in the test extra: ``pip install -e ".[test]"``); ``import games`` does not import this
module.

Example (a user's property test, run as a doctest with float64 on, as the project's ``conftest.py`` sets it):
the unique equilibrium of every odd cyclic game is a fixed point of COMAL: started there, with its reference
there too, it stays there. At an interior equilibrium the payoff gradient is constant, so every inner step and
every re-centring leaves the policy where it is; the duality gap stays at the LP's round-off. (COMAL at its
defaults does *not* reach a gap of 1e-6 on every such game in 3000 steps from the uniform start: hypothesis finds
``random_preference(0, 5, "cyclic")`` at 7e-3; how fast it gets there depends on the game.)

    >>> from hypothesis import given, settings
    >>> from games import testing
    >>> @settings(max_examples=3, deadline=None, database=None)
    ... @given(testing.cyclic_games(max_n=5, unique=True))
    ... def test_equilibrium_is_a_fixed_point_of_comal(game):
    ...     eq = games.solve(game)
    ...     comal = algorithms.get("comal")
    ...     trace = algorithms.run(comal, game, steps=20, record_every=20, start=eq.x, ref=eq.x)
    ...     assert float(trace.metrics["gap"][-1]) < 1e-9
    >>> test_equilibrium_is_a_fixed_point_of_comal()
"""

from __future__ import annotations

import numpy as np

try:
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "games.testing needs hypothesis: pip install -e '.[test]' (or pip install hypothesis)"
    ) from e

from .core import Game, check_int, preference_game
from .library import RANDOM_KINDS, random_preference

__all__ = ["payoff_matrices", "cyclic_games", "preference_games", "contextual_games", "simplex", "policies"]

_entries = st.floats(-10, 10, allow_nan=False, allow_infinity=False, width=64)
_seeds = st.integers(0, 2**31 - 1)


def _sizes(min_n: int, max_n: int, low: int, name: str, arg: str = "n") -> tuple[int, int]:
    """``(min, max)`` checked when the strategy is built: whole numbers ``>= low`` with ``min <= max`` (hypothesis
    would only fail when drawing)."""
    lo, hi = f"min_{arg}", f"max_{arg}"
    min_n, max_n = check_int(min_n, f"{name} {lo}", low), check_int(max_n, f"{name} {hi}", low)
    if max_n < min_n:
        raise ValueError(f"{name}: {hi} ({max_n}) must be >= {lo} ({min_n})")
    return min_n, max_n


def payoff_matrices(min_size: int = 1, max_size: int = 8):
    """General ``m x n`` payoff matrices, ``min_size <= m, n <= max_size`` (never ``1 x 1``), float64 entries in
    ``[-10, 10]``.

    Raises:
        TypeError / ValueError (at construction, not at draw time): ``min_size < 1``, ``max_size < 2`` (a game
            needs two actions on some side), or ``max_size < min_size``.

    Example:
        >>> from hypothesis import find
        >>> from games import testing
        >>> find(testing.payoff_matrices(max_size=3), lambda A: A.shape == (2, 3)).shape
        (2, 3)
    """
    lo = check_int(min_size, "payoff_matrices: min_size", 1)
    hi = check_int(max_size, "payoff_matrices: max_size", 2)
    if hi < lo:
        raise ValueError(f"payoff_matrices: max_size ({hi}) must be >= min_size ({lo})")

    @st.composite
    def draw_matrix(draw) -> np.ndarray:
        m = draw(st.integers(lo, hi))
        n = draw(st.integers(2 if m == 1 else lo, hi))
        return draw(hnp.arrays(np.float64, (m, n), elements=_entries))

    return draw_matrix()


def cyclic_games(min_n: int = 3, max_n: int = 9, *, unique: bool = False, dtype=None):
    """Random preference games with an interior equilibrium and no pure one (``random_preference(kind=
    "cyclic")``), ``min_n <= n <= max_n``.

    Args:
        unique: draw odd ``n`` only: the equilibrium is then unique (the payoff's kernel is one-dimensional),
            so strategies can be compared, not only gaps, and ``kl_to_nash`` is defined.
        dtype: the games' dtype (default: JAX's default float).

    Raises:
        ValueError: ``min_n < 3``, ``max_n < min_n``, or no odd ``n`` in range with ``unique=True``.

    Example:
        >>> from hypothesis import find
        >>> from games import testing
        >>> g = find(testing.cyclic_games(max_n=7, unique=True), lambda g: g.shape[0] == 5)
        >>> games.solve(g).unique
        True
    """
    min_n, max_n = _sizes(min_n, max_n, 3, "cyclic_games")
    sizes = [n for n in range(min_n, max_n + 1) if n % 2 or not unique]
    if not sizes:
        raise ValueError(f"cyclic_games(unique=True): no odd n in [{min_n}, {max_n}]")
    return st.builds(
        lambda seed, n: random_preference(seed, n, "cyclic", dtype=dtype), _seeds, st.sampled_from(sizes)
    )


def preference_games(min_n: int = 2, max_n: int = 8):
    """Any preference game: the uniform, cyclic or mixed family of :func:`games.random_preference`
    (``max_n = 2``: uniform only, the other families need 3 actions).

    Raises:
        TypeError / ValueError (at construction): ``min_n < 2`` or ``max_n < min_n``.
    """
    lo, hi = _sizes(min_n, max_n, 2, "preference_games")
    kinds = [k for k in RANDOM_KINDS if k == "uniform" or hi >= 3]

    @st.composite
    def draw_game(draw) -> Game:
        kind = draw(st.sampled_from(kinds))
        n = draw(st.integers(max(lo, 3 if kind != "uniform" else lo), hi))
        return random_preference(draw(_seeds), n, kind)

    return draw_game()


def contextual_games(
    min_prompts: int = 2, max_prompts: int = 4, min_n: int = 3, max_n: int = 7, unique: bool = False
):
    """Contextual preference games: ``C`` prompts, each a cyclic game of the same ``n`` (odd ``n`` with
    ``unique=True``), with prompt weights ``rho`` drawn on the simplex and bounded away from 0 (every prompt
    counts).

    Example:
        >>> from hypothesis import find
        >>> from games import testing
        >>> g = find(testing.contextual_games(max_prompts=3, max_n=5), lambda g: g.A.shape[0] == 3)
        >>> g.contextual, g.A.shape
        (True, (3, 3, 3))

    Raises:
        TypeError / ValueError (at construction): ``min_prompts < 1``, ``max_prompts < min_prompts``, and the
            sizes :func:`cyclic_games` refuses.
    """
    lo, hi = _sizes(min_prompts, max_prompts, 1, "contextual_games", "prompts")
    first = cyclic_games(min_n, max_n, unique=unique)  # checks min_n, max_n, unique now

    @st.composite
    def draw_game(draw) -> Game:
        C = draw(st.integers(lo, hi))
        one = draw(first)
        n = one.shape[0]
        P = [np.asarray(one.P)] + [
            np.asarray(random_preference(draw(_seeds), n, "cyclic").P) for _ in range(C - 1)
        ]
        w = np.asarray(draw(hnp.arrays(np.float64, (C,), elements=st.floats(0.05, 1.0, width=64))))
        return preference_game(np.stack(P), w / w.sum())

    return draw_game()


def simplex(n: int):
    """Probability vectors on the ``n``-simplex, zeros allowed (for metrics and solvers; a rule's start and
    reference must be interior: :func:`policies`)."""
    n = check_int(n, "n")
    return (
        hnp.arrays(np.float64, (n,), elements=st.floats(0, 1, width=64))
        .filter(lambda v: v.sum() > 1e-3)
        .map(lambda v: v / v.sum())
    )


def policies(game: Game, player: int = 0, min_prob: float = 1e-3):
    """Interior policies of ``player`` with the game's policy shape (``[n]``, or ``[C, n]`` on a contextual
    game), every entry at least ``min_prob``: valid ``start=`` and ``ref=`` arguments of ``run``/``sweep``.

    Raises:
        ValueError: ``min_prob`` outside ``(0, 1/n]``, or ``player`` not 0 or 1.

    Example:
        >>> from hypothesis import find
        >>> from games import testing
        >>> p = find(testing.policies(games.comal_cycle()), lambda p: p.max() > 0.9)
        >>> p.shape, bool(abs(p.sum() - 1) < 1e-12 and p.min() >= 1e-3)
        ((3,), True)
    """
    if player not in (0, 1):
        raise ValueError(f"player must be 0 or 1, got {player!r}")
    n = game.shape[player]
    shape = (*game.A.shape[:-2], n)
    if not 0 < min_prob <= 1 / n:
        raise ValueError(f"min_prob must lie in (0, 1/{n}] for {n} actions, got {min_prob!r}")

    def interior(w: np.ndarray) -> np.ndarray:  # min_prob + (1 - n min_prob) w / sum(w); a zero row: uniform
        w = np.where(w.sum(-1, keepdims=True) > 0, w, 1.0)
        return min_prob + (1 - n * min_prob) * w / w.sum(-1, keepdims=True)

    unit = st.floats(0, 1, width=64, allow_subnormal=False)  # subnormal sums lose the sum-to-1 property
    return hnp.arrays(np.float64, shape, elements=unit).map(interior)
