"""What a leaderboard hides: Condorcet winner, Smith set, non-transitivity, and how exploitable a pure policy is.

The row player maximises; ``A_ij > 0`` means ``i`` beats ``j`` (``P_ij > 1/2`` in a preference game). On a
contextual game the relations are those of the rho-weighted payoff ``sum_c rho_c A[c]``.

* Condorcet winner: the action that beats every other one (``A_ij > 0`` for all ``j != i``), if any.
* Smith set (top cycle): the smallest non-empty set whose every member beats every non-member; equivalently the
  actions from which every action is reachable along the weak majority relation ``A_ij >= 0`` (Smith 1973;
  Schwartz 1986).
* Cyclic triads (Kendall & Babington Smith 1940): among the triples whose three pairs were all compared, the
  share with a strict cycle ``i > j > k > i`` of the observed rates.
* Hodge decomposition (HodgeRank, Jiang, Lim, Yao & Ye, arXiv 0811.1067): the observed flow
  ``Y_ij = P_ij - 1/2`` on the comparison graph, weighted by ``n_ij``, splits orthogonally into a gradient part
  ``s_i - s_j`` (a global ranking), a curl part (cycles on triangles of the graph) and a harmonic part (longer
  cycles); the curl share ``||Y_curl||^2 / ||Y||^2`` measures local non-transitivity.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import scipy.sparse
import scipy.sparse.linalg

from . import metrics
from .comparisons import Comparisons, _check_ties
from .core import Game

__all__ = [
    "condorcet_winner",
    "smith_set",
    "Triads",
    "cyclic_triads",
    "Hodge",
    "hodge_decomposition",
    "Exploitability",
    "exploitability",
    "pure",
    "POLICY_TOL",
]


def _payoff(game: Game) -> np.ndarray:
    if not isinstance(game, Game):
        raise TypeError(f"expected a games.Game, got {type(game).__name__}")
    A = np.asarray(game.A, dtype=np.float64)
    if game.contextual:
        A = np.tensordot(np.asarray(game.weights, dtype=np.float64), A, axes=1)
    if A.shape[0] != A.shape[1]:
        raise ValueError(f"a square game is needed (one set of actions), got shape {A.shape}")
    return A


def _names(game: Game, idx) -> list:
    return [game.labels[i] if game.labels is not None else int(i) for i in idx]


def condorcet_winner(game: Game):
    """The action that beats every other (``A_ij > 0`` for every ``j != i``): its label (index without labels),
    or ``None``.

    Example:
        >>> games.social_choice.condorcet_winner(games.rock_paper_scissors()) is None
        True
    """
    A = _payoff(game)
    beats = (A > 0) | np.eye(len(A), dtype=bool)
    win = np.flatnonzero(beats.all(axis=1))
    return _names(game, win)[0] if len(win) else None


def smith_set(game: Game) -> list:
    """The Smith set (labels, or indices without labels, in action order): the actions that reach every action
    along the weak majority relation ``A_ij >= 0`` (transitive closure by Warshall's algorithm, vectorised over
    rows: n steps of an ``[n, n]`` boolean update).

    Example:
        >>> games.social_choice.smith_set(games.rock_paper_scissors())
        [0, 1, 2]
    """
    A = _payoff(game)
    n = len(A)
    R = (A >= 0) | np.eye(n, dtype=bool)
    for k in range(n):  # loop over pivot actions (Warshall), not over records
        R |= R[:, k : k + 1] & R[k : k + 1, :]
    return _names(game, np.flatnonzero(R.all(axis=1)))


def _rates(comparisons: Comparisons, ties: float) -> tuple[np.ndarray, np.ndarray]:
    """Pooled rates ``P_ij - 1/2`` and counts ``n_ij`` (``[n, n]``), 0 where unobserved."""
    if not isinstance(comparisons, Comparisons):
        raise TypeError(f"expected games.Comparisons (games.tally), got {type(comparisons).__name__}")
    t = _check_ties(ties)
    num = (comparisons.wins + t * comparisons.ties).sum(axis=0)
    den = num + num.T
    with np.errstate(invalid="ignore", divide="ignore"):
        Y = np.where(den > 0, num / np.where(den > 0, den, 1.0) - 0.5, 0.0)
    np.fill_diagonal(den, 0.0)
    return Y, den


@dataclasses.dataclass(frozen=True)
class Triads:
    """Cyclic triads among fully observed triples: ``cyclic`` of ``observed`` triples (``share = cyclic /
    observed``, NaN when no triple was fully observed)."""

    cyclic: int
    observed: int

    @property
    def share(self) -> float:
        return self.cyclic / self.observed if self.observed else float("nan")


def cyclic_triads(comparisons: Comparisons, *, ties: float = 0.5) -> Triads:
    """Count the strict cycles ``i > j > k > i`` of the observed (pooled) rates among triples whose three pairs
    were all compared. Ties count as ``ties`` wins for each side; a pair at exactly 1/2 breaks a cycle.

    ``observed = trace(O^3) / 6`` with ``O`` the comparison graph, ``cyclic = trace(D^3) / 3`` with ``D_ij = 1``
    when ``i`` beats ``j`` (each directed triangle is counted once per rotation).

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"left": ["a", "b", "c"], "right": ["b", "c", "a"], "winner": ["left"] * 3})
        >>> t = games.social_choice.cyclic_triads(games.tally(df))
        >>> t.cyclic, t.observed, t.share
        (1, 1, 1.0)
    """
    Y, n = _rates(comparisons, ties)
    O = (n > 0).astype(np.int64)
    D = ((Y > 0) & (n > 0)).astype(np.int64)
    observed = int(np.trace(O @ O @ O)) // 6
    cyclic = int(np.trace(D @ D @ D)) // 3
    return Triads(cyclic, observed)


@dataclasses.dataclass(frozen=True)
class Hodge:
    """Shares of the weighted squared norm of the flow (they sum to 1) and the gradient part's scores.

    Attributes:
        gradient, curl, harmonic: ``||Y_part||_w^2 / ||Y||_w^2``.
        scores: ``s`` with ``Y_grad = s_i - s_j`` (mean 0), a Series by model name.
        triangles: the number of triangles of the comparison graph.
    """

    gradient: float
    curl: float
    harmonic: float
    scores: pd.Series
    triangles: int


def _lsqr(M, b):
    return scipy.sparse.linalg.lsqr(M, b, atol=1e-14, btol=1e-14, iter_lim=100_000)[0]


def hodge_decomposition(comparisons: Comparisons, *, ties: float = 0.5) -> Hodge:
    """HodgeRank's decomposition of the observed flow ``Y_ij = P_ij - 1/2`` with edge weights ``n_ij``.

    Gradient: ``s = argmin sum_e n_e (Y_e - (s_i - s_j))^2``. Curl: the projection of ``Y`` onto the image of
    the adjoint of the curl ``(curl Y)_{ijk} = Y_ij + Y_jk + Y_ki`` (in the ``n``-weighted inner product,
    ``Y_curl = N^{-1} C^T z`` with ``z`` the least-squares solution). Harmonic: the rest. The three parts are
    orthogonal in the weighted inner product (the curl of a gradient is zero), so the shares sum to 1.

    Raises:
        TypeError: not a :class:`games.Comparisons`. ValueError: no compared pair with a non-zero flow.

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"left": ["a", "b", "c"], "right": ["b", "c", "a"], "winner": ["left"] * 3})
        >>> h = games.social_choice.hodge_decomposition(games.tally(df))
        >>> round(h.curl, 12), round(h.gradient, 12)
        (1.0, 0.0)
    """
    Y, n = _rates(comparisons, ties)
    num = len(Y)
    iu, ju = np.nonzero(np.triu(n > 0, 1))  # edges i < j
    y, w = Y[iu, ju], n[iu, ju]
    norm = float(np.sum(w * y * y))
    if not norm > 0:
        raise ValueError("the comparison flow is zero (every compared pair is at 1/2): nothing to decompose")
    E = len(iu)
    sw = np.sqrt(w)
    rows = np.repeat(np.arange(E), 2)
    B = scipy.sparse.csr_matrix(
        (np.tile([1.0, -1.0], E), (rows, np.stack([iu, ju], 1).ravel())), shape=(E, num)
    )
    s = _lsqr(scipy.sparse.diags(sw) @ B, sw * y)
    s -= s.mean()
    grad = B @ s
    # triangles i < j < k of the comparison graph, and the curl operator C [T, E]
    edge = -np.ones((num, num), dtype=np.int64)
    edge[iu, ju] = np.arange(E)
    O = n > 0
    ti, tj, tk = np.nonzero(np.triu(O, 1)[:, :, None] & np.triu(O, 1)[None, :, :] & np.triu(O, 1)[:, None, :])
    T = len(ti)
    if T:
        cols = np.stack([edge[ti, tj], edge[tj, tk], edge[ti, tk]], 1).ravel()
        C = scipy.sparse.csr_matrix(
            (np.tile([1.0, 1.0, -1.0], T), (np.repeat(np.arange(T), 3), cols)), shape=(T, E)
        )
        z = _lsqr(scipy.sparse.diags(1.0 / sw) @ C.T, sw * y)
        curl = (C.T @ z) / w
    else:
        curl = np.zeros(E)
    harm = y - grad - curl
    share = lambda f: float(np.sum(w * f * f)) / norm
    return Hodge(share(grad), share(curl), share(harm), pd.Series(s, index=list(comparisons.labels)), T)


def pure(game: Game, action) -> np.ndarray:
    """The pure strategy on ``action`` (a label of the game, or an integer index), with the game's context axis.

    Raises:
        TypeError: not a game; an action that is neither a string nor an integer (``1.5``, ``True``).
        ValueError: an unknown label; an index out of range.
    """
    if not isinstance(game, Game):
        raise TypeError(f"expected a games.Game, got {type(game).__name__}")
    if isinstance(action, str):
        if game.labels is None or action not in game.labels:
            raise ValueError(f"{action!r} is not an action of this game (labels: {game.labels})")
        i = game.labels.index(action)
    elif isinstance(action, (int, np.integer)) and not isinstance(action, (bool, np.bool_)):
        i = int(action)
        if not 0 <= i < game.shape[0]:
            raise ValueError(f"action {action!r} is out of range for {game.shape[0]} actions")
    else:
        raise TypeError(f"action must be a label (str) or an integer index, got {action!r}")
    x = np.zeros(game.A.shape[:-2] + (game.shape[0],))
    x[..., i] = 1.0
    return x


@dataclasses.dataclass(frozen=True)
class Exploitability:
    """How a fixed self-play policy fares in a preference game.

    Attributes:
        worst_case_win_rate: ``min_j P(pi > j)`` (:func:`games.metrics.worst_case_win_rate`).
        gap: the duality gap of ``(pi, pi)`` (:func:`games.metrics.duality_gap`); ``1 - 2 w`` for win rate ``w``.
        best_response: the action that beats ``pi`` most (its label, or index), on the pooled payoff.
    """

    worst_case_win_rate: float
    gap: float
    best_response: object

    def __repr__(self) -> str:
        # the fields keep every digit; the printed form shows 12 significant digits, so that round-off in the
        # last place (0.30000000000000004) does not print as if it meant something
        return (
            f"Exploitability(worst_case_win_rate={self.worst_case_win_rate:.12g}, gap={self.gap:.12g}, "
            f"best_response={self.best_response!r})"
        )


#: How far from 1 a float64 policy's sum (per prompt) may be, and how far below 0 an entry (an LP's round-off);
#: for a float32 policy ``8 n`` float32 epsilons.
POLICY_TOL = 1e-9


def _policy(game: Game, policy) -> np.ndarray:
    if isinstance(policy, (bool, np.bool_)):
        raise TypeError(f"policy must be a probability vector, a label or an integer index, got {policy!r}")
    if isinstance(policy, (str, int, np.integer)):
        return pure(game, policy)
    try:
        raw = np.asarray(policy)
    except ValueError:  # a ragged list
        raw = np.asarray(None)
    if raw.dtype.kind not in "iuf":
        raise TypeError(f"policy must be a probability vector, a label or an integer index, got {policy!r}")
    x = raw.astype(np.float64)
    shape = (*game.A.shape[:-2], game.shape[0])
    if x.shape != shape and not (game.contextual and x.shape == shape[-1:]):
        raise ValueError(f"policy must have shape {shape} (one probability per action), got shape {x.shape}")
    # a float32 policy (a run in float32) sums to 1 only to float32 precision
    eps = np.finfo(raw.dtype).eps if raw.dtype.kind == "f" else 0.0
    tol = max(POLICY_TOL, 8.0 * x.shape[-1] * float(eps))
    if not np.isfinite(x).all() or (x < -tol).any() or (np.abs(x.sum(-1) - 1.0) > tol).any():
        raise ValueError(
            "policy must be a probability vector (entries >= 0 summing to 1), got "
            f"{np.array2string(x, threshold=8)}"
        )
    return x


def exploitability(game: Game, policy) -> Exploitability:
    """The worst-case win rate, duality gap and best response of ``policy`` (a probability vector, or an
    action label/index for a pure policy such as a leaderboard's number one) in a preference game.

    The fields are floats with every digit; the printed form (``repr``/``str``) rounds them to 12 significant
    digits.

    Raises:
        TypeError: not a game; a policy that is a bool, a float or not numeric.
        ValueError: an unknown label or index out of range; a vector of the wrong shape, with a negative or
            non-finite entry, or whose sum is not 1 (within ``POLICY_TOL``, or ``8 n`` epsilons of a float32 policy).

    Example:
        >>> e = games.social_choice.exploitability(games.rock_paper_scissors(), 0)
        >>> float(e.worst_case_win_rate), float(e.gap), e.best_response
        (0.0, 1.0, 2)
    """
    _payoff(game)
    x = _policy(game, policy)
    w = float(metrics.worst_case_win_rate(game, x))
    gap = float(metrics.duality_gap(game, x))
    A = _payoff(game)
    xp = np.tensordot(np.asarray(game.weights), x, axes=1) if game.contextual else x
    return Exploitability(w, gap, _names(game, [int(np.argmin(xp @ A))])[0])
