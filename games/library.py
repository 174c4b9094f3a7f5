"""Named games, each with its source. All preference games are symmetric (``A = P - 1/2``)."""

from __future__ import annotations

import numpy as np

from .core import Game, _as_float_array, check_int, check_seed, matrix_game, preference_game

__all__ = [
    "comal_cycle",
    "rock_paper_scissors",
    "biased_rock_paper_scissors",
    "condorcet_cycle",
    "bradley_terry",
    "random_preference",
    "dominated_response",
    "duplicated_response",
    "llmfao",
    "RANDOM_KINDS",
]

#: The 3x3 non-transitive preference game of the COMAL paper.
COMAL_CYCLE_P = np.array([[0.5, 0.1, 0.8], [0.9, 0.5, 0.1], [0.2, 0.9, 0.5]])


def comal_cycle(**kw) -> Game:
    """The paper's 3x3 non-transitive preference game (Liu et al., arXiv 2410.23223, Sec. 5).

    ``P = [[.5, .1, .8], [.9, .5, .1], [.2, .9, .5]]``; unique Nash equilibrium ``(4/11, 3/11, 4/11)``.
    """
    return preference_game(COMAL_CYCLE_P, **kw)


def rock_paper_scissors(**kw) -> Game:
    """Rock-paper-scissors as a preference game: the winner wins with probability 1. NE uniform."""
    return condorcet_cycle(3, 1.0, **kw)


def biased_rock_paper_scissors(**kw) -> Game:
    """Biased RPS (OpenSpiel's ``matrix_brps``; Lanctot et al.): payoff ``[[0,-25,50],[25,0,-5],[-50,5,0]]``.

    A skew-symmetric matrix game with unique NE ``(1/16, 10/16, 5/16)`` and value 0.
    """
    return matrix_game([[0.0, -25.0, 50.0], [25.0, 0.0, -5.0], [-50.0, 5.0, 0.0]], **kw)


def _check_prob(p, name: str, low: float = 0.0, high: float = 1.0) -> float:
    if isinstance(p, bool) or np.ndim(p) != 0:
        raise TypeError(f"{name} must be a real number, got {p!r}")
    p = float(p)
    if not (low <= p <= high):
        raise ValueError(f"{name} must lie in [{low}, {high}], got {p}")
    return p


def condorcet_cycle(n: int, p: float, **kw) -> Game:
    """An n-cycle: action ``i`` beats ``i+1 (mod n)`` with probability ``p``; all other pairs are ties (1/2).

    The uniform policy is a Nash equilibrium (the game is circulant); it is the unique one for odd ``n`` and
    ``p != 1/2``. ``condorcet_cycle(3, 1)`` is rock-paper-scissors.
    """
    n = check_int(n, "n", 3)
    p = _check_prob(p, "p")
    P = np.full((n, n), 0.5)
    for i in range(n):
        P[i, (i + 1) % n] = p
        P[(i + 1) % n, i] = 1.0 - p
    return preference_game(P, **kw)


def bradley_terry(rewards, **kw) -> Game:
    """The transitive Bradley-Terry game ``P[i, j] = sigmoid(r_i - r_j)``; NE: the argmax-reward action(s)."""
    r = _as_float_array(rewards, "rewards")
    if r.ndim != 1 or r.size < 2:
        raise ValueError(f"rewards must be a 1-D array of at least 2 rewards, got shape {r.shape}")
    return preference_game(_bt_matrix(r), **kw)


def _bt_matrix(r: np.ndarray) -> np.ndarray:
    d = r[:, None] - r[None, :]
    P = 0.5 * (1.0 + np.tanh(0.5 * d))  # sigmoid, exactly complementary
    np.fill_diagonal(P, 0.5)
    return P


RANDOM_KINDS = ("uniform", "cyclic", "mixed")


def _np_rng(key) -> np.random.Generator:
    """A NumPy generator from a seed or a single JAX key (validated by :func:`games.core.check_seed`)."""
    key = check_seed(key, "key")
    if isinstance(key, int):
        return np.random.default_rng(key)
    if key.ndim != 1:
        raise ValueError(
            f"key must be a single jax.random key, got a batch of keys of shape {key.shape[:-1]}"
        )
    return np.random.default_rng(np.asarray(key).astype(np.uint64).tolist())


def _cyclic_payoff(rng: np.random.Generator, n: int) -> np.ndarray:
    """A skew-symmetric payoff with max |A| = 1/2 and a random interior equilibrium ``pi*``: ``A pi* = 0``."""
    S = rng.normal(size=(n, n))
    S = S - S.T
    pi = rng.dirichlet(np.full(n, 2.0))
    u = S @ pi
    S = (
        S - np.outer(u, np.ones(n)) + np.outer(np.ones(n), u)
    )  # still skew; S pi = u - u (1.pi) + 1 (u.pi) = 0
    return 0.5 * S / np.abs(S).max()


