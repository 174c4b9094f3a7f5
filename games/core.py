"""The one game type of the sandbox, its constructors and its payoff gradients.

Conventions (used everywhere in the project):

* The **row player maximises** ``x^T A y``; the column player minimises it.
* A **preference game** is built from ``P[i, j] = Pr(i > j)`` and stores the payoff ``A = P - 1/2``; it is
  symmetric (``A = -A^T``), so self-play rules play one policy ``pi`` against itself.
* A **contextual game** (C prompts) stores a stack ``A[c]`` of shape ``[C, m, n]`` and prompt weights ``rho``
  of shape ``[C]``. Its strategies have shape ``[C, m]`` / ``[C, n]``; every metric is the rho-weighted sum over
  prompts. A single game has ``A`` of shape ``[m, n]`` and plain ``[m]`` / ``[n]`` strategies.
* A **profile** is a :class:`Profile` ``(x, y)``: the row and column strategies. In self-play one policy plays
  both sides and ``y`` is ``None`` (``Profile(pi)``): the profile then holds, and every update computes, one
  policy. Nothing tells the two cases apart by ``isinstance``: ``profile.self_play`` says which.

Validation runs in the constructor functions on concrete values and raises ``ValueError``/``TypeError`` naming
the bad value; the :class:`Game` dataclass itself never validates (JAX rebuilds it from tracers).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "Game",
    "Profile",
    "preference_game",
    "matrix_game",
    "payoff_gradient",
    "stack_games",
    "uniform",
    "check_reference",
    "check_int",
    "check_seed",
    "check_dtype",
    "check_memory",
    "host_memory",
    "action_sum",
    "action_max",
    "action_min",
    "log_softmax",
    "logsumexp",
]

#: Tolerance for ``P + P^T = 1``, a diagonal of 1/2 and weights summing to 1, for float64 input. Input held in a
#: narrower float (a float32 array) gets ``max(COMPLEMENT_TOL, 8 * eps)`` of its own dtype (about 9.5e-7).
COMPLEMENT_TOL = 1e-9
#: Seeds are non-negative integers below this bound (what both ``numpy.random.default_rng`` and
#: ``jax.random.key`` accept).
SEED_BOUND = 2**63


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Game:
    """A zero-sum two-player game (single or contextual), an immutable JAX pytree.

    Attributes:
        A: payoff to the row player (maximiser), ``[m, n]`` or ``[C, m, n]``.
        weights: prompt weights ``rho`` ``[C]`` for a contextual game, ``None`` for a single game.
        preference: static; True when built from a preference matrix (``A = P - 1/2``).
        symmetric: static; True when ``A = -A^T`` (always for preference games), so self-play is meaningful.
        labels: static; the actions' names (a tuple of distinct strings, one per action of a square game, the
            same for both players and every prompt), or ``None``. Games built from comparison data carry the
            models' names here (:func:`games.from_comparisons`); studies use them in tables and figures.
        sequences: static; for a game over token sequences (:func:`games.sequence_game`) its
            :class:`games.sequences.SequenceSpace` (the token table and labels of the actions), else ``None``.

    Build it with :func:`preference_game` or :func:`matrix_game`, never directly.
    """

    A: jax.Array
    weights: jax.Array | None
    preference: bool = dataclasses.field(metadata=dict(static=True))
    symmetric: bool = dataclasses.field(metadata=dict(static=True))
    labels: tuple[str, ...] | None = dataclasses.field(default=None, metadata=dict(static=True))
    sequences: Any = dataclasses.field(default=None, metadata=dict(static=True))

    @property
    def contextual(self) -> bool:
        """True for a game with a prompt axis (``A`` of rank 3)."""
        return self.A.ndim == 3

    @property
    def shape(self) -> tuple[int, int]:
        """``(m, n)``: the number of row and column actions."""
        return self.A.shape[-2], self.A.shape[-1]

    @property
    def dtype(self):
        return self.A.dtype

    @property
    def P(self) -> jax.Array:
        """The preference matrix ``P = A + 1/2`` (preference games only)."""
        if not self.preference:
            raise ValueError(
                "P is defined for preference games only; this game was built from a payoff matrix"
            )
        return self.A + 0.5

    def astype(self, dtype) -> Game:
        """The same game with payoffs (and weights) cast to ``dtype`` (float32 or float64, see
        :func:`check_dtype`); raises ``ValueError`` if a concrete payoff overflows the new dtype."""
        dt = check_dtype(dtype)
        if not isinstance(self.A, jax.core.Tracer):
            with np.errstate(over="ignore"):
                _check_cast(np.asarray(self.A), np.asarray(self.A).astype(dt), "A")
        w = None if self.weights is None else self.weights.astype(dt)
        return dataclasses.replace(self, A=self.A.astype(dt), weights=w)

    def __repr__(self) -> str:
        kind = "preference" if self.preference else "matrix"
        ctx = f"C={self.A.shape[0]}, " if self.contextual else ""
        seq = "" if self.sequences is None else f", V={self.sequences.vocab}, L={self.sequences.length}"
        return f"Game({kind}, {ctx}m={self.shape[0]}, n={self.shape[1]}{seq}, dtype={self.dtype})"


def uniform(game: Game, player: int = 0) -> jax.Array:
    """The uniform strategy of ``player`` (0 = row, 1 = column), with the game's context axis and dtype."""
    if player not in (0, 1) or isinstance(player, bool):
        raise ValueError(f"player must be 0 (row) or 1 (column), got {player!r}")
    n = game.shape[player]
    lead = game.A.shape[:-2]
    return jnp.full((*lead, n), 1.0 / n, dtype=game.dtype)


