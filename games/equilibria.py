"""Equilibrium sets: what is true of *every* equilibrium when :func:`games.solve` finds more than one.

The row player maximises ``x^T A y``. In a zero-sum game the equilibria form a product ``X* x Y*`` of two
polytopes, the players' optimal faces:

* ``X* = {x >= 0, 1^T x = 1, x^T A >= v 1}`` (the row strategies that guarantee the value ``v``),
* ``Y* = {y >= 0, 1^T y = 1, A y <= v 1}``; on a symmetric game (``A = -A^T``, every preference game)
  ``Y* = X*``.

So a linear quantity ``c^T x`` ranges over an interval whose ends are two LPs over the face, and any per-action
statement ("model k is in the Nash policy") holds for the whole set only if it holds at both ends.

* :func:`equilibrium_set` — per action, the minimum and maximum mass over all equilibria (at most 2 LPs per
  action and player), the actions in every equilibrium and the actions in some equilibrium.
* :func:`value_range` — the range of any linear quantity ``c^T x`` over ``X*`` (or ``Y*``).
* :func:`worst_case_win_rate_range` — the range over ``X*`` of the worst-case win rate against another game,
  ``1/2 + min_j (x^T B)_j``.
* :func:`max_entropy_equilibrium` — one canonical selection: the equilibrium of maximal entropy, which is also
  the limit ``tau -> 0`` of the KL-regularized equilibrium from the uniform reference (proof in its docstring).

Numerics. Every LP is solved on the normalized game ``S = (A - min A) / (max A - min A)`` (entries in [0, 1],
the same equilibria), with the face ``{x^T S >= w}`` where ``w = min_j (x0^T S)_j`` of :func:`games.solve`'s
certified strategy ``x0``: ``w`` is at most the value and within :data:`games.solvers.LP_TOL` (1e-9) of it, so
the face holds every exact equilibrium and each of its points is an equilibrium up to 1e-9 of the payoff range.
Where :func:`games.solve` finds the equilibrium unique (:attr:`games.Equilibrium.unique`, decided at
:data:`games.solvers.UNIQUE_TOL` of the payoff range from the same LP), the face is that point and no LP runs:
an LP over ``{x^T S >= w}`` also returns points up to HiGHS's feasibility tolerance (1e-10) below ``w``, and on
a badly scaled game those lie far from the equilibrium (``[[1, 0], [0, 1.19e-7]]``: the column strategy
``(0, 1)`` is 1.4e-14 short of the value, 1.2e-7 away from the equilibrium), so the two would disagree.
Each LP is certified (:data:`FACE_TOL`): HiGHS must report optimal, the solution must lie on the face and the
dual multipliers must prove the optimal value (stationarity, signs, and equal primal and dual objectives);
otherwise :class:`games.SolverError`. Contextual games are handled per prompt (the set is a product over
prompts).
"""

from __future__ import annotations

import dataclasses
import numbers

import numpy as np
import scipy.optimize

from .core import Game
from .solvers import (
    _HIGHS,
    LP_TOL,
    Equilibrium,
    SolverError,
    _clean_simplex,
    _lp_row_strategy,
    _normalize,
    _unique,
    solve,
)

__all__ = [
    "EquilibriumSet",
    "equilibrium_set",
    "value_range",
    "worst_case_win_rate_range",
    "max_entropy_equilibrium",
]

#: Certificate tolerance of every face LP (absolute, on the normalized game): primal feasibility, dual
#: stationarity and the primal-dual objective gap.
FACE_TOL = 1e-9


