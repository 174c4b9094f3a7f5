"""Exact equilibria: the LP solution of a zero-sum game and the KL-regularized equilibrium.

The row player maximises ``x^T A y``. Every solver checks its own answer and raises :class:`SolverError` when
the check fails; none returns ``None``.

* :func:`solve` — Nash equilibrium by linear programming (``scipy.optimize.linprog``, HiGHS), scale-invariant:
  it solves the normalized game ``S = (A - min A) / (max A - min A)`` (entries in [0, 1]; a positive affine map
  of the payoffs leaves the equilibria unchanged) and reports value and gap in the units of ``A``. The row
  strategy is the primal solution, the column strategy the dual of the same solve. Certificate: the duality gap
  of the returned pair **relative to the payoff range** ``max A - min A``, which must be ``<= 1e-9``. It also
  decides whether the equilibrium is unique (:attr:`Equilibrium.unique`).
* :func:`regularized_equilibrium` — the unique equilibrium of
  ``J_tau(x, y) = x^T A y - tau KL(x || ref_x) + tau KL(y || ref_y)``: the fixed point
  ``x = softmax(log ref_x + A y / tau)``, ``y = softmax(log ref_y - A^T x / tau)``. Found by composite
  mirror-prox (linearly convergent for every ``tau > 0``), then polished by Newton's method on the fixed-point
  equation in log space. Certificate: the fixed-point residual (``<= 1e-12`` in float64) and the regularized
  duality gap. The jittable core :func:`regularized_solve` is what ``algorithms.comal_exact`` calls. Not
  scale-invariant: ``tau`` is in payoff units (the game ``c A`` with ``tau`` has the equilibrium of ``A`` with
  ``tau / c``).
"""

from __future__ import annotations

import dataclasses
import numbers

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize

from . import metrics
from .core import Game, _matvec, _vecmat, check_reference

__all__ = [
    "SolverError",
    "Equilibrium",
    "solve",
    "regularized_equilibrium",
    "regularized_solve",
    "regularized_tol",
    "Conditioning",
    "conditioning",
]

#: Certificate tolerance of :func:`solve`: duality gap relative to the payoff range ``max A - min A``.
LP_TOL = 1e-9
#: Resolution of the uniqueness decision of :func:`solve`, relative to the payoff range (see
#: :attr:`Equilibrium.unique`).
UNIQUE_TOL = 1e-9
#: Above this many actions the LP uses HiGHS' interior-point method (with crossover), below it dual simplex.
IPM_THRESHOLD = 300
#: HiGHS feasibility tolerances (absolute; the LP sees payoffs in [0, 1]). Its defaults (1e-7) let the simplex
#: stop at a vertex up to 1e-7 worse than optimal, above the 1e-9 certificate; 1e-10 is the smallest it accepts.
_HIGHS = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}


def regularized_tol(dtype) -> float:
    """The fixed-point residual an exact regularized solve must reach: 1e-12 in float64, 1e-5 in float32 (the
    default ``tol`` of :func:`regularized_equilibrium`, and what :func:`algorithms.regularized_exact` checks
    after a run)."""
    return 1e-12 if jnp.dtype(dtype) == jnp.float64 else 1e-5


class SolverError(RuntimeError):
    """A solver failed or its answer did not pass its own certificate check."""