class Profile(NamedTuple):
    """A strategy profile: row strategy ``x`` and column strategy ``y`` (``None`` in self-play).

    The same type holds probabilities, log-probabilities or per-action values (gradients); ``jax.tree.map``
    maps over the players it holds, so an update written once runs on one policy in self-play and on two
    otherwise. Shapes ``[m]``/``[n]``, or ``[C, m]``/``[C, n]`` on a contextual game.
    """

    x: Any
    y: Any = None

    @property
    def self_play(self) -> bool:
        """True when one policy plays both sides (``y is None``)."""
        return self.y is None

    def pair(self) -> tuple[Any, Any]:
        """``(x, y)``, with ``y = x`` in self-play."""
        return (self.x, self.x) if self.y is None else (self.x, self.y)


def payoff_gradient(game: Game, profile: Profile) -> Profile:
    """Payoff gradients of a probability profile, as a :class:`Profile` of the same structure.

    Self-play (``Profile(pi)``, symmetric games): ``Profile(A pi)`` (``= P pi - 1/2`` on a preference game,
    i.e. ``P(a > pi) - 1/2`` for every action ``a``): one matrix-vector product. Two players: ``(A y, -A^T x)``,
    each player's gradient of the payoff it *maximises*. Shapes follow the game: ``[n]`` or ``[C, n]``.
    """
    if not isinstance(profile, Profile):
        raise TypeError(f"payoff_gradient expects a games.Profile, got {type(profile).__name__}")
    A = game.A
    if profile.self_play:
        return Profile(_matvec(A, profile.x))
    return Profile(_matvec(A, profile.y), -_vecmat(profile.x, A))


# ---------------------------------------------------------------------------------------------------------------
# Sums over the action axis (plain ``jnp``; ``algorithms.layout.written_out`` rewrites them for tiny games)
# ---------------------------------------------------------------------------------------------------------------


def action_sum(x):
    """``sum(x, axis=-1)``."""
    return jnp.sum(x, axis=-1)


def action_max(x):
    """``max(x, axis=-1)``."""
    return jnp.max(x, axis=-1)


def action_min(x):
    """``min(x, axis=-1)``."""
    return jnp.min(x, axis=-1)


def log_softmax(x):
    """Normalised log-probabilities over the last axis: ``jax.nn.log_softmax(x, axis=-1)``."""
    return jax.nn.log_softmax(x, axis=-1)


def logsumexp(x):
    """``log(sum(exp(x), axis=-1))`` (``jax.scipy.special.logsumexp``)."""
    return jax.scipy.special.logsumexp(x, axis=-1)


