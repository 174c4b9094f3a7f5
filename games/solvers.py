"""Exact equilibria: the LP solution of a zero-sum game and the KL-regularized equilibrium.

The row player maximises ``x^T A y``. Every solver checks its own answer and raises :class:`SolverError` when
the check fails; none returns ``None``.

* :func:`solve` — Nash equilibrium by linear programming (``scipy.optimize.linprog``, HiGHS). The row
  strategy is the primal solution, the column strategy the dual of the same solve. Certificate: the duality
  gap of the returned pair, which must be ``<= 1e-9 * max(1, max|A|)``.
* :func:`regularized_equilibrium` — the unique equilibrium of
  ``J_tau(x, y) = x^T A y - tau KL(x || ref_x) + tau KL(y || ref_y)``: the fixed point
  ``x = softmax(log ref_x + A y / tau)``, ``y = softmax(log ref_y - A^T x / tau)``. Found by composite
  mirror-prox (linearly convergent for every ``tau > 0``), then polished by Newton's method on the fixed-point
  equation in log space. Certificate: the fixed-point residual (``<= 1e-12`` in float64) and the regularized
  duality gap. The jittable core :func:`regularized_solve` is what ``algorithms.comal_exact`` calls.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize

from . import metrics
from .core import Game, _matvec, _vecmat, check_reference

__all__ = ["SolverError", "Equilibrium", "solve", "regularized_equilibrium", "regularized_solve"]

#: Certificate tolerance of :func:`solve` (relative to ``max(1, max|A|)``).
LP_TOL = 1e-9
#: Above this many actions the LP uses HiGHS' interior-point method (with crossover), below it dual simplex.
IPM_THRESHOLD = 300


class SolverError(RuntimeError):
    """A solver failed or its answer did not pass its own certificate check."""


@dataclasses.dataclass(frozen=True)
class Equilibrium:
    """An equilibrium and its certificate (NumPy arrays, float64).

    Attributes:
        x, y: row / column strategies, ``[m]``/``[n]`` (``[C, m]``/``[C, n]`` for contextual games).
        value: the row player's value of the game solved (rho-weighted): ``x^T A y`` for :func:`solve`,
            ``J_tau(x, y)`` for :func:`regularized_equilibrium`.
        gap: duality gap of ``(x, y)`` in the *unregularized* game (for :func:`solve` this is the certificate).
        certificate: how far ``(x, y)`` is from solving the problem posed: the duality gap for :func:`solve`,
            the fixed-point residual (max-norm, probability space) for :func:`regularized_equilibrium`.
        tau: the KL weight (0 for :func:`solve`).
    """

    x: np.ndarray
    y: np.ndarray
    value: float
    gap: float
    certificate: float
    tau: float = 0.0


def _lp_row_strategy(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """max_x min_j (x^T A)_j by LP; returns (x, y) with y the dual of the column constraints."""
    m, n = A.shape
    c = np.zeros(m + 1)
    c[-1] = -1.0  # minimise -v
    A_ub = np.hstack([-A.T, np.ones((n, 1))])  # v - (x^T A)_j <= 0
    A_eq = np.concatenate([np.ones(m), [0.0]])[None, :]
    bounds = [(0, None)] * m + [(None, None)]
    method = "highs-ipm" if max(m, n) > IPM_THRESHOLD else "highs-ds"
    res = scipy.optimize.linprog(
        c, A_ub=A_ub, b_ub=np.zeros(n), A_eq=A_eq, b_eq=[1.0], bounds=bounds, method=method
    )
    if res.status != 0:
        raise SolverError(f"linprog ({method}) failed: status {res.status}: {res.message}")
    x = res.x[:m]
    y = -res.ineqlin.marginals
    return x, y


def _clean_simplex(p: np.ndarray, name: str) -> np.ndarray:
    """Remove round-off from a solver's strategy; raise if it is not a distribution up to 1e-9."""
    if p.min() < -LP_TOL or abs(p.sum() - 1.0) > LP_TOL:
        raise SolverError(f"LP returned an invalid {name}: min {p.min():.3e}, sum {p.sum()!r}")
    p = np.maximum(p, 0.0)
    return p / p.sum()


