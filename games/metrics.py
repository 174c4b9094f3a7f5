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
    "pairwise_win_rates",
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
    if ref is None:
        ref = (uniform(game, 0), uniform(game, 1))
    rx, ry = ref if isinstance(ref, tuple) else (ref, ref)
    best_x = tau * logsumexp(jnp.log(rx) + _matvec(game.A, y) / tau) + tau * kl_divergence(y, ry)
    best_y = -tau * logsumexp(jnp.log(ry) - _vecmat(x, game.A) / tau) - tau * kl_divergence(x, rx)
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