def _matvec(A, v):  # [.., m, n] x [.., n] -> [.., m]
    return jnp.matmul(A, v[..., None])[..., 0]


def _vecmat(v, A):  # [.., m] x [.., m, n] -> [.., n]
    return jnp.matmul(v[..., None, :], A)[..., 0, :]


# ---------------------------------------------------------------------------------------------------------------
# Constructors and validation
# ---------------------------------------------------------------------------------------------------------------


def _as_float_array(value, name: str) -> np.ndarray:
    """Concrete float64 array from user input, with TypeError/ValueError naming ``name``."""
    if isinstance(value, jax.core.Tracer):
        raise TypeError(f"{name} must be a concrete array, not a traced value (build games outside jit)")
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be a numeric array, got a string: {value!r}")
    try:
        arr = np.asarray(value)
    except ValueError as err:  # numpy >= 1.24 refuses ragged nested sequences
        raise ValueError(f"{name} is ragged (nested lists of unequal lengths): {err}") from None
    if arr.dtype == object:
        raise ValueError(f"{name} is ragged or holds non-numeric entries (object array)")
    if arr.dtype.kind == "b" or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name} has a non-finite entry {float(arr[idx])} at index {idx}")
    return arr


def _check_matrix_stack(arr: np.ndarray, name: str) -> None:
    if arr.ndim not in (2, 3):
        raise ValueError(
            f"{name} must be 2-D (one game) or 3-D (a stack of C contextual games), got shape {arr.shape}"
        )
    m, n = arr.shape[-2:]
    if arr.ndim == 3 and arr.shape[0] == 0:
        raise ValueError(f"{name} has an empty context axis (shape {arr.shape})")
    if m == 0 or n == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    if m == 1 and n == 1:
        raise ValueError(f"{name} is a 1x1 game (shape {arr.shape}): there is nothing to play")


def _input_tol(value) -> float:
    """Complementarity tolerance for ``value``'s own precision: 1e-9 for float64 (and lists, ints), otherwise
    ``max(1e-9, 8 eps)`` of its floating dtype (a float32 ``P`` is only complementary to about 6e-8)."""
    dt = getattr(value, "dtype", None)
    try:
        eps = float(jnp.finfo(dt).eps) if dt is not None and jnp.issubdtype(dt, jnp.floating) else 0.0
    except (TypeError, ValueError):
        eps = 0.0
    return max(COMPLEMENT_TOL, 8.0 * eps)


def check_dtype(dtype) -> np.dtype:
    """The payoff dtype asked for: ``None`` (or Python ``float``) is JAX's default float, otherwise float32
    or float64.

    Raises:
        TypeError: not a dtype, or not a real floating dtype (int, bool, complex).
        ValueError: float16/bfloat16 (too coarse for the 1e-9 checks of this package), or float64 while
            ``jax_enable_x64`` is off (JAX would silently store float32).
    """
    if dtype is None or dtype is float:
        return jnp.dtype(jnp.result_type(float))
    try:
        dt = jnp.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from None
    if dt in (jnp.dtype(jnp.float16), jnp.dtype(jnp.bfloat16)):
        raise ValueError(
            f"{dt} is not supported: its precision (eps {float(jnp.finfo(dt).eps):.1e}) is too coarse for "
            "games and their certificates; use float32 or float64"
        )
    if dt not in (jnp.dtype(jnp.float32), jnp.dtype(jnp.float64)):
        raise TypeError(f"dtype must be a real floating dtype (float32 or float64), got {dt}")
    if dt == jnp.float64 and not jax.config.jax_enable_x64:
        raise ValueError(
            "dtype float64 needs x64: call jax.config.update('jax_enable_x64', True) first (with x64 off JAX "
            "would silently store float32)"
        )
    return dt


def _check_cast(before: np.ndarray, after: np.ndarray, name: str) -> None:
    """Raise if casting produced a non-finite entry (overflow of a narrower dtype)."""
    bad = ~np.isfinite(after)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name}{list(idx)} = {float(before[idx])} overflows {after.dtype} (max "
            f"{float(np.finfo(after.dtype).max):.3e}); use float64 or rescale the game"
        )


