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
    "near_degenerate",
    "boundary_equilibrium",
    "llmfao",
    "contextual_cycles",
    "contextual_cycles_with_features",
    "featured_games",
    "COMAL_CYCLE_FEATURES",
    "RANDOM_KINDS",
    "perturbed_rps",
    "m2wu_biased_rps",
    "rm_counterexample",
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

    Uniqueness and convergence: a skew-symmetric matrix of even order with a kernel has a kernel of dimension
    at least 2 (its rank is even), so ``kind="cyclic"`` with **even** ``n`` never has a unique equilibrium
    (the equilibria form a segment or a face; ``kl_to_nash`` is not defined); with odd ``n`` it has, almost
    surely. Random games are often **nearly degenerate**: the smallest nonzero singular value of the payoff on
    the support (:func:`games.conditioning`) can be 100 times smaller than ``max |A|``, and last-iterate
    convergence slows accordingly. ``random_preference(0, 7)`` is an example: exact COMAL (``tau = 0.1``) is at
    gap ~1e-4 after 1000 outer steps, ``KL(pi* || pi)`` falling by ~1e-5 per step; an independent proximal point
    gives the same numbers. :func:`near_degenerate`, :func:`boundary_equilibrium` and
    :func:`dominated_response` make each slow case tunable.

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


def dominated_response(margin: float = 0.4, **kw) -> Game:
    """The paper's cycle plus a 4th response that every other response beats with probability ``1/2 + margin``.

    It is strictly dominated (for ``margin > 0``), so the unique NE ``(4/11, 3/11, 4/11, 0)`` is not
    full-support; ``margin`` is its strict-complementarity margin (:func:`games.conditioning`): as it shrinks,
    the dominated response's mass decays more slowly (``exp(-eta margin t)`` for MWU-type rules). The default
    (0.4: probability 0.9) is the sandbox's original game.

    Raises:
        ValueError: ``margin`` outside ``(0, 1/2]``.
    """
    margin = _check_prob(margin, "margin", 0.0, 0.5)
    if margin == 0:
        raise ValueError("margin must be > 0 (at 0 the 4th response ties every other: no unique NE)")
    P = np.full((4, 4), 0.5 + margin)
    P[:3, :3] = COMAL_CYCLE_P
    P[3, :] = 0.5 - margin
    P[3, 3] = 0.5
    return preference_game(P, **kw)


def near_degenerate(delta: float, **kw) -> Game:
    """A 5x5 preference game whose unique interior equilibrium ``pi* = (1, 2, 3, 2, 1) / 9`` becomes
    non-unique as ``delta -> 0``: a family with a tunable near-degeneracy (this sandbox's construction).

    ``A = c D^(-1) (M_0 + delta M_1) D^(-1)`` with ``D = diag(pi*)``: ``M_1`` the 5-cycle "i beats i+1 and i+2"
    (rank 4), ``M_0 = u v^T - v u^T`` (rank 2) with ``u, v`` orthogonal to the all-ones vector, so that
    ``(M_0 + delta M_1) 1 = 0`` and ``A pi* = 0`` for every ``delta``; ``c`` scales ``max |A|`` to 1/2. At
    ``delta = 0`` the kernel of ``A`` is 3-dimensional (a face of equilibria); for ``delta > 0`` it is ``pi*``
    alone, and the smallest nonzero singular value of ``A`` (:func:`games.conditioning`) is of order
    ``delta``: last-iterate rules (COMAL, OMWU, extragradient) slow down about as ``1 / delta``.

    Raises:
        ValueError: ``delta`` outside ``(0, 1]``.

    Example:
        >>> g = games.library.near_degenerate(0.1)
        >>> np.round(games.solve(g).x * 9, 6).tolist(), games.solve(g).unique
        ([1.0, 2.0, 3.0, 2.0, 1.0], True)
    """
    delta = _check_prob(delta, "delta")
    if delta == 0:
        raise ValueError("delta must be > 0 (at 0 the equilibria form a face: none is unique)")
    n = 5
    M1 = np.zeros((n, n))
    for i in range(n):
        M1[i, (i + 1) % n] = M1[i, (i + 2) % n] = 1.0
    M1 = M1 - M1.T
    u = np.array([1.0, -1.0, 0.0, 0.0, 0.0])
    v = np.array([0.0, 0.0, 1.0, -1.0, 0.0])
    M = np.outer(u, v) - np.outer(v, u) + delta * M1
    d = NEAR_DEGENERATE_NE
    A = M / np.outer(d, d)
    return preference_game(0.5 + 0.5 * A / np.abs(A).max(), **kw)


#: The equilibrium of every :func:`near_degenerate` game.
NEAR_DEGENERATE_NE = np.array([1.0, 2.0, 3.0, 2.0, 1.0]) / 9.0