def random_preference(key, n: int, kind: str = "cyclic", **kw) -> Game:
    """A random n x n preference game.

    Kinds:
        ``"uniform"``: ``P[i, j] ~ U(0, 1)`` for ``i < j`` (about a quarter of 5x5 draws have a pure NE).
        ``"cyclic"``: a random skew-symmetric payoff constructed to have an interior equilibrium ``pi*``
            (``A pi* = 0``, ``pi* ~ Dirichlet(2)``), scaled to ``max |P - 1/2| = 1/2``: never a pure NE.
        ``"mixed"``: ``(P_BT + P_cyclic) / 2``: a Bradley-Terry game (rewards ~ N(0, 1)) plus a cyclic part.

    Args:
        key: a seed in ``[0, 2**63)`` or a single ``jax.random`` key (same key, same game); see
            :func:`games.core.check_seed`.
        n: number of responses: at least 2 for ``"uniform"``, at least 3 for ``"cyclic"`` and ``"mixed"`` (a 2x2
            skew-symmetric payoff with an interior equilibrium is zero: there is no 2-cycle).

    Raises:
        TypeError / ValueError: a bad key, ``n`` or ``kind``, naming the argument.
    """
    if kind not in RANDOM_KINDS:
        raise ValueError(f"unknown kind {kind!r}; valid kinds: {', '.join(RANDOM_KINDS)}")
    n = check_int(n, "n", 2)
    if kind != "uniform" and n < 3:
        raise ValueError(f"n must be >= 3 for kind={kind!r} (two responses cannot form a cycle), got {n}")
    rng = _np_rng(key)
    if kind == "uniform":
        U = np.triu(rng.uniform(size=(n, n)), 1)
        P = U + np.tril(1.0 - U.T, -1)
        np.fill_diagonal(P, 0.5)
    elif kind == "cyclic":
        P = 0.5 + _cyclic_payoff(rng, n)
    else:
        P = 0.5 * (_bt_matrix(rng.normal(size=n)) + 0.5 + _cyclic_payoff(rng, n))
    return preference_game(P, **kw)


def dominated_response(**kw) -> Game:
    """The paper's cycle plus a 4th response that every other response beats with probability 0.9.

    It is strictly dominated, so the unique NE ``(4/11, 3/11, 4/11, 0)`` is not full-support.
    """
    P = np.full((4, 4), 0.9)
    P[:3, :3] = COMAL_CYCLE_P
    P[3, :] = 0.1
    P[3, 3] = 0.5
    return preference_game(P, **kw)


def duplicated_response(**kw) -> Game:
    """The paper's cycle with response 0 duplicated (actions 0 and 3 identical; they tie each other).

    Equilibria are not unique: ``(4s/11, 3/11, 4/11, 4(1-s)/11)`` for every ``s`` in [0, 1]; the value is 0.
    """
    idx = [0, 1, 2, 0]
    P = COMAL_CYCLE_P[np.ix_(idx, idx)].copy()
    P[0, 3] = P[3, 0] = 0.5
    return preference_game(P, **kw)


def llmfao(
    judge: str = "crowd",
    *,
    missing: str | None = None,
    kind: str = "rates",
    ties: float = 0.5,
    prior: float | None = None,
    prompts: bool = False,
    weights: str = "counts",
    **kw,
) -> Game:
    """The game of LLMFAO's real comparisons of 59 language models (D. Ustalov, CC BY 4.0; shipped with the
    package, see :func:`games.datasets.llmfao`): :func:`games.from_comparisons` of one judge's records.

    Only 927 of the 1,711 pairs were compared, so ``missing`` (``"tie"``, ``"bradley_terry"`` or
    ``"worst_case"``) is required; there is no default. Actions are labelled with the models' names.

    Args:
        judge: ``"crowd"``, ``"gpt3"`` or ``"gpt4"``.
        prompts: a contextual game, one context per prompt (13), instead of the pooled game.
        missing, kind, ties, prior, weights: as :func:`games.from_comparisons`.

    Example:
        >>> g = games.library.llmfao("gpt4", missing="bradley_terry")
        >>> g.shape, g.labels[0]
        ((59, 59), 'Airoboros L2 70B')
    """
    from .comparisons import comparison_game
    from .datasets import llmfao as comparisons

    if not isinstance(prompts, bool):
        raise TypeError(f"prompts must be True or False, got {prompts!r}")
    c = comparisons(judge)
    return comparison_game(
        c if prompts else c.pooled(),
        missing=missing,
        kind=kind,
        ties=ties,
        prior=prior,
        weights=weights,
        **kw,
    )