def _to_jax(arr: np.ndarray, dtype, name: str) -> jax.Array:
    """``arr`` as a JAX array of ``dtype`` (already checked), refusing overflow."""
    with np.errstate(over="ignore"):
        cast = arr.astype(dtype)
    _check_cast(arr, cast, name)
    return jnp.asarray(cast)


def check_int(value, name: str, low: int = 1) -> int:
    """A Python or NumPy integer ``>= low`` as an ``int`` (every count in the sandbox is checked here).

    Raises:
        TypeError: not an integer (bools included), naming ``name`` and the value.
        ValueError: below ``low``.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return int(value)


def host_memory() -> int:
    """This machine's physical memory in bytes: the limit :func:`check_memory` states for NumPy work."""
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def _bytes(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def check_memory(who: str, what: str, nbytes: float, memory: int | None = None) -> None:
    """Refuse a size before allocating it: ``nbytes`` (an estimate of what ``what`` allocates, computed from the
    sizes alone, as a float so that it cannot overflow) against this machine's memory (:func:`host_memory`,
    or ``memory``).

    Raises:
        ValueError: ``"<who>: <what> needs about <size> of memory (estimated before allocating anything), more
            than this machine's <memory>"``.
    """
    memory = host_memory() if memory is None else memory
    if float(nbytes) > memory:
        raise ValueError(
            f"{who}: {what} needs about {_bytes(float(nbytes))} of memory (estimated before allocating "
            f"anything), more than this machine's {_bytes(memory)}"
        )


def check_seed(value, name: str = "key"):
    """Validate a seed or a JAX PRNG key, in one place for every keyed function of the sandbox.

    Rule: an integer seed is a Python or NumPy integer (or a 0-d integer array) in ``[0, 2**63)``: what both
    ``numpy.random.default_rng`` and ``jax.random.key`` accept. A key is a typed ``jax.random.key`` array or a
    raw ``uint32`` array whose last axis has length 2 (``jax.random.PRNGKey``); traced keys are accepted
    (their dtype and shape are static).

    Returns:
        the seed as a Python ``int``, or the key as a raw ``uint32`` array (``[..., 2]``).
    Raises:
        TypeError: a bool, float, string, or an array of another dtype or shape, naming ``name`` and the value.
        ValueError: a negative seed or one ``>= 2**63``.
    """
    kind = "a non-negative integer seed below 2**63 or a jax.random key"
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be {kind}, got the bool {bool(value)}")
    if isinstance(value, (int, np.integer)) or (
        isinstance(value, (np.ndarray, jax.Array))
        and not isinstance(value, jax.core.Tracer)
        and value.ndim == 0
        and jnp.issubdtype(value.dtype, jnp.integer)
    ):
        seed = int(value)
        if not 0 <= seed < SEED_BOUND:
            raise ValueError(f"{name} must be {kind}, got {seed}")
        return seed
    dt = getattr(value, "dtype", None)
    if dt is not None and jax.dtypes.issubdtype(dt, jax.dtypes.prng_key):
        return jax.random.key_data(value)
    shape = getattr(value, "shape", None)
    if dt is not None and shape is not None and dt == np.uint32 and len(shape) >= 1 and shape[-1] == 2:
        return value
    what = (
        f"an array of dtype {dt} and shape {shape}"
        if dt is not None
        else f"{value!r} ({type(value).__name__})"
    )
    raise TypeError(f"{name} must be {kind}, got {what}")


def _check_weights(weights, num_contexts: int | None, dtype) -> jax.Array | None:
    if num_contexts is None:
        if weights is not None:
            raise ValueError("weights are only meaningful for a contextual (3-D) game; got a single 2-D game")
        return None
    if weights is None:
        return jnp.full((num_contexts,), 1.0 / num_contexts, dtype=dtype)
    tol = _input_tol(weights)
    w = _as_float_array(weights, "weights")
    if w.shape != (num_contexts,):
        raise ValueError(f"weights must have shape ({num_contexts},) (one per context), got {w.shape}")
    if (w < 0).any():
        i = int(np.argmin(w))
        raise ValueError(f"weights must be non-negative, got weights[{i}] = {float(w[i])}")
    if abs(w.sum() - 1.0) > tol:
        raise ValueError(f"weights must sum to 1 (within {tol:.1e}), they sum to {float(w.sum())}")
    return _to_jax(w, dtype, "weights")


def _check_labels(labels, shape: tuple[int, ...]) -> tuple[str, ...] | None:
    """``labels`` as a tuple of distinct strings, one per action of a square game (``None`` passes)."""
    if labels is None:
        return None
    if isinstance(labels, (str, bytes)) or not isinstance(labels, Sequence):
        raise TypeError(f"labels must be a sequence of strings (one per action), got {labels!r}")
    labels = tuple(labels)
    for i, lab in enumerate(labels):
        if not isinstance(lab, str):
            raise TypeError(f"labels[{i}] must be a string, got {lab!r}")
    m, n = shape[-2:]
    if m != n:
        raise ValueError(f"labels name the actions of a square game; this game is {m} x {n}")
    if len(labels) != n:
        raise ValueError(f"labels must have one entry per action ({n}), got {len(labels)}")
    seen: dict[str, int] = {}
    for i, lab in enumerate(labels):
        if lab in seen:
            raise ValueError(f"labels must be distinct: labels[{seen[lab]}] = labels[{i}] = {lab!r}")
        seen[lab] = i
    return labels


def preference_game(P, weights=None, *, dtype=None, labels=None) -> Game:
    """A symmetric preference game from ``P[i, j] = Pr(i > j)``; payoff ``A = P - 1/2``.

    Args:
        P: ``[n, n]`` for one game or ``[C, n, n]`` for a contextual game (C prompts).
        weights: prompt weights ``rho`` ``[C]`` (contextual games only; default uniform). Must be non-negative
            and sum to 1; nothing is renormalised.
        dtype: payoff dtype, float32 or float64 (default: JAX's default float, float64 with x64 on); see
            :func:`check_dtype`.
        labels: the actions' names (distinct strings, one per action), kept as :attr:`Game.labels`.

    Raises:
        TypeError: non-numeric input, a non-float ``dtype``, non-string labels.
        ValueError: NaN/inf, wrong rank, non-square, empty or 1x1, entries outside [0, 1], ``P + P^T != 1``
            or diagonal != 1/2 (tolerance 1e-9 for float64 input, ``8 eps`` of a narrower float input such as a
            float32 ``game.P``; the worst entry is reported), bad weights, float16 or an unavailable float64.

    Example:
        >>> g = preference_game([[.5, .1, .8], [.9, .5, .1], [.2, .9, .5]])
    """
    dt = check_dtype(dtype)
    tol = _input_tol(P)
    arr = _as_float_array(P, "P")
    _check_matrix_stack(arr, "P")
    if arr.shape[-1] != arr.shape[-2]:
        raise ValueError(f"P must be square (n x n), got shape {arr.shape}")
    if (arr < 0).any() or (arr > 1).any():
        idx = tuple(int(i) for i in np.argwhere((arr < 0) | (arr > 1))[0])
        raise ValueError(f"P must lie in [0, 1]; P{list(idx)} = {float(arr[idx])}")
    diag = np.diagonal(arr, axis1=-2, axis2=-1)
    if np.abs(diag - 0.5).max() > tol:
        idx = tuple(int(i) for i in np.unravel_index(np.argmax(np.abs(diag - 0.5)), diag.shape))
        raise ValueError(f"the diagonal of P must be 1/2; diagonal entry {list(idx)} is {float(diag[idx])}")
    dev = np.abs(arr + np.swapaxes(arr, -1, -2) - 1.0)
    if dev.max() > tol:
        idx = tuple(int(i) for i in np.unravel_index(np.argmax(dev), dev.shape))
        j = (*idx[:-2], idx[-1], idx[-2])
        raise ValueError(
            f"P + P^T must equal 1 (within {tol:.1e}); worst entry P{list(idx)} + P{list(j)} = "
            f"{float(arr[idx] + arr[j])}"
        )
    A = arr - 0.5
    A = 0.5 * (A - np.swapaxes(A, -1, -2))  # exactly skew-symmetric; differs from P - 1/2 by at most tol/2
    w = _check_weights(weights, arr.shape[0] if arr.ndim == 3 else None, dt)
    labels = _check_labels(labels, arr.shape)
    return Game(A=_to_jax(A, dt, "A"), weights=w, preference=True, symmetric=True, labels=labels)


def matrix_game(A, weights=None, *, dtype=None, labels=None) -> Game:
    """A zero-sum matrix game: the row player maximises ``x^T A y``.

    Args:
        A: ``[m, n]`` payoff (m x n allowed) or ``[C, m, n]`` for a contextual game.
        weights: prompt weights ``rho`` ``[C]`` (contextual games only; default uniform).
        dtype: payoff dtype, float32 or float64 (default: JAX's default float); see :func:`check_dtype`.
        labels: the actions' names (square games only: one name per action, shared by both players).

    The game is marked ``symmetric`` when ``A`` is square and exactly skew-symmetric (``A = -A^T``), in
    which case self-play rules may run on it.

    Raises:
        TypeError / ValueError: as :func:`preference_game`, for the checks that apply to a payoff matrix.

    Example:
        >>> g = matrix_game([[0, -25, 50], [25, 0, -5], [-50, 5, 0]])
    """
    dt = check_dtype(dtype)
    arr = _as_float_array(A, "A")
    _check_matrix_stack(arr, "A")
    symmetric = arr.shape[-1] == arr.shape[-2] and bool(np.array_equal(arr, -np.swapaxes(arr, -1, -2)))
    w = _check_weights(weights, arr.shape[0] if arr.ndim == 3 else None, dt)
    labels = _check_labels(labels, arr.shape)
    return Game(A=_to_jax(arr, dt, "A"), weights=w, preference=False, symmetric=symmetric, labels=labels)


def check_reference(game: Game, ref, player: int = 0, name: str = "ref") -> jax.Array:
    """A validated reference policy of ``player`` (``None``: uniform) with the game's shape and dtype.

    Raises:
        ValueError: wrong shape, a zero or negative entry (KL to it would be infinite), rows not summing to 1.
    """
    n = game.shape[player]
    shape = (*game.A.shape[:-2], n)
    if ref is None:
        return uniform(game, player)
    r = _as_float_array(ref, name)
    if r.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {r.shape}")
    if (r <= 0).any():
        raise ValueError(
            f"{name} must be strictly positive (KL to a reference with zeros is infinite): min {r.min()}"
        )
    if np.abs(r.sum(-1) - 1.0).max() > 1e-9:
        raise ValueError(f"{name} must sum to 1 over actions, sums are {r.sum(-1)}")
    return jnp.asarray(r, game.dtype)


def stack_games(games: Sequence[Game]) -> Game:
    """Stack same-shape games into one :class:`Game` whose leaves carry a leading batch axis ``[G, ...]``.

    The result is for ``vmap`` (e.g. :func:`algorithms.sweep`), not for direct play.
    """
    games = list(games)
    if not games:
        raise ValueError("stack_games needs at least one game")
    for i, g in enumerate(games):
        if not isinstance(g, Game):
            raise TypeError(f"games[{i}] is a {type(g).__name__}, not a Game")
    first = games[0]
    signature = lambda g: (
        g.A.shape,
        g.A.dtype,
        g.preference,
        g.symmetric,
        g.weights is None,
        g.labels,
        g.sequences,
    )
    expected = signature(first)
    for i, g in enumerate(games):
        if signature(g) != expected:
            raise ValueError(
                f"games[{i}] ({g!r}) does not match games[0] ({first!r}): stacked games must agree"
            )
    # stacked on the host, field by field (a jnp.stack of thousands of arrays would compile a concatenate with
    # thousands of operands; a tree map over thousands of games spends its time flattening them)
    stack = lambda leaves: jnp.asarray(np.stack([np.asarray(leaf) for leaf in leaves]))
    weights = None if first.weights is None else stack([g.weights for g in games])
    return dataclasses.replace(first, A=stack([g.A for g in games]), weights=weights)