def boundary_equilibrium(eps: float, **kw) -> Game:
    """Weighted rock-paper-scissors whose unique equilibrium puts mass ``eps`` on its first response.

    ``A = [[0, -a, b], [a, 0, -c], [-b, c, 0]]`` has the equilibrium ``∝ (c, b, a)``; with ``a = b = 1/2`` and
    ``c = eps / (1 - eps)`` it is ``(eps, (1 - eps)/2, (1 - eps)/2)``: near the boundary of the simplex, where
    optimistic and extragradient MWU are slow (their steps in log space are bounded by the payoffs, and
    ``log eps`` is far).

    Raises:
        ValueError: ``eps`` outside ``(0, 1/3]``.

    Example:
        >>> games.solve(games.library.boundary_equilibrium(0.01)).x.round(6).tolist()
        [0.01, 0.495, 0.495]
    """
    eps = _check_prob(eps, "eps", 0.0, 1.0 / 3.0)
    if eps == 0:
        raise ValueError("eps must be > 0 (at 0 the equilibrium is pure)")
    a = b = 0.5
    c = eps / (1.0 - eps)
    A = np.array([[0.0, -a, b], [a, 0.0, -c], [-b, c, 0.0]])
    return preference_game(0.5 + A, **kw)


def _check_decay(decay) -> float:
    decay = _check_prob(decay, "decay")
    if decay == 0:
        raise ValueError("decay must be > 0 (at 0 every prompt but the first has weight 0)")
    return decay


def _contextual_cycles(rng: np.random.Generator, prompts: int, n: int, decay: float, paper_first: bool, **kw):
    """The game of :func:`contextual_cycles` from a generator (left where the games' seeds end)."""
    Ps = []
    for c in range(prompts):
        if c == 0 and paper_first and n == 3:
            Ps.append(np.asarray(comal_cycle().P))
        else:
            Ps.append(np.asarray(random_preference(int(rng.integers(2**31)), n, "cyclic").P))
    rho = decay ** np.arange(prompts)
    return preference_game(np.stack(Ps), rho / rho.sum(), **kw)


def contextual_cycles(
    key, prompts: int, n: int, *, decay: float = 0.6, paper_first: bool = True, **kw
) -> Game:
    """A contextual game of ``prompts`` random cyclic ``n x n`` preference games, weights ``rho_c ∝ decay^c``
    (prompt 0 the most common).

    Prompt ``c`` is :func:`random_preference` ``(s_c, n, "cyclic")``, ``s_c`` the next
    ``integers(2**31)`` of ``numpy.random.default_rng(key)``; with ``paper_first`` and ``n = 3``, prompt 0 is
    :func:`comal_cycle` instead (and draws no seed). Every prompt has a mixed equilibrium (never a pure one), so
    each prompt's own gap tests last-iterate convergence. The game of ``experiments.contextual`` and of the
    suite's ``contextual`` entry (``prompts = 4``, ``n = 3``).

    Args:
        key: a seed or a single ``jax.random`` key (:func:`games.core.check_seed`).
        prompts: the number of prompts ``C >= 1``.
        n: responses per prompt, ``>= 3`` (a cycle needs three).
        decay: the weights' ratio, in ``(0, 1]`` (1: uniform weights).
        paper_first: prompt 0 is the paper's cycle when ``n = 3``.
        kw: as :func:`games.preference_game` (``dtype``).

    Raises:
        TypeError / ValueError: a bad key, ``prompts``, ``n``, ``decay`` or ``paper_first``, naming it.

    Example:
        >>> g = games.library.contextual_cycles(0, 4, 3)
        >>> g.A.shape, np.round(np.asarray(g.weights), 3).tolist()
        ((4, 3, 3), [0.46, 0.276, 0.165, 0.099])
    """
    rng = _np_rng(key)
    prompts = check_int(prompts, "prompts", 1)
    n = check_int(n, "n", 3)
    decay = _check_decay(decay)
    if not isinstance(paper_first, bool):
        raise TypeError(f"paper_first must be True or False, got {paper_first!r}")
    return _contextual_cycles(rng, prompts, n, decay, paper_first, **kw)


def contextual_cycles_with_features(
    key, prompts: int, n: int, d: int, *, decay: float = 0.8, **kw
) -> tuple[Game, np.ndarray]:
    """:func:`contextual_cycles` (``paper_first=False``) and random unit-norm response features ``[C, n, d]``
    for policies over features (:func:`algorithms.policies.loglinear`, :func:`algorithms.policies.mlp`).

    The features are ``normal(size=(C, n, d))`` rows scaled to norm 1, drawn from the same generator after the
    games' seeds. With ``d < n - 1`` a log-linear policy shared by the prompts cannot represent every policy (the
    Nash policy in general).

    Raises:
        TypeError / ValueError: as :func:`contextual_cycles`, or a bad ``d``.

    Example:
        >>> g, f = games.library.contextual_cycles_with_features(0, 16, 5, 3)
        >>> g.A.shape, f.shape, np.allclose(np.linalg.norm(f, axis=-1), 1)
        ((16, 5, 5), (16, 5, 3), True)
    """
    rng = _np_rng(key)
    prompts = check_int(prompts, "prompts", 1)
    n = check_int(n, "n", 3)
    d = check_int(d, "d", 1)
    decay = _check_decay(decay)
    game = _contextual_cycles(rng, prompts, n, decay, False, **kw)
    f = rng.normal(size=(prompts, n, d))
    return game, f / np.linalg.norm(f, axis=-1, keepdims=True)


