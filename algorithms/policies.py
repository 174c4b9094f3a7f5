"""Parameterizations: ``params -> log-probabilities`` of every response of every prompt.

A :class:`Policy` is a ``NamedTuple`` of two pure functions:

* ``init(key) -> params`` — a pytree of parameters (float64 leaves; :func:`algorithms.loss_based` casts them to
  the game's dtype);
* ``log_probs(params) -> [C, n]`` — normalised log-probabilities (``log_softmax`` over the last axis) of the
  ``n`` responses of each of the ``C`` prompts. A single game is ``C = 1``: the rule squeezes the axis.

A policy over token sequences (:func:`autoregressive`, :func:`transformer`, on a :func:`games.sequence_game`)
keeps the same two functions; its ``sequences`` field names the :class:`games.SequenceSpace`, so that
:func:`algorithms.loss_based` draws its pairs by ancestral sampling, token by token. Its ``log_probs`` is the sum
of token log-probabilities ``log pi(y) = sum_t log pi(y_t | x, y_<t)``, gathered from a per-prefix table of
next-token log-softmaxes with the precomputed index table ``SequenceSpace.prefixes`` (no loop over sequences).

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
import optax

import games
from games.core import check_int

__all__ = [
    "Policy",
    "Frozen",
    "tabular",
    "loglinear",
    "mlp",
    "autoregressive",
    "transformer",
    "by_name",
    "NAMES",
]


class Policy(NamedTuple):
    """A parameterization: ``init(key) -> params``, ``log_probs(params) -> [C, n]`` log-probabilities.

    Attributes:
        name: display name (part of the rule's name).
        init: parameters from a PRNG key.
        log_probs: normalised log-probabilities ``[C, n]`` (``C = 1`` for a single game).
        shape: ``(C, n)``.
        sequences: the :class:`games.SequenceSpace` of a policy whose pairs are drawn by ancestral sampling
            (:func:`autoregressive`, :func:`transformer`, ``tabular(game, ancestral=True)``), ``None`` for a
            policy over whole responses.
        optimizer: the optax optimizer :func:`algorithms.loss_based` uses for this family when none is given
            (``None``: ``loss_based``'s own default, ``optax.sgd(0.5)``). :func:`transformer` declares
            :data:`NETWORK_OPTIMIZER`: plain SGD at 0.5 made it NaN from the first step.
    """

    name: str
    init: Callable[[jax.Array], Any]
    log_probs: Callable[[Any], jax.Array]
    shape: tuple[int, int]
    sequences: Any = None
    optimizer: Any = None


#: The default optimizer of :func:`transformer` (Adam, step 1e-2; built once, so rules using it are cached).
NETWORK_OPTIMIZER = optax.adam(1e-2)


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


def tabular(game: games.Game | tuple[int, int], *, ancestral: bool = False) -> Policy:
    """One logit per (prompt, response): ``log pi = log_softmax(theta)``, ``theta`` ``[C, n]``, init zeros
    (uniform). Any policy is representable, so a loss's population minimizer is its closed form exactly.

    Args:
        game: a preference :class:`games.Game` (only its shape is read) or ``(C, n)``.
        ancestral: on a :func:`games.sequence_game`, draw the sampled pairs token by token
            (:func:`games.sequences.ancestral_sample`, as for :func:`autoregressive`) instead of by one
            categorical over the ``n`` sequences. The distribution is the same; the draws then use ``L``
            random numbers each instead of ``n`` Gumbel variates, and a tabular and an autoregressive run with
            the same seed and the same policy draw the same pairs.

    Raises:
        TypeError / ValueError: not a game or a pair of positive ints; a non-square game; ``ancestral`` on a
            game without token structure.
    """
    if isinstance(game, games.Game):
        if game.shape[0] != game.shape[1]:
            raise ValueError(f"tabular: a policy plays a square (self-play) game, got shape {game.shape}")
        shape = (game.A.shape[0] if game.contextual else 1, game.shape[0])
    elif isinstance(game, tuple) and len(game) == 2:
        shape = (check_int(game[0], "tabular: C"), check_int(game[1], "tabular: n"))
    else:
        raise TypeError(f"tabular: expected a games.Game or (C, n), got {game!r}")
    if not isinstance(ancestral, bool):
        raise TypeError(f"tabular: ancestral must be True or False, got {ancestral!r}")
    space = None
    if ancestral:
        if not isinstance(game, games.Game) or game.sequences is None:
            raise ValueError("tabular: ancestral=True needs a game built by games.sequence_game")
        space = game.sequences
    return _tabular(shape, space)


@functools.cache
def _tabular(shape: tuple[int, int], space=None) -> Policy:
    def init(key):
        del key  # deterministic: uniform
        return jnp.zeros(shape, jnp.float64 if jax.config.jax_enable_x64 else jnp.float32)

    def log_probs(theta):
        return jax.nn.log_softmax(theta, axis=-1)

    return Policy(f"tabular{shape}" + ("" if space is None else ",ancestral"), init, log_probs, shape, space)


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


# ---------------------------------------------------------------------------------------------------------------
# Autoregressive policies over token sequences
# ---------------------------------------------------------------------------------------------------------------


def _sequence_shape(game, who: str) -> tuple[tuple[int, int], games.SequenceSpace]:
    if not isinstance(game, games.Game):
        raise TypeError(f"{who}: expected a games.Game built by games.sequence_game, got {game!r}")
    if game.sequences is None:
        raise ValueError(
            f"{who}: the game has no token structure ({game!r}); build it with games.sequence_game"
        )
    return (game.A.shape[0] if game.contextual else 1, game.shape[0]), game.sequences


def _sequence_log_probs(next_log_probs: jax.Array, space: games.SequenceSpace) -> jax.Array:
    """``log pi(y) = sum_t next_log_probs[c, prefix_t(y), y_t]``: ``[C, num_prefixes, V] -> [C, n]``, one gather
    with the index tables ``space.prefixes`` and ``space.tokens`` (``[n, L]`` each) and a sum over positions."""
    prefix, token = jnp.asarray(space.prefixes), jnp.asarray(space.tokens)
    return jnp.sum(next_log_probs[:, prefix, token], axis=-1)


def autoregressive(game: games.Game) -> Policy:
    """Tabular per prefix: one softmax over the next token for every prefix (and prompt),
    ``log pi(y) = sum_t log_softmax(theta[c, y_<t])[y_t]``, ``theta`` ``[C, (V^L - 1)/(V - 1), V]``, init zeros
    (uniform). The family is complete (every distribution over sequences factorises by the chain rule), so a
    loss's population minimizer is its closed form, as for :func:`tabular`; the optimizer moves in a different
    geometry.

    Args:
        game: a :func:`games.sequence_game` (single or contextual).

    Raises:
        TypeError / ValueError: not a game, or a game without token structure.

    Example:
        >>> g = games.sequence_game(vocab=2, length=2, judge=lambda y, z: 0.5 + 0.0 * (y + z).sum(-1))
        >>> pol = algorithms.policies.autoregressive(g)
        >>> pol.log_probs(pol.init(jax.random.key(0))).shape
        (1, 4)
    """
    shape, space = _sequence_shape(game, "autoregressive")
    return _autoregressive(shape, space)


@functools.cache
def _autoregressive(shape: tuple[int, int], space: games.SequenceSpace) -> Policy:
    C = shape[0]

    def init(key):
        del key  # deterministic: uniform
        dt = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
        return jnp.zeros((C, space.num_prefixes, space.vocab), dt)

    def log_probs(theta):
        return _sequence_log_probs(jax.nn.log_softmax(theta, axis=-1), space)

    name = f"autoregressive(V={space.vocab},L={space.length})"
    return Policy(name, init, log_probs, shape, space)


def transformer(
    game: games.Game, d_model: int = 32, layers: int = 1, heads: int = 2, mlp_ratio: int = 2
) -> Policy:
    """A small causal (decoder-only, pre-LayerNorm) transformer over tokens, parameters shared across prefixes
    and prompts. The input is ``(x, y_1, ..., y_{L-1})``, ``x`` a prompt token (one per prompt of a contextual
    game, one start token otherwise); position ``t`` reads ``x, y_<t`` and outputs the logits of ``y_t``:
    ``h_0 = E[input] + Q[position]``, per layer ``h += MHA(LN(h))`` (causal mask) and ``h += W_2 gelu(W_1 LN(h))``,
    then ``logits = W_out LN(h)``, ``log pi(y) = sum_t log_softmax(logits_t)[y_t]``.

    Causal attention makes position ``t``'s state a function of the prefix ``x, y_<t`` alone, so the network
    runs once per **prefix** (the ``(V^L - 1) / (V - 1)`` nodes of the prefix tree, 40 at V = 3, L = 4), not once
    per position of every sequence (``L V^(L-1)``, 108): node ``j`` at depth ``t`` holds its last token and
    position ``t``, and attends to its ``t + 1`` ancestors (itself included), gathered with a precomputed index
    table. The per-prefix next-token softmaxes are then summed along each leaf's path as for
    :func:`autoregressive`. (``tests/test_sequences.py`` checks this against the network run on whole
    sequences with a causal mask.)

    Init (one normal draw for all parameters, so that ``init`` compiles fast): token, prompt and position
    embeddings ``N(0, 1)``; linear maps LeCun-normal (``N(0, 1/fan_in)``, as :func:`mlp`) with zero biases;
    LayerNorms the identity; ``W_out`` zero, so the initial policy is uniform (as every parameterization here).

    Built with equinox (Kidger & Garcia, arXiv 2111.00254): its models are pytrees of arrays, so the
    parameters are a plain pytree that ``jax.grad``, optax and ``vmap`` over seeds take as they are, and
    ``init``/``log_probs`` stay two pure functions (``eqx.partition`` / ``eqx.combine`` split the arrays from
    the static structure); flax's NNX modules are stateful objects and linen needs a separate ``apply`` with
    variable collections, which would add a second state system to the project's one pytree convention.

    Args:
        game: a :func:`games.sequence_game` (single or contextual).
        d_model: width of the residual stream (a multiple of ``heads``).
        layers: number of transformer blocks.
        heads: attention heads per block.
        mlp_ratio: hidden width of the MLP as a multiple of ``d_model``.

    Raises:
        TypeError / ValueError: not a sequence game, non-positive sizes, ``d_model`` not divisible by ``heads``.

    Example:
        >>> g = games.sequence_game(vocab=3, length=2)
        >>> pol = algorithms.policies.transformer(g, d_model=8, layers=1, heads=2)
        >>> lp = jax.jit(pol.log_probs)(pol.init(jax.random.key(0)))
        >>> lp.shape, bool(jnp.allclose(lp, -jnp.log(9.0)))
        ((1, 9), True)
    """
    shape, space = _sequence_shape(game, "transformer")
    d = check_int(d_model, "transformer: d_model")
    nl = check_int(layers, "transformer: layers")
    nh = check_int(heads, "transformer: heads")
    ratio = check_int(mlp_ratio, "transformer: mlp_ratio")
    if d % nh:
        raise ValueError(f"transformer: d_model ({d}) must be a multiple of heads ({nh})")
    _check_transformer_size(shape, space, d, nl, ratio)
    return _transformer(shape, space, d, nl, nh, ratio)


#: What a transformer's training holds per parameter, in parameters: the parameters, their gradient and an
#: optimizer's two moments (Adam).
TRAINING_COPIES = 4


def transformer_parameters(shape, space, d: int, layers: int, ratio: int) -> int:
    """The parameter count of :func:`transformer` (counted from the sizes, before anything is built):
    embeddings ``(V + C) d + L d``; per block two LayerNorms ``4 d``, attention ``4 d^2`` (no biases) and the
    MLP ``2 r d^2 + r d + d``; the final LayerNorm ``2 d`` and ``W_out`` ``d V``."""
    C, V, L = shape[0], space.vocab, space.length
    block = 4 * d + 4 * d * d + 2 * ratio * d * d + ratio * d + d
    return (V + C) * d + L * d + layers * block + 2 * d + d * V


def _check_transformer_size(shape, space, d: int, layers: int, ratio: int) -> None:
    """Refuse, before building anything, a transformer whose training would not fit this machine's memory
    (:func:`algorithms.memory.machine_memory`): :data:`TRAINING_COPIES` copies of the parameters, plus the
    activations of one forward pass (per prompt and prefix, about ``(r + 4) d`` numbers per block)."""
    from . import memory

    item = 8 if jax.config.jax_enable_x64 else 4
    params = transformer_parameters(shape, space, d, layers, ratio)
    activations = shape[0] * space.num_prefixes * (ratio + 4) * d * layers
    need = (TRAINING_COPIES * params + activations) * item
    limit = memory.machine_memory()
    if need > limit:
        raise ValueError(
            f"transformer: d_model={d}, layers={layers}, mlp_ratio={ratio} give {params:.3g} parameters; "
            f"training needs about {memory._size(need)} (parameters, gradients, optimizer state and "
            f"activations, estimated before building anything), more than this machine's "
            f"{memory._size(limit)}; reduce d_model or layers"
        )


def _prefix_tree(space: games.SequenceSpace) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The prefix tree of ``space``, nodes numbered as :attr:`games.SequenceSpace.prefixes` (depth by depth):
    ``depth`` ``[P]`` (the prefix's length ``t``), ``last`` ``[P]`` (its last token; -1 at the root) and
    ``ancestors`` ``[P, L]`` (``ancestors[j, s]`` is node ``j``'s prefix of length ``s`` for ``s <= depth[j]``,
    ``j`` itself beyond)."""
    V, L, P = space.vocab, space.length, space.num_prefixes
    start = (V ** np.arange(L) - 1) // (V - 1)  # first node of each depth
    depth = np.repeat(np.arange(L), V ** np.arange(L))  # [P]
    within = np.arange(P) - start[depth]  # the prefix among the V^t of its length (base V)
    last = np.where(depth == 0, -1, within % V)
    s = np.arange(L)[None, :]
    up = np.maximum(depth[:, None] - s, 0)  # generations up to the ancestor of length s
    ancestors = np.where(s <= depth[:, None], start[s] + within[:, None] // V**up, np.arange(P)[:, None])
    return depth, last, ancestors


@functools.cache
def _transformer(shape, space, d: int, n_layers: int, n_heads: int, ratio: int) -> Policy:
    import equinox as eqx  # the network library stays inside this module

    C = shape[0]
    V, L = space.vocab, space.length

    class Block(eqx.Module):
        ln1: eqx.nn.LayerNorm
        attn: eqx.nn.MultiheadAttention
        ln2: eqx.nn.LayerNorm
        up: eqx.nn.Linear
        down: eqx.nn.Linear

        def __init__(self, key, dtype):
            k1, k2, k3 = jax.random.split(key, 3)
            self.ln1 = eqx.nn.LayerNorm(d, dtype=dtype)
            self.attn = eqx.nn.MultiheadAttention(n_heads, d, key=k1, dtype=dtype)
            self.ln2 = eqx.nn.LayerNorm(d, dtype=dtype)
            self.up = eqx.nn.Linear(d, ratio * d, key=k2, dtype=dtype)
            self.down = eqx.nn.Linear(ratio * d, d, key=k3, dtype=dtype)

        def __call__(self, h, ancestors, valid):  # h [P, d]: one row per prefix
            heads = lambda proj, z: jax.vmap(proj)(z).reshape(z.shape[0], n_heads, -1)  # [P, H, d/H]
            z = jax.vmap(self.ln1)(h)
            q, k, v = (heads(p, z) for p in (self.attn.query_proj, self.attn.key_proj, self.attn.value_proj))
            logits = jnp.einsum("phd,pshd->phs", q / np.sqrt(q.shape[-1]), k[ancestors])  # [P, H, L]
            logits = jnp.where(valid[:, None, :], logits, jnp.finfo(logits.dtype).min)
            mixed = jnp.einsum("phs,pshd->phd", jax.nn.softmax(logits, axis=-1), v[ancestors])
            h = h + jax.vmap(self.attn.output_proj)(mixed.reshape(h.shape[0], -1))
            z = jax.vmap(self.ln2)(h)
            return h + jax.vmap(self.down)(jax.nn.gelu(jax.vmap(self.up)(z)))

    class Net(eqx.Module):
        embed: jax.Array  # [V + C, d]: the V tokens, then one prompt token per prompt
        position: jax.Array  # [L, d]
        blocks: list
        ln: eqx.nn.LayerNorm
        out: jax.Array  # [d, V], zero at init

        def __init__(self, key, dtype):  # only for the structure (filter_eval_shape): init fills the arrays
            ke, kp, kb = jax.random.split(key, 3)
            self.embed = jax.random.normal(ke, (V + C, d), dtype)
            self.position = jax.random.normal(kp, (L, d), dtype)
            self.blocks = [Block(k, dtype) for k in jax.random.split(kb, n_layers)]
            self.ln = eqx.nn.LayerNorm(d, dtype=dtype)
            self.out = jnp.zeros((d, V), dtype)

        def __call__(self, inputs, depth, ancestors, valid):  # [P] -> [P, V] next-token log-probabilities
            h = self.embed[inputs] + self.position[depth]
            for block in self.blocks:
                h = block(h, ancestors, valid)
            return jax.nn.log_softmax(jax.vmap(self.ln)(h) @ self.out, axis=-1)

    def dtype():
        return jnp.float64 if jax.config.jax_enable_x64 else jnp.float32

    depth, last, ancestors = _prefix_tree(space)
    valid = np.arange(L)[None, :] <= depth[:, None]  # [P, L]
    inputs = np.where(depth[None, :] == 0, V + np.arange(C)[:, None], last[None, :])  # [C, P]
    # the static structure from shapes alone (no arrays are computed)
    shapes = eqx.filter_eval_shape(Net, jax.random.key(0), dtype())
    arrays, static = eqx.partition(shapes, lambda x: isinstance(x, jax.ShapeDtypeStruct))
    paths, treedef = jax.tree_util.tree_flatten_with_path(arrays)

    def fill(path, leaf):  # (standard deviation of the normal draw, or None) and the constant otherwise
        name = jax.tree_util.keystr(path)
        if name in (".embed", ".position"):
            return 1.0, 0.0
        if name.endswith(".weight") and "ln" not in name.rsplit(".", 2)[-2]:  # a linear map [out, in]
            return 1.0 / np.sqrt(leaf.shape[1]), 0.0
        return None, 1.0 if name.endswith(".weight") else 0.0  # LayerNorm scales; biases; W_out

    fills = [fill(p, leaf) for p, leaf in paths]
    sizes = [int(np.prod(leaf.shape)) if std is not None else 0 for (_, leaf), (std, _) in zip(paths, fills)]
    offsets = np.concatenate([[0], np.cumsum(sizes)])

    @jax.jit  # one small program (called eagerly by the rule's checks, inlined under the runner's jit)
    def init(key):
        z = jax.random.normal(key, (int(offsets[-1]),), dtype())
        leaves = [
            jnp.full(leaf.shape, const, dtype())
            if std is None
            else std * z[offsets[i] : offsets[i + 1]].reshape(leaf.shape)
            for i, ((_, leaf), (std, const)) in enumerate(zip(paths, fills))
        ]
        return jax.tree_util.tree_unflatten(treedef, leaves)

    def log_probs(params):
        net = eqx.combine(params, static)
        tree = (jnp.asarray(depth), jnp.asarray(ancestors), jnp.asarray(valid))
        nodes = jax.vmap(lambda x: net(x, *tree))(jnp.asarray(inputs))  # [C, P, V]
        return _sequence_log_probs(nodes, space)

    name = f"transformer(V={V},L={L},d={d},layers={n_layers},heads={n_heads})"
    return Policy(name, init, log_probs, shape, space, NETWORK_OPTIMIZER)


#: The parameterizations :func:`by_name` knows, and whether each reads response features.
NAMES = {"tabular": False, "loglinear": True, "mlp": True, "autoregressive": False, "transformer": False}


def by_name(name: str, game: games.Game, features=None, **options) -> Policy:
    """A parameterization chosen by its name (a study's ``--policies`` item): ``tabular(game, **options)``,
    ``loglinear(features)``, ``mlp(features, **options)``, ``autoregressive(game)`` or
    ``transformer(game, **options)``.

    Args:
        name: one of :data:`NAMES`.
        game: the game (the shape, and the token structure of a sequence game, are read).
        features: response features ``[n, d]`` or ``[C, n, d]``; needed by ``loglinear`` and ``mlp``, ignored by
            the others (so one call serves every name).
        options: the factory's keyword options (``ancestral``, ``hidden``, ``d_model``, ...).

    Raises:
        ValueError: an unknown name, or ``loglinear``/``mlp`` without features; otherwise as the factory.

    Example:
        >>> g, f = games.library.featured_games(0)["paper"]
        >>> [algorithms.policies.by_name(k, g, f).name for k in ("tabular", "loglinear", "mlp")]
        ['tabular(1, 3)', 'loglinear(d=2)', 'mlp(d=2,(10, 10))']
    """
    if not isinstance(name, str) or name not in NAMES:
        raise ValueError(f"unknown policy {name!r}; valid policies: {', '.join(NAMES)}")
    if NAMES[name] and features is None:
        raise ValueError(f"policy {name!r} reads response features: pass features [n, d] or [C, n, d]")
    if name == "tabular":
        return tabular(game, **options)
    if name == "loglinear":
        return loglinear(features, **options)
    if name == "mlp":
        return mlp(features, **options)
    if name == "autoregressive":
        return autoregressive(game, **options)
    return transformer(game, **options)
