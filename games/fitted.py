"""Learned preference models: a game fitted from a finite number of comparisons of a true game.

The row player maximises; every fitted model is a preference game (``P + P^T = 1``) on the true game's
responses, so every solver, metric and rule runs on it, and :func:`games.judges.price` says what optimising it
costs under the truth. The data are a wins matrix ``W[i, j]`` (wins of ``i`` over ``j``; ties count half),
drawn by :func:`sample_wins` or read from :class:`games.Comparisons` (:func:`wins_of`).

* :func:`empirical`: ``P^_ij = (W_ij + a) / (W_ij + W_ji + 2a)``, a Beta(a, a) prior per pair (the rates game
  of :func:`games.from_comparisons`); an unobserved pair without a prior is 1/2.
* :func:`bradley_terry`: ``P^_ij = sigma(s_i - s_j)`` at the maximum-likelihood scores of the sandbox's
  Bradley-Terry Newton solver (:func:`games.bradley_terry_fit`), with the same ``a`` pseudo-wins on both sides
  of every pair so the MLE exists for any data. On a cyclic game it can only rank: on a symmetric cycle every
  score is equal and ``P^ = 1/2``, a random guess.
* :func:`gpm`: the general preference model of Zhang et al. (arXiv 2410.02197): embeddings ``v_i`` in
  ``R^{2k}`` and ``P^_ij = sigma(v_i^T R v_j)`` with ``R`` block-diagonal of ``k`` blocks ``[[0, 1], [-1, 0]]``
  (skew-symmetric, so ``P^ + P^T = 1``), fitted by Adam (optax) on the binomial likelihood plus
  ``a / N`` times ``|v|^2`` (the prior's weight): one ``lax.scan``, ``vmap``-able over data sets.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .comparisons import Comparisons, _newton_bt
from .core import Game, check_int, check_seed, preference_game

__all__ = [
    "sample_wins",
    "wins_of",
    "empirical",
    "bradley_terry",
    "gpm",
    "gpm_probabilities",
    "fitted_game",
    "fit_models",
    "true_gap",
    "MODELS",
]

#: The fitted models by name: ``name -> fit(W, **options) -> P^ [n, n]``.
MODELS = ("empirical", "bradley_terry", "gpm")


def _check_wins(W) -> np.ndarray:
    W = np.asarray(W, np.float64)
    if W.ndim != 2 or W.shape[0] != W.shape[1] or W.shape[0] < 2:
        raise ValueError(f"wins must be a square [n, n] matrix with n >= 2, got shape {W.shape}")
    if not np.all(np.isfinite(W)) or (W < 0).any():
        raise ValueError("wins must be finite and >= 0")
    return W


def _check_prior(prior) -> float:
    if isinstance(prior, bool) or not isinstance(prior, (int, float, np.floating, np.integer)):
        raise TypeError(f"prior must be a number of pseudo-counts >= 0, got {prior!r}")
    if not (np.isfinite(prior) and prior >= 0):
        raise ValueError(f"prior must be a finite number >= 0, got {prior!r}")
    return float(prior)


def sample_wins(game: Game, comparisons: int, seed) -> np.ndarray:
    """``W`` of ``comparisons`` judged pairs of ``game``: each pair of distinct responses is drawn uniformly
    (a multinomial over the ``n (n - 1) / 2`` pairs), each judged by a Bernoulli draw of ``P``.

    Raises:
        TypeError / ValueError: not a single preference game, ``comparisons`` not an integer >= 1, a bad seed.

    Example:
        >>> W = games.fitted.sample_wins(games.comal_cycle(), 100, 0)
        >>> int(W.sum())
        100
    """
    if not isinstance(game, Game) or not game.preference or game.contextual:
        raise TypeError(f"sample_wins needs a single preference game, got {game!r}")
    comparisons = check_int(comparisons, "comparisons")
    rng = np.random.default_rng(check_seed(seed, "seed"))
    P = np.asarray(game.P, np.float64)
    n = P.shape[0]
    i, j = np.triu_indices(n, 1)
    counts = rng.multinomial(comparisons, np.full(len(i), 1.0 / len(i)))
    wins = rng.binomial(counts, np.clip(P[i, j], 0.0, 1.0))
    W = np.zeros((n, n))
    W[i, j] = wins
    W[j, i] = counts - wins
    return W


def wins_of(comparisons: Comparisons) -> np.ndarray:
    """``W = wins + ties / 2`` pooled over prompts, from :func:`games.tally`'s counts."""
    if not isinstance(comparisons, Comparisons):
        raise TypeError(f"wins_of expects games.Comparisons, got {type(comparisons).__name__}")
    return (comparisons.wins + 0.5 * comparisons.ties).sum(axis=0)


