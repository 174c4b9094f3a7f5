"""Pure, jittable metrics of strategy profiles.

Conventions: the row player maximises ``x^T A y``. Strategies are ``[m]``/``[n]`` for a single game and
``[C, m]``/``[C, n]`` for a contextual game, whose metrics are the prompt-weighted (``rho``) sums of the
per-prompt metrics. Zeros in policies are handled (``0 log 0 = 0``). Functions here check only what is static or
concrete (a preference-only metric on a matrix game, a Python ``tau <= 0``), so they run under ``jit``/``vmap``;
validate values with the constructors in :mod:`games.core`. Sums, maxima and log-sum-exps over actions go through
the helpers of :mod:`games.core`, which ``algorithms.sweep`` writes out term by term for tiny games.

* ``duality_gap(game, x, y) = max_i (A y)_i - min_j (x^T A)_j >= 0``, zero exactly at a Nash equilibrium.
* ``worst_case_win_rate(game, pi) = min_j P(pi > j) = 1/2 + min_j (pi^T A)_j`` (preference games), which equals
  ``1/2 - gap/2`` at ``x = y = pi``. A Nash policy scores at least 1/2.
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import xlogy

from .core import Game, _matvec, _vecmat, action_max, action_min, action_sum, logsumexp, uniform

__all__ = [
    "expected_payoff",
    "duality_gap",
    "worst_case_win_rate",
    "kl_divergence",
    "kl_to_equilibrium",
    "regularized_gap",
    "regularized_gap_of_gradients",
    "pairwise_win_rates",
    "min_probability",
    "pnt",
    "sntd",
    "SNTD_CLIP",
]


def _weighted(game: Game, per_context: jax.Array) -> jax.Array:
    """rho-weighted sum over the context axis (identity for single games)."""
    if game.contextual:
        return jnp.sum(game.weights * per_context, axis=-1)
    return per_context


def _require_preference(game: Game, what: str) -> None:
    """``game.preference`` is a static flag, so this check also works under ``jit``."""
    if not game.preference:
        raise ValueError(
            f"{what} is defined for preference games only (it reads P = A + 1/2); this game was built from a "
            "payoff matrix"
        )


def _check_shapes(game: Game, what: str, **strategies) -> None:
    """Refuse a strategy whose (static) shape is not the game's: ``name=(array, player)``, ``player`` 0 for
    the row player (``[m]``, ``[C, m]``), 1 for the column player. Shapes are static, so this holds under
    ``jit`` and ``vmap`` too."""
    lead = game.A.shape[:-2]
    for name, (value, player) in strategies.items():
        if not hasattr(value, "shape"):  # a list: the metrics' matrix products need arrays
            raise TypeError(f"{what}: {name} must be an array (jnp.asarray it), got {type(value).__name__}")
        want = (*lead, game.shape[player])
        if tuple(jnp.shape(value)) != want:
            raise ValueError(
                f"{what}: {name} must have shape {want} ({'row' if player == 0 else 'column'} player's "
                f"actions{' per prompt' if lead else ''}) for {game!r}, got shape {tuple(jnp.shape(value))}"
            )


def _check_tau(tau) -> None:
    """Refuse a concrete (Python/NumPy) ``tau <= 0`` or NaN; traced and JAX values are left alone."""
    if isinstance(tau, (numbers.Real, np.ndarray, np.generic)) and not isinstance(tau, bool):
        t = np.asarray(tau)
        if t.dtype.kind in "fiu" and not np.all(t > 0):
            raise ValueError(f"tau must be > 0 (the KL weight), got {tau!r}")


def expected_payoff(game: Game, x: jax.Array, y: jax.Array) -> jax.Array:
    """``x^T A y`` (rho-weighted over prompts): the row player's expected payoff.

    Raises:
        ValueError: ``x`` or ``y`` does not have the game's shape (``[m]``/``[n]``, ``[C, m]``/``[C, n]``).
    """
    _check_shapes(game, "expected_payoff", x=(x, 0), y=(y, 1))
    return _weighted(game, action_sum(x * _matvec(game.A, y)))


def duality_gap(game: Game, x: jax.Array, y: jax.Array | None = None) -> jax.Array:
    """Duality gap ``max_i (A y)_i - min_j (x^T A)_j`` (rho-weighted); ``y`` defaults to ``x`` (self-play).

    It is non-negative and zero exactly at a Nash equilibrium.

    Raises:
        ValueError: ``x`` or ``y`` does not have the game's shape (``[m]``/``[n]``, ``[C, m]``/``[C, n]``).
    """
    y = x if y is None else y
    _check_shapes(game, "duality_gap", x=(x, 0), y=(y, 1))
    best_row = action_max(_matvec(game.A, y))
    best_col = action_min(_vecmat(x, game.A))
    return _weighted(game, best_row - best_col)


def worst_case_win_rate(game: Game, pi: jax.Array) -> jax.Array:
    """``min_j P(pi > j)``: the win rate of ``pi`` against its best response (rho-weighted, per-prompt min).

    Defined for preference games (``A = P - 1/2``); on a symmetric game it equals ``1/2 - gap/2`` at
    ``x = y = pi``.

    Raises:
        ValueError: a matrix game (no ``P``; the flag is static, so this holds under ``jit`` too), or ``pi``
            not of the game's shape.
    """
    _require_preference(game, "worst_case_win_rate")
    _check_shapes(game, "worst_case_win_rate", pi=(pi, 0))
    return _weighted(game, 0.5 + action_min(_vecmat(pi, game.A)))


def kl_divergence(p: jax.Array, q: jax.Array) -> jax.Array:
    """``KL(p || q) = sum_i p_i log(p_i / q_i)`` over the last axis, with ``0 log 0 = 0`` (``inf`` where
    ``p_i > 0 = q_i``). Unweighted: returns one value per leading index."""
    return action_sum(xlogy(p, p) - xlogy(p, q))


def kl_to_equilibrium(game: Game, x: jax.Array, y: jax.Array, x_star: jax.Array, y_star: jax.Array):
    """``(KL(x* || x) + KL(y* || y)) / 2`` (rho-weighted): equals ``KL(pi* || pi)`` in self-play."""
    per = 0.5 * (kl_divergence(x_star, x) + kl_divergence(y_star, y))
    return _weighted(game, per)


def regularized_gap(game: Game, pi, tau, ref=None) -> jax.Array:
    """Duality gap of the KL-regularized game ``J_tau(x, y) = x^T A y - tau KL(x||ref_x) + tau KL(y||ref_y)``.

    Args:
        pi: a self-play policy, or a tuple ``(x, y)``.
        tau: KL weight (> 0).
        ref: reference policy (default uniform), or a tuple ``(ref_x, ref_y)``.

    Closed form (entropic best responses): ``tau lse(log ref_x + A y / tau) + tau KL(y||ref_y)
    + tau KL(x||ref_x) + tau lse(log ref_y - A^T x / tau)``; zero exactly at the regularized equilibrium.

    Raises:
        ValueError: a Python/NumPy ``tau <= 0`` or NaN (a traced ``tau`` is not checked).
    """
    _check_tau(tau)
    x, y = pi if isinstance(pi, tuple) else (pi, pi)
    _check_shapes(game, "regularized_gap", x=(x, 0), y=(y, 1))
    return regularized_gap_of_gradients(game, (x, y), (_matvec(game.A, y), -_vecmat(x, game.A)), tau, ref)


def regularized_gap_of_gradients(game: Game, pi, gradients, tau, ref=None) -> jax.Array:
    """:func:`regularized_gap` written with the players' payoff gradients ``(g_x, g_y)`` in place of
    ``(A y, -A^T x)``: ``tau lse(log ref_x + g_x / tau) + tau KL(y||ref_y) + tau lse(log ref_y + g_y / tau)
    + tau KL(x||ref_x)``. With the exact gradients it is the regularized gap; with a sampled estimate
    (``oracle.gradient``) it is what a learner can compute from its own feedback (COMAL's ``until`` with
    ``estimate=True``). Self-play: ``pi`` one policy and ``gradients`` ``(g, g)`` (a skew-symmetric game's
    column gradient ``-A^T pi`` equals ``A pi``).

    Example:
        >>> g = games.comal_cycle(); pi = jnp.asarray([0.2, 0.3, 0.5])
        >>> exact = (g.A @ pi, -(pi @ g.A))
        >>> bool(abs(games.metrics.regularized_gap_of_gradients(g, pi, exact, 0.1)
        ...          - games.metrics.regularized_gap(g, pi, 0.1)) < 1e-15)
        True
    """
    x, y = pi if isinstance(pi, tuple) else (pi, pi)
    gx, gy = gradients
    if ref is None:
        ref = (uniform(game, 0), uniform(game, 1))
    rx, ry = ref if isinstance(ref, tuple) else (ref, ref)
    best_x = tau * logsumexp(jnp.log(rx) + gx / tau) + tau * kl_divergence(y, ry)
    best_y = -tau * logsumexp(jnp.log(ry) + gy / tau) - tau * kl_divergence(x, rx)
    return _weighted(game, best_x - best_y)


def pairwise_win_rates(game: Game, policies: jax.Array) -> jax.Array:
    """``W[a, b] = P(pi_a > pi_b) = 1/2 + pi_a^T A pi_b`` (rho-weighted) for a stack of policies.

    Args:
        policies: ``[K, n]`` (or ``[K, C, n]`` for a contextual game).
    Returns:
        ``[K, K]`` matrix, row beats column.
    Raises:
        ValueError: a matrix game (preference games only; the flag is static).
    """
    _require_preference(game, "pairwise_win_rates")
    return jax.vmap(lambda a: jax.vmap(lambda b: 0.5 + expected_payoff(game, a, b))(policies))(policies)


def min_probability(game: Game, x: jax.Array, y: jax.Array | None = None) -> jax.Array:
    """The smallest action probability of the profile: ``min(min_i x_i, min_j y_j)`` (per prompt, then the
    smallest over prompts of a contextual game). It falls to 0 where a policy drifts to the boundary, and
    shows how close an iterate is to an equilibrium near the boundary (:func:`games.library.boundary_equilibrium`)
    or on a face (a dominated response's mass).

    Example:
        >>> float(games.metrics.min_probability(games.comal_cycle(), jnp.asarray([0.2, 0.3, 0.5])))
        0.2
    """
    y = x if y is None else y
    _check_shapes(game, "min_probability", x=(x, 0), y=(y, 1))
    return jnp.minimum(jnp.min(x), jnp.min(y))


# ---------------------------------------------------------------------------------------------------------------
# Non-transitivity of a judge (Xu, Ruis, Rocktaeschel, Kirk, ICML 2025, arXiv 2502.14074)
# ---------------------------------------------------------------------------------------------------------------


def _triples(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every ``i < j < k`` (static: ``n`` is a shape)."""
    i, j, k = np.nonzero(
        np.triu(np.ones((n, n), bool), 1)[:, :, None] & np.triu(np.ones((n, n), bool), 1)[None]
    )
    return i, j, k


def _check_judge_matrix(W, what: str) -> jax.Array:
    W = jnp.asarray(W)
    if W.ndim != 2 or W.shape[0] != W.shape[1] or W.shape[0] < 3:
        raise ValueError(f"{what}: a square [n, n] matrix with n >= 3 is needed, got shape {W.shape}")
    return W


def _check_order(order, what: str) -> str:
    if order not in ("single", "both"):
        raise ValueError(f"{what}: order must be 'single' or 'both', got {order!r}")
    return order


def pnt(W, order: str = "single") -> jax.Array:
    """PNT, the proportion of non-transitive triplets (Xu et al., arXiv 2502.14074, Sec. 3), in expectation over
    a judge's verdicts: the probability that the verdicts on a triple ``A < B < C`` of responses (each pair
    ``(X, Y)`` shown with ``X``, the lower index, first) are non-transitive, averaged over all triples.

    ``W[i, j]`` is the probability that ``i`` wins when shown first (a judge's ``J``; a true ``P`` for an
    unbiased judge). Xu et al. count, over instructions, the triplets whose verdicts violate transitivity; here
    each pair's verdict is drawn from ``W``, so PNT is that count's expectation per instruction:

    * ``order="single"``: one verdict per pair, ``X`` wins with ``W[X, Y]``; a triple is non-transitive when
      its verdicts form a cycle: ``W_AB W_BC (1 - W_AC) + (1 - W_AB)(1 - W_BC) W_AC``;
    * ``order="both"`` (Xu et al.'s position switching): each pair judged in both orders, a win when both
      verdicts agree, a tie when they disagree (``X`` wins with ``W_XY (1 - W_YX)``, ties with the rest);
      with ties, a triple is transitive when a tied pair relates the same way to the third response (``A ~ B``:
      ``B`` vs ``C`` equals ``A`` vs ``C``; all three tied is transitive), and strict verdicts must not cycle.

    A uniform ``W = 1/2`` has PNT 1/4 with a single verdict (two of eight outcomes cycle); rock-paper-scissors
    has PNT 1; a deterministic order has 0. Pure ``jnp`` (``jit``/``vmap``).

    Raises:
        ValueError: ``W`` not square with ``n >= 3``; an unknown ``order``.

    Example:
        >>> float(games.metrics.pnt(jnp.full((3, 3), 0.5)))
        0.25
    """
    W = _check_judge_matrix(W, "pnt")
    order = _check_order(order, "pnt")
    i, j, k = _triples(W.shape[0])
    pairs = ((i, j), (j, k), (i, k))  # AB, BC, AC
    if order == "single":
        ab, bc, ac = (W[a, b] for a, b in pairs)
        return jnp.mean(ab * bc * (1.0 - ac) + (1.0 - ab) * (1.0 - bc) * ac)
    # outcome probabilities per pair: (first index wins, tie, loses), both orders
    probs = []
    for a, b in pairs:
        win = W[a, b] * (1.0 - W[b, a])
        lose = (1.0 - W[a, b]) * W[b, a]
        probs.append((win, 1.0 - win - lose, lose))
    values = (1.0, 0.5, 0.0)
    total = 0.0
    for x in range(3):
        for y in range(3):
            for z in range(3):
                if _nontransitive(values[x], values[y], values[z]):
                    total = total + probs[0][x] * probs[1][y] * probs[2][z]
    return jnp.mean(total)


def _nontransitive(ab: float, bc: float, ac: float) -> bool:
    """Xu et al.'s rule for one triple's verdicts (1: the first of the pair wins, 1/2 tie, 0 loses)."""
    if ab == 0.5:
        return bc != ac
    if bc == 0.5:
        return ab != ac
    if ac == 0.5:
        return ab != 1.0 - bc
    return (ab, bc, ac) in ((1.0, 1.0, 0.0), (0.0, 0.0, 1.0))


def _bernoulli_jsd(p, q):
    """Jensen-Shannon divergence (nats) between Bernoulli(p) and Bernoulli(q)."""
    m = 0.5 * (p + q)
    h = lambda r: -(xlogy(r, r) + xlogy(1.0 - r, 1.0 - r))
    return h(m) - 0.5 * (h(p) + h(q))


#: Win rates are clipped to ``[SNTD_CLIP, 1 - SNTD_CLIP]`` before their logits are taken in :func:`sntd`.
SNTD_CLIP = 1e-12


def sntd(W, order: str = "both") -> jax.Array:
    """SNTD, the soft non-transitivity deviation (Xu et al., arXiv 2502.14074, Sec. 3): for each triple
    ``A < B < C``, the Jensen-Shannon divergence (nats) between each pair's win rate ``phi`` and the rate a
    Bradley-Terry model predicts from the other two pairs, averaged over the three pairs and all triples:

    ``logit phi^_AC = logit phi_AB + logit phi_BC``, ``logit phi^_AB = logit phi_AC - logit phi_BC``,
    ``logit phi^_BC = logit phi_AC - logit phi_AB``, and ``SNTD = mean JSD(Bern(phi), Bern(phi^))``.

    The win rates are the judge's soft verdicts: ``order="both"`` (position switching, the paper's setting)
    uses ``phi_XY = (W_XY + 1 - W_YX) / 2``; ``"single"`` uses ``W_XY`` (``X`` shown first). SNTD is 0 exactly
    on a Bradley-Terry game. Rates are clipped to ``[1e-12, 1 - 1e-12]`` (:data:`SNTD_CLIP`) so that certain
    verdicts have finite logits. Pure ``jnp``.

    This sandbox's reading of the paper's definition (its text and code were not available here: the
    definition follows the paper's description, "JSD between the observed win rate and the win rate that
    transitivity predicts from the other two pairs", with the BT prediction written out above).

    Raises:
        ValueError: ``W`` not square with ``n >= 3``; an unknown ``order``.

    Example:
        >>> bt = games.bradley_terry([0.0, 1.0, 3.0]).P
        >>> abs(float(games.metrics.sntd(bt))) < 1e-15
        True
    """
    W = _check_judge_matrix(W, "sntd")
    order = _check_order(order, "sntd")
    phi = 0.5 * (W + 1.0 - W.T) if order == "both" else W
    phi = jnp.clip(phi, SNTD_CLIP, 1.0 - SNTD_CLIP)
    i, j, k = _triples(W.shape[0])
    ab, bc, ac = phi[i, j], phi[j, k], phi[i, k]
    lg = lambda p: jnp.log(p) - jnp.log1p(-p)
    sig = lambda z: 0.5 * (1.0 + jnp.tanh(0.5 * z))
    pred_ac = sig(lg(ab) + lg(bc))
    pred_ab = sig(lg(ac) - lg(bc))
    pred_bc = sig(lg(ac) - lg(ab))
    per = (_bernoulli_jsd(ab, pred_ab) + _bernoulli_jsd(bc, pred_bc) + _bernoulli_jsd(ac, pred_ac)) / 3.0
    return jnp.mean(per)