#: Response features of :func:`comal_cycle` ``[3, 2]``: the simplex's vertices embedded in the plane (unit
#: vectors 120 degrees apart). Well conditioned; with a constant they span every logit vector, so a log-linear
#: policy over them holds every policy of the game. Read-only.
COMAL_CYCLE_FEATURES = np.array([[1.0, 0.0], [-0.5, 0.75**0.5], [-0.5, -(0.75**0.5)]])
COMAL_CYCLE_FEATURES.flags.writeable = False


def featured_games(key, **kw) -> dict[str, tuple[Game, np.ndarray]]:
    """Two games with response features, for learning a policy over features from sampled preferences (the
    games of ``experiments.sampled`` and ``experiments.schedules``): ``name -> (game, features)``.

    * ``"paper"``: :func:`comal_cycle` with :data:`COMAL_CYCLE_FEATURES` ``[3, 2]`` (``d = n - 1``: the
      log-linear family holds every policy);
    * ``"contextual"``: :func:`contextual_cycles_with_features` ``(key, 16, 5, 3, decay=0.8)``: 16 prompts x 5
      responses, ``theta`` shared by the prompts, ``d = 3 < n - 1``, so no policy of the log-linear family is a
      Nash policy.

    Args:
        key: a seed or a single ``jax.random`` key (the contextual game's).
        kw: as :func:`games.preference_game` (``dtype``).

    Example:
        >>> {name: (g.A.shape, f.shape) for name, (g, f) in games.library.featured_games(0).items()}
        {'paper': ((3, 3), (3, 2)), 'contextual': ((16, 5, 5), (16, 5, 3))}
    """
    return {
        "paper": (comal_cycle(**kw), COMAL_CYCLE_FEATURES),
        "contextual": contextual_cycles_with_features(key, 16, 5, 3, decay=0.8, **kw),
    }


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
    package): :func:`games.from_comparisons` of one judge's :func:`games.datasets.llmfao_comparisons`.

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
    from .comparisons import from_comparisons
    from .datasets import llmfao_comparisons

    if not isinstance(prompts, bool):
        raise TypeError(f"prompts must be True or False, got {prompts!r}")
    c = llmfao_comparisons(judge)
    return from_comparisons(
        c if prompts else c.pooled(),
        missing=missing,
        kind=kind,
        ties=ties,
        prior=prior,
        weights=weights,
        **kw,
    )


def perturbed_rps(**kw) -> Game:
    """The "perturbed RPS" of magnetic mirror descent's normal-form example (Sokota et al., arXiv 2206.05825;
    code ``ssokota/mmd``, ``examples/nfg/perturbed_rps.py``): ``B = [[0, -3, 3], [3, 0, -1], [-3, 1, 0]]``
    rescaled to ``[0, 1]`` as the code does, ``A = (B + 3) / 6``; the row player maximises ``x^T A y``.

    ``A`` differs from the skew-symmetric ``B / 6`` by the constant 1/2, which changes no gradient up to a
    constant, no equilibrium and no duality gap. Unique Nash equilibrium ``(1, 3, 3) / 7`` for both players
    (``B pi = 0``), value 1/2.
    """
    B = np.array([[0.0, -3.0, 3.0], [3.0, 0.0, -1.0], [-3.0, 1.0, 0.0]])
    return matrix_game((B + 3.0) / 6.0, **kw)


def m2wu_biased_rps(**kw) -> Game:
    """The biased rock-paper-scissors of M2WU's experiments (Abe et al., arXiv 2208.09855; code
    ``CyberAgentAILab/m2wu``, ``utility/biased_rps.csv``): ``A = [[0, -1, 3], [1, 0, -1], [-3, 1, 0]]``.

    Skew-symmetric; unique Nash equilibrium ``(1, 3, 1) / 5`` (``A pi = 0``), value 0. Not OpenSpiel's biased
    RPS (:func:`biased_rock_paper_scissors`).
    """
    return matrix_game([[0.0, -1.0, 3.0], [1.0, 0.0, -1.0], [-3.0, 1.0, 0.0]], **kw)


def rm_counterexample(**kw) -> Game:
    """The 3x3 matrix game on which RM+, alternating RM+ and predictive RM+ fail to converge in the last iterate
    (Cai, Farina, Grand-Clément, Kroer, Lee, Luo, Zheng, "Last-iterate convergence properties of
    regret-matching algorithms in games", arXiv 2311.00676, Sec. 3): ``A = [[3, 0, -3], [0, 3, -4], [0, 0, 1]]``.

    The row player maximises ``x^T A y``: unique equilibrium ``x* = (1, 1, 10) / 12``,
    ``y* = (4, 5, 3) / 12``, value 1/4 (``x*^T A = (1/4, 1/4, 1/4)``, ``A y* = (1/4, 1/4, 1/4)``).
    """
    return matrix_game([[3.0, 0.0, -3.0], [0.0, 3.0, -4.0], [0.0, 0.0, 1.0]], **kw)