def empirical(W, prior: float = 0.5) -> np.ndarray:
    """``P^ = (W + a) / (W + W^T + 2a)`` off the diagonal (1/2 where a pair has neither data nor prior), 1/2 on it.

    Example:
        >>> games.fitted.empirical([[0, 3], [1, 0]], prior=1.0).tolist()
        [[0.5, 0.6666666666666666], [0.3333333333333333, 0.5]]
    """
    W, a = _check_wins(W), _check_prior(prior)
    num, den = W + a, W + W.T + 2 * a
    P = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.5)
    np.fill_diagonal(P, 0.5)
    return P


def bradley_terry(W, prior: float = 0.5, tol: float = 1e-10, max_iter: int = 100) -> np.ndarray:
    """``sigma(s_i - s_j)`` at the Bradley-Terry MLE of ``W + a`` (``a`` pseudo-wins each way on every pair),
    by the sandbox's Newton solver (:func:`games.bradley_terry_fit`'s).

    Raises:
        ValueError: no finite MLE (``prior = 0`` and a response that never lost or never won).
    """
    W, a = _check_wins(W), _check_prior(prior)
    w = W + a * (1.0 - np.eye(W.shape[0]))
    from scipy.sparse.csgraph import connected_components

    if connected_components(w > 0, directed=True, connection="strong")[0] != 1:
        raise ValueError("bradley_terry: no finite MLE (a response never lost or never won); use prior > 0")
    s, _, _ = _newton_bt(w, tol, max_iter)
    P = 0.5 * (1.0 + np.tanh(0.5 * (s[:, None] - s[None, :])))
    np.fill_diagonal(P, 0.5)
    return P


def _R(k: int, dtype) -> jax.Array:
    return jnp.kron(jnp.eye(k, dtype=dtype), jnp.array([[0.0, 1.0], [-1.0, 0.0]], dtype))