@dataclasses.dataclass(frozen=True)
class EquilibriumSet:
    """Per-action bounds of the equilibrium set (:func:`equilibrium_set`), NumPy float64 arrays.

    Attributes:
        x_min, x_max: the least and greatest mass each row action has in any equilibrium, ``[m]`` (``[C, m]``
            for a contextual game).
        y_min, y_max: the same for the column player, ``[n]`` (``[C, n]``); equal to the row's on a symmetric
            game.
        value: the row player's value (rho-weighted), in the units of ``A``.
        unique: True when every action's minimum equals its maximum within ``support_tol`` (every prompt).
        support_tol: the mass above which an action counts as played.
    """

    x_min: np.ndarray
    x_max: np.ndarray
    y_min: np.ndarray
    y_max: np.ndarray
    value: float
    unique: bool
    support_tol: float

    @property
    def in_every_x(self) -> np.ndarray:
        """Row actions played in every equilibrium (``x_min > support_tol``), boolean, shape of ``x_min``."""
        return self.x_min > self.support_tol

    @property
    def in_some_x(self) -> np.ndarray:
        """Row actions played in some equilibrium (``x_max > support_tol``)."""
        return self.x_max > self.support_tol

    @property
    def in_every_y(self) -> np.ndarray:
        """Column actions played in every equilibrium (``y_min > support_tol``)."""
        return self.y_min > self.support_tol

    @property
    def in_some_y(self) -> np.ndarray:
        """Column actions played in some equilibrium (``y_max > support_tol``)."""
        return self.y_max > self.support_tol


# ---------------------------------------------------------------------------------------------------------------
# The optimal face of one player of one (non-contextual) game, and certified LPs over it
# ---------------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Face:
    """``{x >= 0, 1^T x = 1, x^T S >= w}`` of a normalized game ``S`` (``None``: a constant game, whose face is
    the whole simplex); the single point ``x0`` when :func:`games.solve` finds the equilibrium unique."""

    S: np.ndarray | None
    w: float
    x0: np.ndarray  # a certified point of the face (the LP's equilibrium strategy)
    size: int
    unique: bool  # solve's decision (games.solvers._unique on the same LP's pair): the face is {x0}


def _face(A: np.ndarray, player: int) -> _Face:
    """The optimal face of ``player`` (0 row, 1 column) of one ``[m, n]`` game, from :func:`games.solve`'s own
    LP on the normalized game (the same pair, so the same uniqueness decision); the column player's face is
    the row face of ``-A^T``, with ``w`` read off the column strategy of that LP."""
    S, _, half = _normalize(A)
    size = A.shape[player]
    if half == 0.0:
        return _Face(None, 0.0, np.full(size, 1.0 / size), size, False)
    x, y = _lp_row_strategy(S)
    x, y = _clean_simplex(x, "row strategy"), _clean_simplex(y, "column strategy")
    gap = float((S @ y).max() - (x @ S).min())
    if not gap <= LP_TOL:
        raise SolverError(f"LP certificate failed: duality gap {gap:.3e} of the payoff range > {LP_TOL:.0e}")
    unique = _unique(S, x, y)
    if player == 1:
        S, x = _normalize(-A.T)[0], y
    return _Face(S, float((x @ S).min()), x, size, unique)


def _face_lp(face: _Face, c: np.ndarray, where: str) -> tuple[float, np.ndarray]:
    """``(min c^T x, argmin)`` over the face, certified by its dual (see the module docstring)."""
    m = face.size
    if face.unique:  # one point: the LP would also return points up to HiGHS's 1e-10 feasibility below v
        return float(c @ face.x0), face.x0
    if face.S is None:  # the whole simplex: the least entry of c, at a pure strategy
        i = int(np.argmin(c))
        return float(c[i]), np.eye(m)[i]
    S, w = face.S, face.w
    A_ub = -S.T  # -(x^T S)_j <= -w
    b_ub = np.full(S.shape[1], -w)
    A_eq = np.ones((1, m))
    res = scipy.optimize.linprog(
        c,
        A_ub=A_ub,
        b_ub=b_ub,
        A_eq=A_eq,
        b_eq=[1.0],
        bounds=[(0, None)] * m,
        method="highs-ds",
        options=_HIGHS,
    )
    if res.status != 0:
        raise SolverError(f"face LP{where} failed: status {res.status}: {res.message}")
    x = res.x
    scale = 1.0 + float(np.abs(c).max())
    infeas = max(-x.min(), abs(x.sum() - 1.0), w - float((x @ S).min()))
    lam, mu, nu = res.ineqlin.marginals, res.eqlin.marginals, res.lower.marginals
    station = float(np.abs(c - (A_ub.T @ lam + A_eq.T @ mu + nu)).max())
    signs = max(float(lam.max(initial=0.0)), float(-nu.min(initial=0.0)))
    dual = float(b_ub @ lam + mu.sum())
    primal = float(c @ x)
    if not (infeas <= FACE_TOL and station <= FACE_TOL * scale and signs <= FACE_TOL * scale):
        raise SolverError(
            f"face LP{where} certificate failed: infeasibility {infeas:.2e}, stationarity {station:.2e}, "
            f"dual sign {signs:.2e} (tolerance {FACE_TOL:.0e})"
        )
    if not abs(primal - dual) <= FACE_TOL * scale:
        raise SolverError(f"face LP{where} certificate failed: primal {primal!r} != dual {dual!r}")
    x = np.maximum(x, 0.0)
    return primal, x / x.sum()


