"""Parameterizations: ``params -> log-probabilities`` of every response of every prompt.

A :class:`Policy` is a ``NamedTuple`` of two pure functions:

* ``init(key) -> params`` — a pytree of parameters (float64 leaves; :func:`algorithms.loss_based` casts them to
  the game's dtype);
* ``log_probs(params) -> [C, n]`` — normalised log-probabilities (``log_softmax`` over the last axis) of the
  ``n`` responses of each of the ``C`` prompts. A single game is ``C = 1``: the rule squeezes the axis.

Factories are cached (the same arguments return the same :class:`Policy` object), because a rule built from a
policy is a static ``jit`` argument and ``jit`` keys on identity/equality. NumPy feature arrays are not
hashable: they are wrapped in :class:`Frozen` (hash and equality of shape, dtype and bytes) before caching.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import games
from games.core import check_int

__all__ = ["Policy", "Frozen", "tabular", "loglinear", "mlp"]


class Policy(NamedTuple):
    """A parameterization: ``init(key) -> params``, ``log_probs(params) -> [C, n]`` log-probabilities.

    Attributes:
        name: display name (part of the rule's name).
        init: parameters from a PRNG key.
        log_probs: normalised log-probabilities ``[C, n]`` (``C = 1`` for a single game).
        shape: ``(C, n)``.
    """

    name: str
    init: Callable[[jax.Array], Any]
    log_probs: Callable[[Any], jax.Array]
    shape: tuple[int, int]


class Frozen:
    """A read-only NumPy array, hashable by value (shape, dtype, bytes), so that factories can be cached."""

    __slots__ = ("array", "_hash")

    def __init__(self, array: np.ndarray):
        arr = np.array(array, copy=True)
        arr.setflags(write=False)
        self.array = arr
        self._hash = hash((arr.shape, arr.dtype.str, arr.tobytes()))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, Frozen)
            and self.array.shape == other.array.shape
            and self.array.dtype == other.array.dtype
            and np.array_equal(self.array, other.array)
        )

    def __repr__(self) -> str:
        return f"Frozen(shape={self.array.shape})"


def tabular(game: games.Game | tuple[int, int]) -> Policy:
    """One logit per (prompt, response): ``log pi = log_softmax(theta)``, ``theta`` ``[C, n]``, init zeros
    (uniform). Any policy is representable, so a loss's population minimizer is its closed form exactly.

    Args:
        game: a preference :class:`games.Game` (only its shape is read) or ``(C, n)``.

    Raises:
        TypeError / ValueError: not a game or a pair of positive ints; a non-square game.
    """
    if isinstance(game, games.Game):
        if game.shape[0] != game.shape[1]:
            raise ValueError(f"tabular: a policy plays a square (self-play) game, got shape {game.shape}")
        shape = (game.A.shape[0] if game.contextual else 1, game.shape[0])
    elif isinstance(game, tuple) and len(game) == 2:
        shape = (check_int(game[0], "tabular: C"), check_int(game[1], "tabular: n"))
    else:
        raise TypeError(f"tabular: expected a games.Game or (C, n), got {game!r}")
    return _tabular(shape)


@functools.cache
def _tabular(shape: tuple[int, int]) -> Policy:
    def init(key):
        del key  # deterministic: uniform
        return jnp.zeros(shape, jnp.float64 if jax.config.jax_enable_x64 else jnp.float32)

    def log_probs(theta):
        return jax.nn.log_softmax(theta, axis=-1)

    return Policy(f"tabular{shape}", init, log_probs, shape)


def _features(features, who: str) -> Frozen:
    if isinstance(features, Frozen):
        features = features.array
    try:
        arr = np.asarray(features, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{who}: features must be a numeric array, got {features!r}") from None
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or min(arr.shape) < 1:
        raise ValueError(
            f"{who}: features must have shape [n, d] or [C, n, d], got shape {np.shape(features)}"
        )
    if not np.isfinite(arr).all():
        raise ValueError(f"{who}: features must be finite")
    return Frozen(arr)


def loglinear(features) -> Policy:
    """Log-linear policy: ``logits[c, y] = features[c, y] . theta``, ``theta`` ``[d]`` shared by all prompts,
    init zeros (uniform). One-hot features (``np.eye(n)``) reproduce :func:`tabular`.

    Args:
        features: ``[n, d]`` (one game) or ``[C, n, d]``.

    Raises:
        TypeError / ValueError: non-numeric, wrongly shaped or non-finite features.
    """
    return _loglinear(_features(features, "loglinear"))


@functools.cache
def _loglinear(frozen: Frozen) -> Policy:
    C, n, d = frozen.array.shape
    feats = frozen.array

    def init(key):
        del key
        return jnp.zeros((d,), jnp.float64 if jax.config.jax_enable_x64 else jnp.float32)

    def log_probs(theta):
        f = jnp.asarray(feats, theta.dtype)  # [C, n, d]
        return jax.nn.log_softmax(f @ theta, axis=-1)

    return Policy(f"loglinear(d={d})", init, log_probs, (C, n))


def mlp(features, hidden: tuple[int, ...] = (10, 10)) -> Policy:
    """A tanh MLP mapping each response's feature vector ``[d]`` to a logit, parameters shared across prompts
    and responses: ``logit = w_out . tanh(W_2 tanh(W_1 f + b_1) + b_2) + b_out``.

    Written in plain JAX (a list of ``(W, b)`` pairs) rather than with flax/equinox: two matrix products need
    no extra dependency. Init: LeCun-normal weights (``N(0, 1/fan_in)``), zero biases, a zero output layer (so
    the initial policy is uniform, as for the other parameterizations).

    Args:
        features: ``[n, d]`` or ``[C, n, d]``.
        hidden: the hidden widths (default two layers of 10).

    Raises:
        TypeError / ValueError: bad features, or ``hidden`` not a tuple of positive ints.
    """
    if not isinstance(hidden, tuple) or not hidden:
        raise TypeError(f"mlp: hidden must be a non-empty tuple of ints, got {hidden!r}")
    hidden = tuple(check_int(h, "mlp: hidden width") for h in hidden)
    return _mlp(_features(features, "mlp"), hidden)


@functools.cache
def _mlp(frozen: Frozen, hidden: tuple[int, ...]) -> Policy:
    C, n, d = frozen.array.shape
    feats = frozen.array
    widths = (d, *hidden, 1)

    def init(key):
        dt = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
        keys = jax.random.split(key, len(widths) - 1)
        layers = []
        for i, (k, a, b) in enumerate(zip(keys, widths[:-1], widths[1:])):
            last = i == len(widths) - 2
            w = jnp.zeros((a, b), dt) if last else jax.random.normal(k, (a, b), dt) / np.sqrt(a)
            layers.append((w, jnp.zeros((b,), dt)))
        return layers

    def log_probs(layers):
        h = jnp.asarray(feats, layers[0][0].dtype)  # [C, n, d]
        for w, b in layers[:-1]:
            h = jnp.tanh(h @ w + b[None, None, :])
        w, b = layers[-1]
        return jax.nn.log_softmax((h @ w + b[None, None, :])[..., 0], axis=-1)

    return Policy(f"mlp(d={d},{hidden})", init, log_probs, (C, n))