@dataclasses.dataclass(frozen=True)
class Equilibrium:
    """An equilibrium and its certificate (NumPy arrays, float64).

    Attributes:
        x, y: row / column strategies, ``[m]``/``[n]`` (``[C, m]``/``[C, n]`` for contextual games).
        value: the row player's value of the game solved (rho-weighted), in the units of ``A``: ``x^T A y`` for
            :func:`solve`, ``J_tau(x, y)`` for :func:`regularized_equilibrium`.
        gap: duality gap of ``(x, y)`` in the *unregularized* game, in the units of ``A`` (rho-weighted).
        certificate: how far ``(x, y)`` is from solving the problem posed, dimensionless: for :func:`solve` the
            duality gap divided by the payoff range ``max A - min A`` (the largest over prompts), for
            :func:`regularized_equilibrium` the fixed-point residual (max-norm, probability space).
        unique: True when the game has exactly one equilibrium (every prompt, for a contextual game); for
            :func:`regularized_equilibrium` always True (the regularized game is strictly convex-concave).
        tau: the KL weight (0 for :func:`solve`).
    """

    x: np.ndarray
    y: np.ndarray
    value: float
    gap: float
    certificate: float
    unique: bool
    tau: float = 0.0


def _lp_row_strategy(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """max_x min_j (x^T A)_j by LP; returns (x, y) with y the dual of the column constraints.

    Called with the normalized game (entries in [0, 1]), where HiGHS' absolute tolerances are relative ones.
    """
    m, n = A.shape
    c = np.zeros(m + 1)
    c[-1] = -1.0  # minimise -v
    A_ub = np.hstack([-A.T, np.ones((n, 1))])  # v - (x^T A)_j <= 0
    A_eq = np.concatenate([np.ones(m), [0.0]])[None, :]
    bounds = [(0, None)] * m + [(None, None)]
    method = "highs-ipm" if max(m, n) > IPM_THRESHOLD else "highs-ds"
    res = scipy.optimize.linprog(
        c, A_ub=A_ub, b_ub=np.zeros(n), A_eq=A_eq, b_eq=[1.0], bounds=bounds, method=method, options=_HIGHS
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


def _normalize(A: np.ndarray) -> tuple[np.ndarray, float, float]:
    """``(S, lo, half)`` with ``A = lo + 2 half S`` and ``S`` in [0, 1]; ``half = 0`` for a constant game.

    The shift comes first (``A - min A`` is exact for entries within a factor 2 of each other, so ``B + 1e12``
    keeps its digits). ``half`` is half the payoff range, which stays finite even when ``max A - min A``
    overflows (entries near +-1.8e308); then the game is halved before the shift.
    """
    lo, hi = float(A.min()), float(A.max())
    if hi == lo:
        return np.zeros_like(A), lo, 0.0
    span = hi - lo
    if np.isfinite(span):
        return (A - lo) / span, lo, 0.5 * span
    half = 0.5 * hi - 0.5 * lo
    return (0.5 * A - 0.5 * lo) / half, lo, half


def _unique(S: np.ndarray, x: np.ndarray, y: np.ndarray) -> bool:
    """Whether ``(x, y)`` is the only equilibrium of the normalized game ``S`` (resolution :data:`UNIQUE_TOL`).

    Exact characterization (in exact arithmetic): with supports ``I = {x > 0}``, ``J = {y > 0}`` and value ``v``,
    the equilibrium is unique iff (a) it is strictly complementary: ``(S y)_i < v`` for every row outside ``I``
    and ``(x^T S)_j > v`` for every column outside ``J`` (Goldman-Tucker: a unique equilibrium is strictly
    complementary; a pair that is not shows another equilibrium exists), and (b) the only solutions ``d`` of
    ``S_IJ d = 0, 1^T d = 0`` and ``c^T S_IJ = 0, 1^T c = 0`` are zero (otherwise ``y + eps d`` or ``x + eps c``
    is another equilibrium; if they are zero, every optimal strategy, being supported in ``I``/``J`` and
    equalizing on ``J``/``I``, is the returned one). Costs one SVD of each bordered support matrix. (HiGHS returns
    vertices, where a non-unique game already fails (a); (b) guards against any other strictly complementary
    point of a larger optimal set.)
    """
    t = UNIQUE_TOL
    v = float(x @ S @ y)
    I, J = x > t, y > t
    if np.any((S @ y)[~I] >= v - t) or np.any((x @ S)[~J] <= v + t):
        return False
    sub = S[np.ix_(I, J)]
    for M in (np.vstack([sub, np.ones((1, sub.shape[1]))]), np.vstack([sub.T, np.ones((1, sub.shape[0]))])):
        rows, cols = M.shape
        if cols > rows or np.linalg.svd(M, compute_uv=False)[-1] <= t:
            return False
    return True


def _solve_single(A: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray, float, float, float, bool]:
    """``(x, y, value, gap, relative gap, unique)`` of one ``[m, n]`` game, value and gap in A's units."""
    m, n = A.shape
    S, lo, half = _normalize(A)
    if half == 0.0:  # constant game: every profile is an equilibrium (and 1x1 games are refused)
        return np.full(m, 1.0 / m), np.full(n, 1.0 / n), lo, 0.0, 0.0, False
    x, y = _lp_row_strategy(S)
    x, y = _clean_simplex(x, "row strategy"), _clean_simplex(y, "column strategy")
    rel = _gap(S, x, y)
    if not rel <= LP_TOL:
        raise SolverError(
            f"LP certificate failed{where}: duality gap {rel:.3e} of the payoff range > {LP_TOL:.0e}"
        )
    v = float(x @ S @ y)  # in [0, 1]
    value = lo + 2.0 * half * v if np.isfinite(2.0 * half) else 2.0 * (0.5 * lo + half * v)  # no overflow
    return x, y, value, 2.0 * (half * rel), rel, _unique(S, x, y)


def solve(game: Game) -> Equilibrium:
    """Exact Nash equilibrium by LP (HiGHS), per prompt for contextual games; scale-invariant.

    Solves the normalized game ``S = (A - min A) / (max A - min A)`` (same equilibria: a positive affine map of
    the payoffs changes nothing but the value) and reports ``value`` and ``gap`` in the units of ``A``. A
    constant game (every entry equal) is its own case: every profile is an equilibrium; the uniform pair is
    returned with gap 0 and ``unique=False``. Dual simplex below :data:`IPM_THRESHOLD` actions, interior point
    (with crossover) above it.

    Uniqueness (:attr:`Equilibrium.unique`) is decided from the returned pair by the exact characterization of
    :func:`_unique` (strict complementarity and full rank of the bordered support matrices, one SVD each) at
    resolution :data:`UNIQUE_TOL` = 1e-9 of the payoff range: a game whose different equilibria all lie within
    about 1e-9 of each other counts as unique, and a unique equilibrium that leaves an action within 1e-9 of
    being a best response counts as not unique.

    Returns:
        :class:`Equilibrium` whose ``gap`` is the duality gap of the returned pair (units of ``A``) and whose
        ``certificate`` is that gap relative to the payoff range (the largest over prompts).
    Raises:
        TypeError: not a :class:`Game`.
        SolverError: when HiGHS fails or the returned pair's relative gap exceeds :data:`LP_TOL` = 1e-9.

    Example:
        >>> eq = games.solve(games.comal_cycle())
        >>> np.round(eq.x * 11, 12).tolist(), bool(eq.gap < 1e-9), eq.unique
        ([4.0, 3.0, 4.0], True, True)
    """
    if not isinstance(game, Game):
        raise TypeError(f"solve expects a Game, got {type(game).__name__}")
    A = np.asarray(game.A, dtype=np.float64)
    stack = A if game.contextual else A[None]
    out = [_solve_single(Ac, f" for context {c}" if game.contextual else "") for c, Ac in enumerate(stack)]
    xs, ys, vals, gaps, rels, uniq = (list(t) for t in zip(*out))
    unique = bool(all(uniq))
    if game.contextual:
        w = np.asarray(game.weights, dtype=np.float64)
        return Equilibrium(
            np.stack(xs), np.stack(ys), float(w @ vals), float(w @ gaps), float(max(rels)), unique
        )
    return Equilibrium(xs[0], ys[0], vals[0], gaps[0], rels[0], unique)


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

    Not scale-invariant (unlike :func:`solve`): ``tau`` has the units of the payoff, so the equilibrium of
    ``c A`` with ``tau`` is that of ``A`` with ``tau / c`` (and shifting ``A`` by a constant changes nothing).
    Choose ``tau`` relative to the payoff range.

    Args:
        game: any game (single or contextual).
        tau: KL weight, a finite number > 0, in payoff units.
        ref: reference policy (strictly positive, default uniform), or a tuple ``(ref_x, ref_y)``.
        tol: required fixed-point residual, a finite number > 0 (default 1e-12 in float64, 1e-5 in float32).
    Returns:
        :class:`Equilibrium` with ``certificate`` = the fixed-point residual and ``gap`` = the duality gap of
        the regularized equilibrium in the original game.
    Raises:
        TypeError / ValueError: bad ``tau``, ``tol`` or ``ref``.  SolverError: the residual does not reach
        ``tol``.
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
        tol = regularized_tol(game.dtype)
    elif isinstance(tol, bool) or not isinstance(tol, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"tol must be a real number, got {tol!r}")
    elif not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a finite number > 0, got {tol}")
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
        unique=True,
        tau=tau,
    )


_regularized_jit = jax.jit(regularized_solve)


@dataclasses.dataclass(frozen=True)
class Conditioning:
    """How well-conditioned a game's equilibrium is (:func:`conditioning`); small values predict slow
    last-iterate convergence.

    Attributes:
        singular: the smallest nonzero singular value of the payoff restricted to the support
            ``A[supp_x, supp_y]``, relative to ``max |A|`` (near-degeneracy: a small value means a nearly flat
            direction of equilibria).
        margin: the strict-complementarity margin relative to ``max |A|``: the smallest payoff deficit
            ``v - (A y*)_i`` (row) or ``(x*^T A)_j - v`` (column) of a response off the support (``inf`` when
            the equilibrium has full support). A small margin: a response that is almost as good as the
            equilibrium, whose mass decays slowly.
        min_mass: the smallest positive equilibrium probability (near the boundary: slow for OMWU and
            extragradient).
    """

    singular: float
    margin: float
    min_mass: float


def conditioning(game: Game, eq: Equilibrium | None = None, *, support_tol: float = 1e-9) -> Conditioning:
    """The conditioning of ``game``'s equilibrium (default :func:`solve`'s): see :class:`Conditioning`.

    Single games only. A support is the set of actions with probability above ``support_tol``.

    Raises:
        ValueError: a contextual game, or a bad ``support_tol``.

    Example:
        >>> c = games.conditioning(games.library.near_degenerate(0.01))
        >>> bool(c.singular < 0.03), c.margin   # delta = 0.01: nearly degenerate, full support
        (True, inf)
    """
    if game.contextual:
        raise ValueError("conditioning: a single game is needed (call it per prompt of a contextual game)")
    if not 0 < support_tol < 1:
        raise ValueError(f"conditioning: support_tol must lie in (0, 1), got {support_tol!r}")
    eq = solve(game) if eq is None else eq
    A = np.asarray(game.A, np.float64)
    scale = np.abs(A).max() or 1.0
    x, y = np.asarray(eq.x, np.float64), np.asarray(eq.y, np.float64)
    sx, sy = x > support_tol, y > support_tol
    sv = np.linalg.svd(A[np.ix_(sx, sy)], compute_uv=False) / scale
    nonzero = sv[sv > 1e-12]
    v = float(x @ A @ y)
    deficits = np.concatenate([(v - A @ y)[~sx], (x @ A - v)[~sy]]) / scale
    return Conditioning(
        singular=float(nonzero.min()) if nonzero.size else 0.0,
        margin=float(deficits.min()) if deficits.size else float("inf"),
        min_mass=float(min(x[sx].min(), y[sy].min())),
    )