def _mass_bounds(face: _Face, where: str) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Per-action minimum and maximum mass over the face and the LP solutions: one LP per action for the
    maximum; one for the minimum only where every point found so far plays the action (a point of the face
    with ``x_i = 0`` proves the minimum is 0), so at most 2 LPs per action."""
    lo, hi, points = np.zeros(face.size), np.empty(face.size), []
    for i, e in enumerate(np.eye(face.size)):
        neg, p = _face_lp(face, -e, f"{where} (max mass of action {i})")
        hi[i] = -neg
        points.append(p)
    for i, e in enumerate(np.eye(face.size)):
        if min(p[i] for p in points) > 0.0:
            lo[i], p = _face_lp(face, e, f"{where} (min mass of action {i})")
            points.append(p)
    return np.clip(lo, 0.0, 1.0) + 0.0, np.clip(hi, 0.0, 1.0) + 0.0, points  # + 0.0: no -0.0


def _faces(game: Game, player: int) -> list[_Face]:
    """The optimal face of ``player`` (0 row, 1 column) for each prompt (one for a single game)."""
    A = np.asarray(game.A, dtype=np.float64)
    stack = A if game.contextual else A[None]
    return [_face(Ac, player) for Ac in stack]


def _check_game(game, name: str) -> None:
    if not isinstance(game, Game):
        raise TypeError(f"{name} expects a Game, got {type(game).__name__}")


def _check_player(player) -> int:
    if isinstance(player, bool) or player not in (0, 1):
        raise ValueError(f"player must be 0 (row) or 1 (column), got {player!r}")
    return int(player)


def _check_tol(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    if not (np.isfinite(value) and 0 < value < 1):
        raise ValueError(f"{name} must lie in (0, 1), got {value!r}")
    return float(value)


def _where(game: Game, c: int) -> str:
    return f" for context {c}" if game.contextual else ""


# ---------------------------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------------------------


def equilibrium_set(game: Game, *, support_tol: float = 1e-9) -> EquilibriumSet:
    """Per-action minimum and maximum mass over all equilibria of ``game`` (per prompt for contextual games).

    ``x_min[i] = min {x_i : x in X*}`` and ``x_max[i] = max {x_i : x in X*}``, two certified LPs per action over
    the row player's optimal face, and the same over ``Y*`` for the column player (skipped on a symmetric game,
    where ``Y* = X*``). :attr:`EquilibriumSet.in_every_x` (``x_min > support_tol``) are the actions every
    equilibrium plays, :attr:`EquilibriumSet.in_some_x` (``x_max > support_tol``) those some equilibrium plays.
    Any equilibrium ``x`` satisfies ``x_min <= x <= x_max``; the bounds are attained one action at a time, not
    jointly. Cost: at most ``2 (m + n)`` LPs of the game's size (``2 m`` on a symmetric game) and one
    :func:`solve`.

    Args:
        game: any game (single or contextual).
        support_tol: mass above which an action counts as played, in (0, 1).
    Raises:
        TypeError: ``game`` not a :class:`Game`, or ``support_tol`` not a number.
        ValueError: ``support_tol`` outside (0, 1).
        SolverError: an LP fails or its certificate fails.

    Example:
        >>> s = games.equilibrium_set(games.duplicated_response())   # actions 0 and 3 are copies
        >>> np.round(s.x_min * 11, 9).tolist(), np.round(s.x_max * 11, 9).tolist()
        ([0.0, 3.0, 4.0, 0.0], [4.0, 3.0, 4.0, 4.0])
        >>> s.in_every_x.tolist(), s.in_some_x.tolist(), s.unique
        ([False, True, True, False], [True, True, True, True], False)
    """
    _check_game(game, "equilibrium_set")
    support_tol = _check_tol(support_tol, "support_tol")
    value = solve(game).value
    bounds = []
    for player in (0, 1):
        if player == 1 and game.symmetric:
            bounds.append(bounds[0])
            continue
        per = [_mass_bounds(f, _where(game, c)) for c, f in enumerate(_faces(game, player))]
        lo, hi = np.stack([p[0] for p in per]), np.stack([p[1] for p in per])
        bounds.append((lo, hi) if game.contextual else (lo[0], hi[0]))
    (x_min, x_max), (y_min, y_max) = bounds
    unique = bool(np.all(x_max - x_min <= support_tol) and np.all(y_max - y_min <= support_tol))
    return EquilibriumSet(x_min, x_max, y_min, y_max, float(value), unique, support_tol)


def _check_vector(c, shape: tuple[int, ...], name: str) -> np.ndarray:
    if isinstance(c, (str, bytes, bool)):
        raise TypeError(f"{name} must be an array of numbers, got {c!r}")
    try:
        arr = np.asarray(c, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must be an array of numbers, got {c!r}") from e
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape} (the player's policy shape), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {arr.tolist()}")
    return arr


def value_range(game: Game, c, *, player: int = 0) -> tuple:
    """``(min, max)`` of the linear quantity ``c^T x`` over the optimal face of ``player`` (two certified LPs).

    Any linear policy-valued quantity qualifies: a mass (``c = e_i``), the mass of a group of actions, an
    expected score ``c_i`` per action, the payoff against a fixed opponent (``c = A y``). On a contextual game
    ``c`` has the policy shape ``[C, n]`` and the answer is two arrays ``[C]``, one range per prompt (the set
    is a product over prompts, so the range of ``sum_c rho_c c_c^T x_c`` is ``rho @ low`` to ``rho @ high``).

    Args:
        game: any game.
        c: coefficients, the shape of the player's policy.
        player: 0 for the row player's face ``X*``, 1 for the column player's ``Y*``.
    Raises:
        TypeError / ValueError: ``c`` not finite numbers of the policy's shape (or its range overflowing
            float64), or ``player`` not 0 or 1.
        SolverError: an LP or its certificate fails.

    Example:
        >>> lo, hi = games.value_range(games.duplicated_response(), [1.0, 0.0, 0.0, 0.0])
        >>> round(lo, 12), round(hi * 11, 9)
        (0.0, 4.0)
    """
    _check_game(game, "value_range")
    player = _check_player(player)
    n = game.shape[player]
    c = _check_vector(c, (*game.A.shape[:-2], n), "c")
    rows = c if game.contextual else c[None]
    # the LPs see c scaled to [0, 1]: c^T x = low + span * u^T x on the simplex (HiGHS fails on c ~ 1e300)
    with np.errstate(over="ignore"):
        low, span = rows.min(axis=-1), np.ptp(rows, axis=-1)
    if not np.all(np.isfinite(span)):
        raise ValueError(
            f"c's range max(c) - min(c) overflows float64: c runs from {float(rows.min())!r} to "
            f"{float(rows.max())!r}"
        )
    units = (rows - low[:, None]) / np.where(span > 0, span, 1.0)[:, None]
    lows, highs = [], []
    for k, (face, u) in enumerate(zip(_faces(game, player), units)):
        lows.append(float(low[k] + span[k] * _face_lp(face, u, f"{_where(game, k)} (min of c^T x)")[0]))
        highs.append(float(low[k] - span[k] * _face_lp(face, -u, f"{_where(game, k)} (max of c^T x)")[0]))
    if game.contextual:
        return np.asarray(lows), np.asarray(highs)
    return lows[0], highs[0]


def worst_case_win_rate_range(game: Game, against: Game) -> tuple[float, float]:
    """Range of the worst-case win rate ``f(x) = 1/2 + min_j (x^T B)_j`` of ``game``'s equilibria, judged by
    another preference game ``against`` (payoff ``B = P - 1/2``); rho-weighted over ``against``'s prompts,
    as :func:`games.worst_case_win_rate`. Any square game over the same actions is read the same way, its
    payoff as a win rate minus 1/2: e.g. the worst case over the unobserved pairs
    (``games.from_comparisons(..., missing="worst_case")``, not a preference game: ``P + P^T < 1`` there).

    ``f`` is concave and piecewise linear in ``x``, so the two ends need different routes:

    * maximum: one LP over the face, ``max t`` subject to ``t <= (x^T B)_j`` for every ``j``;
    * minimum: the minimum of a concave function over a polytope is attained at a vertex, and
      ``min_x min_j (x^T B)_j = min_j min_x (x^T B)_j`` (two minima commute), so it is the least of ``n``
      LP minima of the linear functions ``(x^T B)_j`` (:func:`value_range` with ``c = B[:, j]``). No vertex
      enumeration is needed.

    Args:
        game: the game whose equilibria (row player) are evaluated.
        against: a preference game with the same actions (and prompts).
    Raises:
        TypeError: either argument not a :class:`Game`.  ValueError: ``against`` not square, or shapes that
        differ.  SolverError: an LP or its certificate fails.

    Example:
        >>> lo, hi = games.worst_case_win_rate_range(games.duplicated_response(), games.duplicated_response())
        >>> round(lo, 9), round(hi, 9)   # every equilibrium guarantees the value, 0: win rate 1/2
        (0.5, 0.5)
    """
    _check_game(game, "worst_case_win_rate_range")
    _check_game(against, "worst_case_win_rate_range")
    if against.A.shape[:-1] != game.A.shape[:-1] or against.shape[0] != against.shape[1]:
        raise ValueError(
            f"worst_case_win_rate_range: `against` has shape {tuple(against.A.shape)}, but the row policies of "
            f"`game` {tuple(game.A.shape)} need {(*game.A.shape[:-1], game.A.shape[-2])}"
        )
    B = np.asarray(against.A, np.float64)
    Bs = B if against.contextual else B[None]
    faces = _faces(game, 0)
    lows, highs = [], []
    for k, (face, Bk) in enumerate(zip(faces, Bs)):
        where = _where(game, k)
        lows.append(
            min(_face_lp(face, Bk[:, j], f"{where} (min of column {j})")[0] for j in range(Bk.shape[1]))
        )
        highs.append(_max_min_payoff(face, Bk, where))
    w = np.asarray(against.weights, np.float64) if against.contextual else np.ones(1)
    return float(0.5 + w @ np.asarray(lows)), float(0.5 + w @ np.asarray(highs))


def _max_min_payoff(face: _Face, B: np.ndarray, where: str) -> float:
    """``max_{x in face} min_j (x^T B)_j`` by one LP in ``(x, t)``; certified by re-evaluating ``f`` at the
    solution (the optimal ``t`` must equal ``min_j (x^T B)_j``) and by the dual objective."""
    m, n = B.shape
    if face.unique:
        return float((face.x0 @ B).min())
    if face.S is None:  # the whole simplex: the value of B as a game
        S, lo, half = _normalize(B)
        if half == 0.0:
            return lo
        x, _ = _lp_row_strategy(S)
        x = _clean_simplex(x, "row strategy")
        return float((x @ B).min())
    S, w = face.S, face.w
    c = np.zeros(m + 1)
    c[-1] = -1.0  # minimise -t
    A_ub = np.vstack([np.hstack([-B.T, np.ones((n, 1))]), np.hstack([-S.T, np.zeros((S.shape[1], 1))])])
    b_ub = np.concatenate([np.zeros(n), np.full(S.shape[1], -w)])
    A_eq = np.concatenate([np.ones(m), [0.0]])[None, :]
    bounds = [(0, None)] * m + [(None, None)]
    res = scipy.optimize.linprog(
        c, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=[1.0], bounds=bounds, method="highs-ds", options=_HIGHS
    )
    if res.status != 0:
        raise SolverError(f"max worst-case LP{where} failed: status {res.status}: {res.message}")
    x, t = res.x[:m], res.x[m]
    bscale = 1.0 + float(np.abs(B).max())
    f = float((x @ B).min())
    infeas = max(-x.min(), abs(x.sum() - 1.0), w - float((x @ S).min()))
    dual = float(b_ub @ res.ineqlin.marginals + res.eqlin.marginals.sum())
    if not (infeas <= FACE_TOL and abs(f - t) <= FACE_TOL * bscale and abs(-t - dual) <= FACE_TOL * bscale):
        raise SolverError(
            f"max worst-case LP{where} certificate failed: infeasibility {infeas:.2e}, t {t!r} vs "
            f"min_j (x^T B)_j {f!r}, dual objective {-dual!r}"
        )
    return f


def max_entropy_equilibrium(game: Game, *, tol: float = 1e-9) -> Equilibrium:
    """The equilibrium of maximal entropy: ``x = argmax {H(x) : x in X*}``, ``y = argmax {H(y) : y in Y*}``
    (per prompt), one canonical selection from a set of equilibria.

    ``H`` is strictly concave, so the selection is unique; it is symmetric under any relabelling that maps
    the game to itself (duplicate actions share their mass equally), and equals the equilibrium when that is
    unique.

    **It is the limit tau -> 0 of the KL-regularized equilibrium from the uniform reference**
    (:func:`games.regularized_equilibrium`). With the uniform reference ``KL(x || u) = log m - H(x)``, so
    ``(x_t, y_t)`` is the saddle point of ``x^T A y + tau H(x) - tau H(y)``. For any equilibrium ``(x*, y*)``
    the saddle inequalities ``J(x*, y_t) <= J(x_t, y_t) <= J(x_t, y*)`` add up to
    ``x*^T A y_t - x_t^T A y* <= tau [H(x_t) - H(x*) + H(y_t) - H(y*)]``; the left side is ``>= v - v = 0``
    (``x*`` guarantees ``v``, ``y*`` concedes at most ``v``), so ``H(x_t) + H(y_t) >= H(x*) + H(y*)`` for every
    ``tau > 0``. Any limit point of ``(x_t, y_t)`` is an equilibrium (its gap tends to 0) and, by continuity of
    ``H``, has at least the entropy of every equilibrium: it is the unique maximizer, whose two halves maximize
    ``H`` over ``X*`` and ``Y*`` separately. So the two selections coincide (tested in
    ``tests/test_equilibrium_sets.py``, error ``O(tau)``). With another reference ``r`` the same argument
    selects the equilibrium closest to ``r`` in ``KL(. || r)``.

    Computation: the actions outside every equilibrium (:func:`equilibrium_set`'s ``x_max <= tol``) are fixed
    at 0; on the others, SLSQP maximizes ``H`` over the face from the centroid of the face LPs' solutions (a
    point where every remaining action has positive mass). The answer is checked to lie on the face
    (non-negative, sums to 1, ``x^T S >= w - tol``, see the module docstring) and to satisfy the optimality
    conditions: ``log x_i`` on the support must equal ``a + sum_j lambda_j S_ij`` with ``lambda >= 0`` on the
    active columns, to ``1e-6`` (non-negative least squares).

    Args:
        game: any game.
        tol: face tolerance and the mass below which an action is outside every equilibrium, in (0, 1).
    Returns:
        :class:`games.Equilibrium` (``tau = 0``; ``certificate`` the larger of the relative duality gap and
        the optimality residual; ``unique`` as :func:`games.solve` says for the game).
    Raises:
        TypeError / ValueError: bad ``game`` or ``tol``.  SolverError: an LP, SLSQP or a check fails.

    Example:
        >>> eq = games.max_entropy_equilibrium(games.duplicated_response())
        >>> np.round(eq.x * 11, 6).tolist()   # the copies share 4/11 equally
        [2.0, 3.0, 4.0, 2.0]
    """
    _check_game(game, "max_entropy_equilibrium")
    tol = _check_tol(tol, "tol")
    eq = solve(game)
    out, certs = [], []
    for player in (0, 1):
        if player == 1 and game.symmetric:
            out.append(out[0])
            continue
        per = []
        for k, face in enumerate(_faces(game, player)):
            p, cert = _max_entropy_face(face, tol, _where(game, k))
            per.append(p)
            certs.append(cert)
        out.append(np.stack(per) if game.contextual else per[0])
    x, y = out
    A = np.asarray(game.A, np.float64)
    stack, xs, ys = (A, x, y) if game.contextual else (A[None], x[None], y[None])
    gaps, rels, vals = [], [], []
    for Ac, xc, yc in zip(stack, xs, ys):
        g = float((Ac @ yc).max() - (xc @ Ac).min())
        span = float(Ac.max() - Ac.min())
        gaps.append(g)
        rels.append(g / span if span > 0 else 0.0)
        vals.append(float(xc @ Ac @ yc))
    w = np.asarray(game.weights, np.float64) if game.contextual else np.ones(1)
    cert = float(max(max(rels), max(certs)))
    return Equilibrium(x, y, float(w @ vals), float(w @ gaps), cert, eq.unique)


def _max_entropy_face(face: _Face, tol: float, where: str) -> tuple[np.ndarray, float]:
    """The entropy maximizer over one face and its optimality residual.

    The face is lower-dimensional: the columns that some equilibrium of the other player plays are tight at
    every point (complementary slackness), so SLSQP on ``x^T S >= w`` sees a slab of width ``~1e-9`` and may
    call it infeasible (LLMFAO's crowd margins game). So: the actions some equilibrium plays ``K``
    (``x_max > tol``); the implicit equalities ``J``, the columns tight at every LP solution and at the maximum
    of ``(x^T S)_j`` (one more LP each); then SLSQP over ``z = x0 + N u`` (``x0`` the LP solutions' centroid,
    ``N`` a basis of the kernel of ``[1, S_KJ]^T``) with the remaining columns as inequalities, which have an
    interior."""
    m = face.size
    if face.S is None:
        return np.full(m, 1.0 / m), 0.0
    _, hi, points = _mass_bounds(face, where)
    K = hi > tol
    if K.sum() == 1:
        return np.eye(m)[np.argmax(K)], 0.0
    SK, slack_tol = face.S[K], 1e-9
    tight = (np.stack(points) @ face.S - face.w).max(axis=0) <= slack_tol
    for j in np.flatnonzero(tight):
        neg, p = _face_lp(face, -face.S[:, j], f"{where} (max of column {j})")
        points.append(p)
        tight[j] = -neg - face.w <= slack_tol
    x0 = np.mean(points, axis=0)[K]
    x0 = x0 / x0.sum()
    E = np.vstack([np.ones(K.sum()), SK[:, tight].T])
    _, sv, Vt = np.linalg.svd(E)
    N = Vt[int((sv > 1e-10 * sv[0]).sum()) :].T  # [|K|, d], the directions within the affine hull
    SI = SK[:, ~tight]

    def negH(u):
        z = x0 + N @ u
        return float(np.sum(z * np.log(np.maximum(z, 1e-300))))

    def grad(u):
        return N.T @ (np.log(np.maximum(x0 + N @ u, 1e-300)) + 1.0)

    z = x0
    if N.shape[1]:
        cons = [
            {"type": "ineq", "fun": lambda u: x0 + N @ u, "jac": lambda u: N},
            {"type": "ineq", "fun": lambda u: (x0 + N @ u) @ SI - face.w, "jac": lambda u: SI.T @ N},
        ]
        res = scipy.optimize.minimize(
            negH, np.zeros(N.shape[1]), jac=grad, method="SLSQP", constraints=cons,
            options={"ftol": 1e-15, "maxiter": 1000},
        )  # fmt: skip
        if not res.success and res.status != 8:  # 8: positive directional derivative in line search
            raise SolverError(f"max-entropy SLSQP{where} failed: {res.message}")
        z = x0 + N @ res.x
    infeas = max(-z.min(), abs(z.sum() - 1.0), face.w - float((z @ SK).min()))
    if not infeas <= tol:
        raise SolverError(f"max-entropy point{where} is off the face by {infeas:.2e} > {tol:.0e}")
    z = np.maximum(z, 0.0)
    z = z / z.sum()
    if z.min() <= 0.0:
        raise SolverError(f"max-entropy point{where} puts mass 0 on an action some equilibrium plays")
    # optimality: log z = a 1 + S_KJ mu + S_KI lam, mu free (equalities), lam >= 0 on the active inequalities
    active = (z @ SI) - face.w <= 1e-7
    SJ = SK[:, tight]
    M = np.hstack([np.ones((z.size, 1)), -np.ones((z.size, 1)), SJ, -SJ, SI[:, active]])
    _, resid = scipy.optimize.nnls(M, np.log(z), maxiter=50 * M.shape[1])
    resid = float(resid) / np.sqrt(z.size)
    if not resid <= 1e-6:
        raise SolverError(f"max-entropy point{where} fails its optimality check: residual {resid:.2e} > 1e-6")
    x = np.zeros(m)
    x[K] = z
    return x, resid