def gpm_probabilities(v) -> jax.Array:
    """``sigma(v_i^T R v_j)`` for embeddings ``v`` ``[n, 2k]`` (``R`` block-diagonal skew)."""
    v = jnp.asarray(v)
    z = v @ _R(v.shape[-1] // 2, v.dtype) @ v.T
    return 0.5 * (1.0 + jnp.tanh(0.5 * z))


@functools.partial(jax.jit, static_argnames=("k", "steps"))
def _fit_gpm(W, key, weight, lr, k: int, steps: int):
    n = W.shape[0]
    total = jnp.maximum(jnp.sum(W), 1.0)
    opt = optax.adam(lr)
    v0 = 0.1 * jax.random.normal(key, (n, 2 * k), W.dtype)

    def loss(v):
        z = v @ _R(k, W.dtype) @ v.T
        return -jnp.sum(W * jax.nn.log_sigmoid(z)) / total + weight * jnp.sum(v * v) / total

    def step(carry, _):
        v, s = carry
        g = jax.grad(loss)(v)
        upd, s = opt.update(g, s, v)
        return (optax.apply_updates(v, upd), s), None

    (v, _), _ = jax.lax.scan(step, (v0, opt.init(v0)), None, length=steps)
    return v


def gpm(W, rank: int = 1, prior: float = 0.5, seed=0, steps: int = 3000, lr: float = 0.05):
    """The rank-``2 rank`` GPM fitted to ``W``: ``(P^, v)``.

    Minimises ``-(1/N) sum_ij W_ij log sigma(v_i^T R v_j) + (a / N) |v|^2`` (``N`` the number of comparisons,
    ``a = prior``) by ``steps`` Adam steps of rate ``lr`` from ``v ~ 0.1 N(0, 1)`` (seeded): one compiled
    ``lax.scan``; new data, seeds and priors do not recompile. ``W`` may carry leading batch axes.

    Raises:
        TypeError / ValueError: bad ``W``, ``rank``, ``prior``, ``steps`` or seed.

    Example:
        >>> P = games.condorcet_cycle(3, 0.9).P
        >>> Phat, v = games.fitted.gpm(np.asarray(P) * 1000 * (1 - np.eye(3)))
        >>> round(float(Phat[0, 1]), 2)   # the cycle a Bradley-Terry model cannot hold
        0.9
    """
    Wa = np.asarray(W, np.float64)
    if Wa.ndim < 2 or Wa.shape[-1] != Wa.shape[-2]:
        raise ValueError(f"wins must be [.., n, n], got shape {Wa.shape}")
    if not np.all(np.isfinite(Wa)) or (Wa < 0).any():
        raise ValueError("wins must be finite and >= 0")
    k = check_int(rank, "rank")
    a = _check_prior(prior)
    steps = check_int(steps, "steps")
    key = jax.random.key(check_seed(seed, "seed"))
    lead = Wa.shape[:-2]
    flat = jnp.asarray(Wa.reshape(-1, *Wa.shape[-2:]))
    keys = jax.random.split(key, flat.shape[0])
    fit = jax.vmap(lambda w, kk: _fit_gpm(w, kk, a, lr, k, steps))
    v = fit(flat, keys)
    P = jax.vmap(gpm_probabilities)(v)
    return np.asarray(P).reshape(*lead, *Wa.shape[-2:]), np.asarray(v).reshape(*lead, *v.shape[-2:])


def fitted_game(P_hat, truth: Game) -> Game:
    """The preference game of a fitted ``P^`` with ``truth``'s labels (validated)."""
    return preference_game(np.asarray(P_hat, np.float64), labels=truth.labels)


def fit_models(truth: Game, ns, seeds: int, seed: int = 0, prior: float = 0.5) -> dict[str, np.ndarray]:
    """Every model of :data:`MODELS` fitted to ``seeds`` draws of :func:`sample_wins` at each number of
    comparisons in ``ns``: ``name -> P^ [len(ns), seeds, n, n]`` (the draw of ``(i, s)`` is seeded
    ``seed * 100003 + 7 s + i``; GPM of rank 1 on 3 responses, 2 otherwise, all fits in one compiled call)."""
    W = np.stack(
        [[sample_wins(truth, n, seed * 100_003 + 7 * s + i) for s in range(seeds)] for i, n in enumerate(ns)]
    )
    rank = 1 if truth.shape[0] == 3 else 2
    return {
        "empirical": np.vectorize(lambda w: empirical(w, prior), signature="(n,n)->(n,n)")(W),
        "bradley_terry": np.vectorize(lambda w: bradley_terry(w, prior), signature="(n,n)->(n,n)")(W),
        "gpm": gpm(W, rank=rank, prior=prior, seed=seed)[0],
    }


def true_gap(P_hat, truth: Game) -> tuple[float, float]:
    """The range of the true exploitability of the fitted model's Nash policies: one LP
    (:func:`games.solve`) where the equilibrium is unique, :func:`games.judges.price` over the set otherwise."""
    from .judges import price
    from .solvers import solve

    fg = fitted_game(P_hat, truth)
    eq = solve(fg)
    if not eq.unique:
        return price(fg, truth).exploitability
    A = np.asarray(truth.A, np.float64)
    gap = float((A @ eq.x).max() - (eq.x @ A).min())
    return gap, gap