def _gap(A: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    return float((A @ y).max() - (x @ A).min())


def solve(game: Game) -> Equilibrium:
    """Exact Nash equilibrium by LP (HiGHS), per prompt for contextual games.

    Dual simplex below :data:`IPM_THRESHOLD` actions, interior point (with crossover) above it.

    Returns:
        :class:`Equilibrium` whose ``gap``/``certificate`` is the duality gap of the returned pair.
    Raises:
        SolverError: when HiGHS fails or the returned pair's gap exceeds ``1e-9 * max(1, max|A|)``.

    Example:
        >>> eq = games.solve(games.comal_cycle())
        >>> np.round(eq.x * 11, 12).tolist(), bool(eq.gap < 1e-9)
        ([4.0, 3.0, 4.0], True)
    """
    if not isinstance(game, Game):
        raise TypeError(f"solve expects a Game, got {type(game).__name__}")
    A = np.asarray(game.A, dtype=np.float64)
    stack = A if game.contextual else A[None]
    xs, ys, vals, gaps = [], [], [], []
    for c, Ac in enumerate(stack):
        x, y = _lp_row_strategy(Ac)
        x, y = _clean_simplex(x, "row strategy"), _clean_simplex(y, "column strategy")
        gap = _gap(Ac, x, y)
        tol = LP_TOL * max(1.0, float(np.abs(Ac).max()))
        if not gap <= tol:
            where = f" for context {c}" if game.contextual else ""
            raise SolverError(f"LP certificate failed{where}: duality gap {gap:.3e} > {tol:.1e}")
        xs.append(x)
        ys.append(y)
        vals.append(float(x @ Ac @ y))
        gaps.append(gap)
    if game.contextual:
        w = np.asarray(game.weights, dtype=np.float64)
        return Equilibrium(np.stack(xs), np.stack(ys), float(w @ vals), float(w @ gaps), float(w @ gaps))
    return Equilibrium(xs[0], ys[0], vals[0], gaps[0], gaps[0])


# ---------------------------------------------------------------------------------------------------------------
# KL-regularized equilibrium
# ---------------------------------------------------------------------------------------------------------------


def _softmax_fixed_point(A, tau, lrx, lry, lx, ly):
    """Log-probabilities of the entropic best responses to (exp lx, exp ly)."""
    bx = jax.nn.log_softmax(lrx + _matvec(A, jnp.exp(ly)) / tau, axis=-1)
    by = jax.nn.log_softmax(lry - _vecmat(jnp.exp(lx), A) / tau, axis=-1)
    return bx, by


def _residual(A, tau, lrx, lry, lx, ly):
    bx, by = _softmax_fixed_point(A, tau, lrx, lry, lx, ly)
    return jnp.maximum(
        jnp.max(jnp.abs(jnp.exp(lx) - jnp.exp(bx))), jnp.max(jnp.abs(jnp.exp(ly) - jnp.exp(by)))
    )


def _mirror_prox_step(A, tau, lrx, lry, eta, lx, ly):
    """Composite mirror-prox on J_tau: the KL term is handled exactly (MMD-style prox), the bilinear part
    extrapolated: half = prox(l, g(l)), new = prox(l, g(half))."""

    def prox(l, lr, g):
        return jax.nn.log_softmax((l + eta * tau * lr + eta * g) / (1.0 + eta * tau), axis=-1)

    hx = prox(lx, lrx, _matvec(A, jnp.exp(ly)))
    hy = prox(ly, lry, -_vecmat(jnp.exp(lx), A))
    return prox(lx, lrx, _matvec(A, jnp.exp(hy))), prox(ly, lry, -_vecmat(jnp.exp(hx), A))


def _newton_step(A, tau, lrx, lry, lx, ly):
    """One Newton step on F(u, v) = (u - lsm(lrx + A e^v / tau), v - lsm(lry - A^T e^u / tau)) = 0."""
    m, n = A.shape
    bx, by = _softmax_fixed_point(A, tau, lrx, lry, lx, ly)
    px, py = jnp.exp(bx), jnp.exp(by)
    jx = (A * jnp.exp(ly)[None, :] - jnp.outer(jnp.ones(m, A.dtype), px @ (A * jnp.exp(ly)[None, :]))) / tau
    AT = -A.T
    jy = (AT * jnp.exp(lx)[None, :] - jnp.outer(jnp.ones(n, A.dtype), py @ (AT * jnp.exp(lx)[None, :]))) / tau
    J = jnp.eye(m + n, dtype=A.dtype) - jnp.block(
        [[jnp.zeros((m, m), A.dtype), jx], [jy, jnp.zeros((n, n), A.dtype)]]
    )
    F = jnp.concatenate([lx - bx, ly - by])
    d = jnp.linalg.solve(J, -F)
    return jax.nn.log_softmax(lx + d[:m]), jax.nn.log_softmax(ly + d[m:])


def _regularized_single(A, tau, lrx, lry, tol, max_iter, check_every, newton_steps):
    eta = 1.0 / jnp.maximum(jnp.max(jnp.abs(A)), jnp.finfo(A.dtype).tiny)

    def chunk(carry):
        lx, ly, _, it = carry
        lx, ly = jax.lax.fori_loop(
            0, check_every, lambda _, s: _mirror_prox_step(A, tau, lrx, lry, eta, *s), (lx, ly)
        )
        return lx, ly, _residual(A, tau, lrx, lry, lx, ly), it + check_every

    # with Newton: mirror-prox only until its basin (1e-6), then Newton polishes to full precision
    target = max(tol, 1e-6) if newton_steps else tol

    def not_done(carry):
        return (carry[2] > target) & (carry[3] < max_iter)

    lx, ly = lrx, lry
    init = (lx, ly, _residual(A, tau, lrx, lry, lx, ly), jnp.zeros((), jnp.int32))
    lx, ly, res, it = jax.lax.while_loop(not_done, chunk, init)

    def polish(_, s):
        lx, ly, res = s
        nx, ny = _newton_step(A, tau, lrx, lry, lx, ly)
        nres = _residual(A, tau, lrx, lry, nx, ny)
        better = jnp.isfinite(nres) & (nres < res)
        return (jnp.where(better, nx, lx), jnp.where(better, ny, ly), jnp.where(better, nres, res))

    lx, ly, res = jax.lax.fori_loop(0, newton_steps, polish, (lx, ly, res))
    return lx, ly, res, it


def regularized_solve(
    game: Game, tau, ref_x, ref_y, *, tol=1e-13, max_iter=200_000, check_every=25, newton_steps=4
):
    """Jittable core of :func:`regularized_equilibrium`: log-probabilities of the regularized equilibrium.

    Args:
        game: the game (single or contextual).
        tau: KL weight, > 0 (not checked: this runs under ``jit``).
        ref_x, ref_y: **log**-probabilities of the references (shapes of the strategies).
        tol: target fixed-point residual; max_iter: mirror-prox iteration cap.
        newton_steps: Newton polishing steps after mirror-prox reaches 1e-6 (0: mirror-prox all the way).
    Returns:
        ``(log_x, log_y, residual, iterations)``; the caller decides whether ``residual`` is acceptable.
    """
    A = game.A
    tau = jnp.asarray(tau, A.dtype)
    single = lambda A, rx, ry: _regularized_single(A, tau, rx, ry, tol, max_iter, check_every, newton_steps)
    if game.contextual:
        lx, ly, res, it = jax.vmap(single)(A, ref_x, ref_y)
        return lx, ly, jnp.max(res), jnp.max(it)
    return single(A, ref_x, ref_y)


def regularized_equilibrium(game: Game, tau: float, ref=None, *, tol: float | None = None) -> Equilibrium:
    """The unique equilibrium of ``J_tau(x, y) = x^T A y - tau KL(x||ref_x) + tau KL(y||ref_y)``.

    This is the point INPO, Nash-MD (as its step shrinks) and magnetic mirror descent converge to.

    Args:
        game: any game (single or contextual).
        tau: KL weight, a finite number > 0.
        ref: reference policy (strictly positive, default uniform), or a tuple ``(ref_x, ref_y)``.
        tol: required fixed-point residual (default 1e-12 in float64, 1e-5 in float32).
    Returns:
        :class:`Equilibrium` with ``certificate`` = the fixed-point residual and ``gap`` = the duality gap of
        the regularized equilibrium in the original game.
    Raises:
        ValueError: bad ``tau`` or ``ref``.  SolverError: the residual does not reach ``tol``.
    """
    if not isinstance(game, Game):
        raise TypeError(f"regularized_equilibrium expects a Game, got {type(game).__name__}")
    if isinstance(tau, (bool, str)) or not np.ndim(tau) == 0:
        raise TypeError(f"tau must be a real number, got {tau!r}")
    tau = float(tau)
    if not np.isfinite(tau) or tau <= 0:
        raise ValueError(f"tau must be a finite number > 0, got {tau}")
    rx, ry = ref if isinstance(ref, tuple) else (ref, ref)
    if ry is not None and not isinstance(ref, tuple) and game.shape[0] != game.shape[1]:
        raise ValueError("a single ref needs a square game; pass (ref_x, ref_y) for an m x n game")
    rx, ry = check_reference(game, rx, 0, "ref_x"), check_reference(game, ry, 1, "ref_y")
    if tol is None:
        tol = 1e-12 if game.dtype == jnp.float64 else 1e-5
    lx, ly, res, it = _regularized_jit(game, tau, jnp.log(rx), jnp.log(ry))
    res = float(res)
    if not res <= tol:
        raise SolverError(
            f"regularized equilibrium (tau={tau}) reached residual {res:.3e} > tol {tol:.1e} "
            f"after {int(it)} mirror-prox iterations"
        )
    x, y = jnp.exp(lx), jnp.exp(ly)
    value = metrics.expected_payoff(game, x, y) - tau * metrics._weighted(
        game, metrics.kl_divergence(x, rx) - metrics.kl_divergence(y, ry)
    )
    return Equilibrium(
        x=np.asarray(x),
        y=np.asarray(y),
        value=float(value),
        gap=float(metrics.duality_gap(game, x, y)),
        certificate=res,
        tau=tau,
    )


_regularized_jit = jax.jit(regularized_solve)
