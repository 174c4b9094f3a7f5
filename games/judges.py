"""Judges as feedback models: biased verdicts, the game a learner then plays, and what the bias costs.

Every game of the sandbox assumes that feedback comes from the true preference ``P``. In practice a **judge**
(an LLM, a preference model) gives it, and its verdict depends on the order of presentation. Here a judge is
a matrix ``J`` with ``J[i, j]`` = Pr(``i`` wins when ``i`` is shown **first** and ``j`` second), built from
the true game by the biases of :class:`Judge` (:func:`first_wins`), or by the user's function
(:func:`user_judge`). The row player maximises, as everywhere.

Biases (applied in this order; each is a number, so a batch of judges is a ``vmap`` over a :class:`Judge`):

* style / length ``lambda`` and self-preference ``beta``: ``logit Q_ij = logit P_ij + lambda (s_i - s_j)
  + beta (f_i - f_j)`` with ``s`` a per-response feature (:func:`lengths` for a sequence game, any vector
  otherwise) and ``f`` the indicator of the judge's own responses (GPT judging GPT);
* position ``b``: the first-shown response wins with ``clip(Q_ij + b, 0, 1)`` (also against itself: the
  diagonal is ``1/2 + b``);
* label noise ``eps``: the verdict is flipped with probability ``eps``: ``J = (1 - eps) J' + eps (1 - J')``.

Style, self-preference and noise keep ``J + J^T = 1``: they change the game (noise only its scale, by
``1 - 2 eps``: the equilibria stay). Position bias does not: ``J + J^T = 1 + 2b`` off the clipped entries.

**Presentation** (``order``; :func:`games.feedback.sampled` draws the duels):

* ``"random"`` (a fair coin picks the order) and ``"both"`` (both orders judged, the verdicts averaged; two
  judgments per duel): each duel is won on average with ``K = (J + 1 - J^T) / 2``, the skew-symmetric part of
  ``J``, a true preference game (:func:`skew_part`). For a position bias without clipping ``K = P`` exactly.
* ``"fixed"`` (the learner's response always shown first, as in online DPO against a reference): the player
  whose response is ``i`` wins with ``J[i, j]``, whichever player it is. Writing ``G = J - 1/2 = S + B`` with
  ``S = K - 1/2`` skew-symmetric and ``B = (J + J^T - 1) / 2`` symmetric, the learner plays the **symmetric
  two-player game** in which each player earns ``G[own, other]``: a zero-sum game ``S`` plus a common-interest
  game ``B``. Self-play updates ascend ``G pi = S pi + B pi``; their rest points are the **symmetric Nash
  equilibria** of that game: ``pi`` with ``(G pi)_i <= pi^T G pi`` for every ``i``
  (:func:`symmetric_equilibrium`, a mixed-integer LP). When ``B`` is a constant (a position bias that clips
  nothing: ``B = b 1 1^T``) every update that normalises (softmax) ignores it, and the game is ``P``'s.

:func:`price` reports what a judge (or a fitted model, :mod:`games.fitted`) costs: the equilibria of the game
the learner plays, and over **all** of them (mixed-integer LPs over the equilibrium set; an LP where it is a
polytope) the range of the true exploitability, the true worst-case win rate and the total variation to the
true game's equilibrium set.

Example:
    >>> P = games.comal_cycle().P
    >>> J = games.judges.first_wins(games.judges.Judge(position=0.026), P)
    >>> round(float(J[0, 1]), 3), round(float(J[1, 0]), 3)   # 0.1 + b and 0.9 + b
    (0.126, 0.926)
    >>> bool(np.allclose(games.judges.skew_part(J), P, atol=1e-15))   # random or both orders: P itself
    True
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize
from scipy.sparse import csr_matrix

from .core import Game, _as_float_array, preference_game
from .feedback import ORDERS

__all__ = [
    "Judge",
    "judge",
    "first_wins",
    "user_judge",
    "lengths",
    "judge_game",
    "skew_part",
    "played_game",
    "symmetric_equilibrium",
    "Price",
    "price",
    "MIP_TOL",
    "UNIQUE_TOL",
    "BIAS_GRID",
    "bias_grid",
    "price_table",
]

#: Feasibility tolerance of the equilibrium conditions in the (mixed-integer) LPs of :func:`price` and
#: :func:`symmetric_equilibrium`, in payoff units (``P`` is in ``[0, 1]``).
MIP_TOL = 1e-7
#: :class:`Price` ranges hold to about ten times :data:`MIP_TOL` (HiGHS's own feasibility tolerance is 1e-7);
#: an equilibrium counts as unique when every response's mass range is below this.
UNIQUE_TOL = 1e-5


class Judge(NamedTuple):
    """A biased judge's parameters (a pytree of numbers: ``vmap`` over a batch of judges).

    Attributes:
        position: ``b``, added to the first-shown response's win probability (then clipped to ``[0, 1]``).
            The 52.6 % first-position win rate of GPT-4 on MT-Bench is ``b = 0.026``.
        style: ``lambda``, the logit bonus per unit of the feature ``s`` (length).
        self_preference: ``beta``, the logit bonus of the judge's own responses.
        noise: ``eps``, the probability that a verdict is flipped, in ``[0, 1]``.
    """

    position: float = 0.0
    style: float = 0.0
    self_preference: float = 0.0
    noise: float = 0.0


def _real(value, name: str, low: float = -np.inf, high: float = np.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    if not (np.isfinite(v) and low <= v <= high):
        raise ValueError(f"{name} must be a finite number in [{low}, {high}], got {value!r}")
    return v


def judge(
    position: float = 0.0, style: float = 0.0, self_preference: float = 0.0, noise: float = 0.0
) -> Judge:
    """A validated :class:`Judge`.

    Raises:
        TypeError: a parameter that is not a real number.
        ValueError: ``position`` outside ``[-1, 1]``, ``noise`` outside ``[0, 1]``, a non-finite value.
    """
    return Judge(
        _real(position, "position", -1.0, 1.0),
        _real(style, "style"),
        _real(self_preference, "self_preference"),
        _real(noise, "noise", 0.0, 1.0),
    )


def first_wins(j: Judge, P, features=None, own=None) -> jax.Array:
    """``J[i, j]`` = Pr(``i`` wins when shown first): the biases of ``j`` applied to the true ``P`` (module
    docstring). Pure ``jnp``: runs under ``jit`` and ``vmap`` (over judges, games, features).

    Args:
        j: a :class:`Judge`.
        P: the true preference ``[n, n]`` (or ``[C, n, n]``), ``P + P^T = 1``.
        features: the style feature ``s`` ``[n]`` (``[C, n]``); required when ``j.style`` is not 0.
        own: the judge's own responses, a boolean mask ``[n]``; required when ``j.self_preference`` is not 0.
    Returns:
        ``J`` of ``P``'s shape and dtype.
    Raises:
        TypeError: ``j`` not a :class:`Judge`.  ValueError: a (concrete) bias that needs ``features`` or
        ``own`` without them, or shapes that do not match ``P``.

    Example:
        >>> P = jnp.array([[0.5, 0.1, 0.8], [0.9, 0.5, 0.1], [0.2, 0.9, 0.5]])
        >>> J = games.judges.first_wins(games.judges.Judge(noise=0.1), P)
        >>> round(float(J[0, 1]), 12)   # 0.9 * 0.1 + 0.1 * 0.9
        0.18
    """
    if not isinstance(j, Judge):
        raise TypeError(f"first_wins expects a games.judges.Judge, got {type(j).__name__}")
    P = jnp.asarray(P)
    n = P.shape[-1]
    if P.ndim not in (2, 3) or P.shape[-2] != n:
        raise ValueError(f"first_wins: P must be [n, n] or [C, n, n], got shape {P.shape}")
    for value, arg, name in ((j.style, features, "features"), (j.self_preference, own, "own")):
        if arg is None and isinstance(value, (numbers.Real, np.ndarray)) and np.any(np.asarray(value) != 0):
            raise ValueError(
                f"first_wins: a judge with {name.replace('own', 'self_preference')} != 0 needs {name}="
            )
    z = jnp.zeros(P.shape[:-1], P.dtype)  # [.., n] the logit bonus of each response
    if features is not None:
        s = jnp.asarray(features, P.dtype)
        if s.shape[-1] != n:
            raise ValueError(f"first_wins: features must have {n} entries per prompt, got shape {s.shape}")
        z = z + j.style * s
    if own is not None:
        f = jnp.asarray(own)
        if f.shape != (n,):
            raise ValueError(f"first_wins: own must be a mask of shape ({n},), got shape {f.shape}")
        z = z + j.self_preference * f.astype(P.dtype)
    d = z[..., :, None] - z[..., None, :]
    logit = jnp.log(P) - jnp.log1p(-P)  # +-inf at P = 1, 0: the verdict stays certain
    styled = jnp.where(d == 0, P, 0.5 * (1.0 + jnp.tanh(0.5 * (logit + d))))  # exactly P where no bonus
    first = jnp.clip(styled + j.position, 0.0, 1.0)
    return (1.0 - j.noise) * first + j.noise * (1.0 - first)


def user_judge(fn: Callable, n: int) -> np.ndarray:
    """``J`` from the user's function ``fn(i, j)`` = Pr(``i`` wins when shown first), called once on
    broadcast index arrays of shapes ``[n, 1]`` and ``[1, n]``.

    Raises:
        TypeError: ``fn`` not callable.
        ValueError: ``fn`` raised, or returned a shape other than ``[n, n]``, or values outside ``[0, 1]``.

    Example:
        >>> J = games.judges.user_judge(lambda i, j: 0.5 + 0.1 * (i < j), 3)   # favours the lower index
        >>> J.tolist()[0]
        [0.5, 0.6, 0.6]
    """
    if not callable(fn):
        raise TypeError(f"user_judge: fn must be a function fn(i, j), got {fn!r}")
    i, k = np.arange(n)[:, None], np.arange(n)[None, :]
    try:
        out = fn(i, k)
    except Exception as err:  # the user's function failed on the documented input
        raise ValueError(
            f"user_judge: fn([n, 1], [1, n] index arrays) raised {type(err).__name__}: {err}"
        ) from err
    J = _as_float_array(out, "user_judge: fn(i, j)")
    if J.shape != (n, n):
        raise ValueError(f"user_judge: fn(i, j) must return shape {(n, n)}, got {J.shape}")
    if not (np.all(J >= 0) and np.all(J <= 1)):
        raise ValueError(
            f"user_judge: fn(i, j) must be probabilities in [0, 1], got min {J.min()} max {J.max()}"
        )
    return J


def lengths(game: Game) -> np.ndarray:
    """The length feature of a sequence game (:func:`games.sequence_game`): the number of tokens of each
    response before its first token ``0``, read as the end-of-sequence token (``"abca"`` has length 0,
    ``"bcab"`` length 2). Sequences of ``L`` tokens without a ``0`` have length ``L``.

    Raises:
        TypeError: not a :class:`games.Game`.  ValueError: a game without token sequences.

    Example:
        >>> g = games.sequence_game(vocab=3, length=2)   # aa ab ac ba bb bc ca cb cc
        >>> games.judges.lengths(g).tolist()
        [0.0, 0.0, 0.0, 1.0, 2.0, 2.0, 1.0, 2.0, 2.0]
    """
    if not isinstance(game, Game):
        raise TypeError(f"lengths expects a games.Game, got {type(game).__name__}")
    if game.sequences is None:
        raise ValueError(f"lengths needs a sequence game (games.sequence_game); {game!r} has no sequences")
    tok = game.sequences.tokens  # [n, L]
    ended = np.cumsum(tok == 0, axis=1) > 0
    return (~ended).sum(axis=1).astype(np.float64)


def _check_square(game: Game, who: str) -> None:
    if not isinstance(game, Game):
        raise TypeError(f"{who} expects a games.Game, got {type(game).__name__}")
    if not game.preference:
        raise ValueError(f"{who} needs a preference game (the true P), got {game!r}")


def judge_game(truth: Game, J) -> Game:
    """The game a sampled oracle draws a judge's duels from: ``A = J - 1/2`` with ``truth``'s prompts, labels
    and sequences. It is **symmetric** in the game-theoretic sense (both players have the same responses and
    the same role: a player whose response is ``i`` wins with ``J[i, j]`` when shown first), so self-play runs
    on it; it is not skew-symmetric when ``J + J^T != 1``, and metrics of the true game must be computed on
    ``truth``. Give it to :func:`algorithms.run` with ``feedback=games.feedback.sampled(k, order)``.

    Raises:
        TypeError / ValueError: ``truth`` not a preference game; ``J`` not of ``truth``'s shape or outside
            ``[0, 1]`` (concrete values).
    """
    _check_square(truth, "judge_game")
    J = jnp.asarray(J, truth.dtype)
    if J.shape != truth.A.shape:
        raise ValueError(f"judge_game: J must have the true game's shape {truth.A.shape}, got {J.shape}")
    if not isinstance(J, jax.core.Tracer) and not bool(jnp.all((J >= 0) & (J <= 1))):
        raise ValueError("judge_game: J must be probabilities in [0, 1]")
    return dataclasses.replace(truth, A=J - 0.5)


def skew_part(J):
    """``K = (J + 1 - J^T) / 2``: the expected verdict when the order is random or both orders are averaged;
    ``K + K^T = 1`` exactly (a true preference). Works on ``[n, n]`` and ``[C, n, n]``."""
    J = jnp.asarray(J)
    return 0.5 * (J + 1.0 - jnp.swapaxes(J, -1, -2))


def _check_order(order) -> str:
    if order not in ORDERS:
        raise ValueError(f"order must be one of {', '.join(ORDERS)}, got {order!r}")
    return order


def played_game(judged: Game, order: str) -> Game:
    """The game whose expected payoffs a self-play learner ascends under ``order``: ``judged`` itself
    (``G = J - 1/2``, a symmetric game that is not zero-sum) for ``"fixed"``; the preference game of
    :func:`skew_part` for ``"random"`` and ``"both"`` (validated: ``K + K^T = 1``).

    Raises:
        ValueError: an unknown ``order``.
    """
    order = _check_order(order)
    if order == "fixed":
        return judged
    K = np.asarray(skew_part(judged.A + 0.5), np.float64)
    game = preference_game(K, judged.weights, dtype=judged.dtype, labels=judged.labels)
    return dataclasses.replace(game, sequences=judged.sequences)  # a sequence game stays one


# ---------------------------------------------------------------------------------------------------------------
# Equilibrium sets as mixed-integer regions, and linear quantities over them
# ---------------------------------------------------------------------------------------------------------------


class _Program:
    """A small mixed-integer LP built column by column (dense rows; the games here have tens of actions)."""

    def __init__(self):
        self.lb, self.ub, self.integer, self.rows = [], [], [], []

    def var(self, n: int, lb=0.0, ub=1.0, integer=False) -> np.ndarray:
        start = len(self.lb)
        self.lb += [lb] * n
        self.ub += [ub] * n
        self.integer += [int(integer)] * n
        return np.arange(start, start + n)

    def row(self, cols, coefs, lo, hi) -> None:
        self.rows.append((np.asarray(cols), np.asarray(coefs, np.float64), lo, hi))

    def solve(self, cols, coefs, sense: int, what: str) -> tuple[float, np.ndarray]:
        """``sense * min(sense * c^T z)``: the minimum (``sense=1``) or maximum (``-1``) and the solution."""
        m = len(self.lb)
        c = np.zeros(m)
        np.add.at(c, np.asarray(cols), sense * np.asarray(coefs, np.float64))
        data, ri, ci, lo, hi = [], [], [], [], []
        for r, (cc, vv, lo_r, hi_r) in enumerate(self.rows):
            data += list(vv)
            ri += [r] * len(cc)
            ci += list(cc)
            lo.append(lo_r)
            hi.append(hi_r)
        A = csr_matrix((data, (ri, ci)), shape=(len(self.rows), m))
        res = scipy.optimize.milp(
            c,
            constraints=scipy.optimize.LinearConstraint(A, lo, hi),
            integrality=np.asarray(self.integer),
            bounds=scipy.optimize.Bounds(self.lb, self.ub),
            options={"mip_rel_gap": 1e-12},
        )
        if res.status != 0 or res.x is None:
            from .solvers import SolverError

            raise SolverError(f"{what}: HiGHS status {res.status}: {res.message}")
        return sense * float(res.fun), res.x


def _zero_sum_region(prog: _Program, S: np.ndarray) -> np.ndarray:
    """``x`` in the equilibrium set of the skew-symmetric payoff ``S`` (value 0): ``x^T S >= -MIP_TOL``."""
    n = S.shape[0]
    x = prog.var(n)
    prog.row(x, np.ones(n), 1.0, 1.0)
    for j in range(n):
        prog.row(x, S[:, j], -MIP_TOL, np.inf)
    return x


def _symmetric_region(prog: _Program, G: np.ndarray) -> np.ndarray:
    """``x`` a symmetric equilibrium of the symmetric game ``G``: ``(G x)_i <= u`` for all ``i`` and
    ``(G x)_i >= u`` where ``x_i > 0`` (support indicators ``s_i``, big-M)."""
    n = G.shape[0]
    big = float(G.max() - G.min()) + 1.0
    x = prog.var(n)
    (u,) = prog.var(1, -np.inf, np.inf)
    s = prog.var(n, integer=True)
    prog.row(x, np.ones(n), 1.0, 1.0)
    for i in range(n):
        cols = np.concatenate([x, [u]])
        prog.row(cols, np.concatenate([G[i], [-1.0]]), -np.inf, MIP_TOL)
        prog.row(np.concatenate([cols, [s[i]]]), np.concatenate([G[i], [-1.0, -big]]), -big - MIP_TOL, np.inf)
        prog.row([x[i], s[i]], [1.0, -1.0], -np.inf, 0.0)
    return x


def _skew(A: np.ndarray) -> bool:
    return bool(np.abs(A + A.T).max() <= 1e-12)


def _region(model: Game, order: str):
    """A builder ``prog -> x`` of the equilibrium set the learner of ``model`` reaches under ``order``."""
    A = np.asarray(model.A, np.float64)
    if _skew(A):
        return lambda prog: _zero_sum_region(prog, A)
    if order == "fixed":
        return lambda prog: _symmetric_region(prog, A)
    S = 0.5 * (A - A.T)
    return lambda prog: _zero_sum_region(prog, S)


def symmetric_equilibrium(game: Game) -> np.ndarray:
    """A symmetric Nash equilibrium ``pi`` of the symmetric game in which each player earns ``A[own, other]``
    (``A = J - 1/2`` of a :func:`judge_game`): ``(A pi)_i <= pi^T A pi + MIP_TOL`` for every ``i``. One
    mixed-integer LP (HiGHS): support indicators and big-M complementarity. On a skew-symmetric game this is
    a Nash equilibrium of the zero-sum game.

    Raises:
        TypeError / ValueError: not a square single game.
        SolverError: HiGHS fails, or the answer fails the equilibrium check (``2 MIP_TOL``).
    """
    if not isinstance(game, Game):
        raise TypeError(f"symmetric_equilibrium expects a games.Game, got {type(game).__name__}")
    if game.contextual or game.shape[0] != game.shape[1]:
        raise ValueError(f"symmetric_equilibrium needs a square single game, got {game!r}")
    A = np.asarray(game.A, np.float64)
    prog = _Program()
    x = _symmetric_region(prog, A)
    _, z = prog.solve(x, np.zeros(len(x)), 1, "symmetric equilibrium")
    pi = np.clip(z[x], 0.0, None)
    pi = pi / pi.sum()
    regret = float((A @ pi).max() - pi @ A @ pi)
    if not regret <= 2 * MIP_TOL:
        from .solvers import SolverError

        raise SolverError(f"symmetric equilibrium check failed: regret {regret:.2e} > {2 * MIP_TOL:.0e}")
    return pi


@dataclasses.dataclass(frozen=True)
class Price:
    """What playing a judge's (or fitted model's) game costs under the true game (:func:`price`).

    Every pair is ``(low, high)`` over the whole equilibrium set of the played game (and, for ``tv``, of the
    true game too); equal ends when the quantity does not depend on which equilibrium is reached.

    Attributes:
        policy: one equilibrium of the played game (a point of the set; a vertex).
        unique: the played game's equilibrium is unique (every action's mass range below :data:`UNIQUE_TOL`).
        mass: ``(min, max)`` arrays ``[n]``: each response's mass over the played game's equilibria.
        exploitability: the true duality gap ``max_i (A pi)_i - min_j (pi^T A)_j`` (``A`` the true payoff).
        win_rate: the true worst-case win rate ``min_j P(pi > j) = 1/2 - exploitability / 2``.
        tv: total variation ``(1/2) |pi - pi*|_1`` between an equilibrium of the played game and one of the
            true game.
    """

    policy: np.ndarray
    unique: bool
    mass: tuple
    exploitability: tuple
    win_rate: tuple
    tv: tuple


def price(model: Game, truth: Game, order: str = "random") -> Price:
    """The price of a judge or fitted model ``model`` for a self-play learner, under the true game ``truth``.

    The played game is ``model`` itself when it is a preference game (a fitted model, or ``K``); for a
    :func:`judge_game` (``J + J^T != 1``) it is :func:`played_game` under ``order``: the symmetric equilibria
    of ``G = J - 1/2`` under ``"fixed"``, the equilibria of ``K`` otherwise. Over that set (an LP polytope, or a
    union of polytopes described with support indicators under ``"fixed"``), mixed-integer LPs give:
    each response's mass range; the exploitability range (the true gap is ``-2 min_j (pi^T A)_j`` on a
    symmetric game: its minimum is one program maximising ``t <= (pi^T A)_j``, its maximum the largest of ``n``
    programs minimising ``(pi^T A)_j``); the total-variation range to ``truth``'s equilibrium set (minimum:
    ``sum_i d_i / 2`` with ``d >= |pi - pi*|``; maximum: ``sum_i max(0, pi_i - pi*_i)`` with a binary per
    response selecting the responses where ``pi`` exceeds ``pi*``).

    Args:
        model: a preference game, or a :func:`judge_game`, with ``truth``'s responses (single game).
        truth: the true preference game.
        order: ``"fixed"``, ``"random"`` or ``"both"`` (only matters for a judge's game that is not skew).
    Raises:
        TypeError / ValueError: bad games (contextual, different shapes) or ``order``.  SolverError: HiGHS.

    Example:
        >>> P = games.comal_cycle()
        >>> J = games.judges.judge_game(P, games.judges.first_wins(games.judges.Judge(position=0.026), P.P))
        >>> p = games.judges.price(J, P, "fixed")   # b adds a constant to every win rate: no cost
        >>> p.unique, np.round(p.policy * 11, 6).tolist(), abs(p.exploitability[1]) < 1e-6
        (True, [4.0, 3.0, 4.0], True)
    """
    _check_square(truth, "price")
    order = _check_order(order)
    if not isinstance(model, Game):
        raise TypeError(f"price expects a games.Game model, got {type(model).__name__}")
    if model.contextual or truth.contextual:
        raise ValueError("price handles single games (no prompt axis)")
    if model.A.shape != truth.A.shape:
        raise ValueError(f"price: model {model.A.shape} and truth {truth.A.shape} must have the same shape")
    n = truth.shape[0]
    B = np.asarray(truth.A, np.float64)
    region = _region(model, order)

    def program():
        prog = _Program()
        return prog, region(prog)

    prog, x = program()
    _, z = prog.solve(x, np.zeros(n), 1, "price: an equilibrium")
    policy = np.clip(z[x], 0.0, None)
    policy = policy / policy.sum()
    lo_m, hi_m = np.empty(n), np.empty(n)
    for i in range(n):
        prog, x = program()
        lo_m[i] = prog.solve([x[i]], [1.0], 1, f"price: least mass of response {i}")[0]
        prog, x = program()
        hi_m[i] = prog.solve([x[i]], [1.0], -1, f"price: largest mass of response {i}")[0]
    lo_m, hi_m = np.clip(lo_m, 0, 1), np.clip(hi_m, 0, 1)
    unique = bool(np.all(hi_m - lo_m <= UNIQUE_TOL))
    # exploitability = -2 min_j (pi^T B)_j: its least value maximises t <= (pi^T B)_j
    prog, x = program()
    (t,) = prog.var(1, -np.inf, np.inf)
    for j in range(n):
        prog.row(np.concatenate([x, [t]]), np.concatenate([B[:, j], [-1.0]]), 0.0, np.inf)
    best = prog.solve([t], [1.0], -1, "price: least exploitability")[0]
    worst = np.inf
    for j in range(n):
        prog, x = program()
        worst = min(worst, prog.solve(x, B[:, j], 1, f"price: largest exploitability (column {j})")[0])
    gap = (max(-2.0 * best, 0.0), max(-2.0 * worst, 0.0))
    # total variation to the true equilibrium set
    Btrue = B if _skew(B) else 0.5 * (B - B.T)
    prog, x = program()
    y = _zero_sum_region(prog, Btrue)
    d = prog.var(n, 0.0, 1.0)
    for i in range(n):
        prog.row([d[i], x[i], y[i]], [1.0, -1.0, 1.0], 0.0, np.inf)
        prog.row([d[i], x[i], y[i]], [1.0, 1.0, -1.0], 0.0, np.inf)
    tv_lo = 0.5 * prog.solve(d, np.ones(n), 1, "price: least total variation")[0]
    prog, x = program()
    y = _zero_sum_region(prog, Btrue)
    u = prog.var(n, -1.0, 1.0)
    sel = prog.var(n, integer=True)
    for i in range(n):
        prog.row([u[i], sel[i]], [1.0, -1.0], -np.inf, 0.0)  # u_i <= sel_i
        prog.row(
            [u[i], x[i], y[i], sel[i]], [1.0, -1.0, 1.0, 1.0], -np.inf, 1.0
        )  # u_i <= x_i - y_i + 1 - sel_i
    tv_hi = prog.solve(u, np.ones(n), -1, "price: largest total variation")[0]
    tv = (max(tv_lo, 0.0), min(max(tv_hi, 0.0), 1.0))
    return Price(policy, unique, (lo_m, hi_m), gap, (0.5 - gap[1] / 2, 0.5 - gap[0] / 2), tv)


#: The bias grid of the ``judges`` study: ``(bias, value)`` pairs, one :class:`Judge` each (0: the true game).
BIAS_GRID = (
    ("none", 0.0),
    ("position", 0.026),
    ("position", 0.1),
    ("position", 0.3),
    ("style", 0.5),
    ("style", 2.0),
    ("noise", 0.1),
    ("noise", 0.3),
)


def bias_grid(truth: Game, grid=BIAS_GRID, features=None) -> list[tuple[str, float, Game]]:
    """``(bias, value, judge game)`` for each ``(bias, value)`` of ``grid`` (``bias`` one of ``none``,
    ``position``, ``style``, ``noise``): the :func:`judge_game` of the judge with that one bias on ``truth``.

    Raises:
        ValueError: an unknown bias name, or a style bias without ``features``.
    """
    fields = {"position": "position", "style": "style", "noise": "noise"}
    out = []
    for bias, value in grid:
        if bias != "none" and bias not in fields:
            raise ValueError(f"bias_grid: unknown bias {bias!r}; valid: none, {', '.join(fields)}")
        j = judge(**({} if bias == "none" else {fields[bias]: value}))
        out.append((bias, float(value), judge_game(truth, first_wins(j, truth.P, features=features))))
    return out


def price_table(truth: Game, grid) -> list[dict]:
    """:func:`price` of every judge game of ``grid`` (``[(bias, value, judge game)]``, :func:`bias_grid`), under
    a fixed and a random order for a position bias (the only one that depends on it) and a random order
    otherwise, with the judge's :func:`games.metrics.pnt` (one order) and :func:`games.metrics.sntd` (both
    orders): one dict per row (``bias, value, order, low, high, tv_low, tv_high, unique, pnt, sntd``)."""
    from .metrics import pnt, sntd

    rows = []
    for bias, value, g in grid:
        for order in ("fixed", "random") if bias == "position" else ("random",):
            p = price(g, truth, order)
            rows.append(
                dict(bias=bias, value=value, order=order, low=p.exploitability[0], high=p.exploitability[1],
                     tv_low=p.tv[0], tv_high=p.tv[1], unique=p.unique, pnt=float(pnt(g.P)), sntd=float(sntd(g.P)))
            )  # fmt: skip
    return rows
