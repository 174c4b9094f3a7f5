"""Preference games whose responses are token sequences, with the exact equilibrium still known.

A response is a sequence ``y = (y_1, ..., y_L)`` of tokens from a vocabulary of ``V`` tokens; the game's ``n = V^L``
actions are every such sequence, in lexicographic order: action ``i`` is the base-``V`` expansion of ``i``, most
significant digit first (``i = sum_t y_t V^(L-t)``, positions ``t = 1..L``). So the prefix of length ``t`` of
action ``i`` is ``i // V^(L-t)``, and reshaping a ``[.., n]`` array to ``[.., V^t, V^(L-t)]`` groups the responses
by their prefix of length ``t``: the prefix tree is walked with reshapes and gathers, never with Python recursion.

:func:`sequence_game` builds an ordinary :class:`games.Game` (a preference game, ``A = P - 1/2``; the row player
maximises), so every solver, metric and rule runs on it unchanged; the game also carries its
:class:`SequenceSpace` (``game.sequences``): the token table and labels such as ``"abca"``.

An autoregressive policy has ``log pi(y) = sum_t log pi(y_t | y_<t)``; ancestral sampling draws ``y_1``, then
``y_2 | y_1``, ... and its distribution is exactly ``pi(y)`` (:func:`ancestral_sample`).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from .core import Game, _as_float_array, check_int, check_memory, check_seed, preference_game

__all__ = [
    "SequenceSpace",
    "sequence_game",
    "JUDGES",
    "MAX_SEQUENCES",
    "cyclic_score",
    "positional_rps",
    "embedding_preference",
    "reward_cycle",
    "prefix_log_probs",
    "ancestral_sample",
    "token_mass",
]

#: The most responses a sequence game may have. The game stores an ``n x n`` payoff (``8 n^2`` bytes in float64:
#: 134 MB at 4096), the population loss of a loss-based rule holds several ``[n^2]`` arrays per prompt, and the
#: exact equilibrium is an LP with ``n^2`` dense coefficients (HiGHS takes minutes beyond a few thousand).
MAX_SEQUENCES = 4096

_ALPHABET = "abcdefghijklmnopqrstuvwxyz"


@dataclasses.dataclass(frozen=True)
class SequenceSpace:
    """The ``V^L`` token sequences of length ``L`` over ``V`` tokens (static metadata of a sequence game).

    Attributes:
        vocab: ``V``, the number of tokens (``>= 2``).
        length: ``L``, the number of positions (``>= 1``).
        alphabet: one character per token, for labels (default ``"abc..."``).
    """

    vocab: int
    length: int
    alphabet: str

    @property
    def n(self) -> int:
        """The number of sequences, ``V^L``."""
        return self.vocab**self.length

    @property
    def tokens(self) -> np.ndarray:
        """``[n, L]`` int: the token sequence of every action (``tokens[i]`` is the base-``V`` expansion of ``i``)."""
        powers = self.vocab ** np.arange(self.length - 1, -1, -1)
        return (np.arange(self.n)[:, None] // powers[None, :]) % self.vocab

    @property
    def prefixes(self) -> np.ndarray:
        """``[n, L]`` int: ``prefixes[i, t]`` is the index of the prefix ``y_<t`` of action ``i`` among all the
        ``(V^L - 1) / (V - 1)`` prefixes of length ``0..L-1``, numbered depth by depth (the empty prefix is 0,
        the ``V`` prefixes of length 1 are ``1..V``, ...): the row of a per-prefix table."""
        V, L = self.vocab, self.length
        depth = np.arange(L)
        start = (V**depth - 1) // (V - 1)  # first index of the prefixes of length t
        within = np.arange(self.n)[:, None] // (V ** (L - depth))[None, :]  # prefix of length t among V^t
        return start[None, :] + within

    @property
    def num_prefixes(self) -> int:
        """``(V^L - 1) / (V - 1)``: the prefixes of length ``0..L-1`` (one next-token softmax each)."""
        return (self.vocab**self.length - 1) // (self.vocab - 1)

    @property
    def labels(self) -> list[str]:
        """One label per action, e.g. ``"abca"``."""
        return ["".join(self.alphabet[t] for t in row) for row in self.tokens]


def _space(vocab, length, alphabet=None) -> SequenceSpace:
    V = check_int(vocab, "sequence_game: vocab")
    if V < 2:
        raise ValueError(f"sequence_game: vocab must be >= 2 (one token leaves a single response), got {V}")
    L = check_int(length, "sequence_game: length")
    if V**L > MAX_SEQUENCES:
        raise ValueError(
            f"sequence_game: vocab^length = {V}^{L} = {V**L} sequences exceeds the limit {MAX_SEQUENCES}: the game "
            f"stores an n x n payoff ({8 * V ** (2 * L) / 1e9:.1f} GB in float64) and its exact equilibrium is an "
            "LP with n^2 dense coefficients"
        )
    if alphabet is None:
        if V > len(_ALPHABET):
            raise ValueError(f"sequence_game: pass an alphabet of {V} characters (the default has 26)")
        alphabet = _ALPHABET[:V]
    if not isinstance(alphabet, str):
        raise TypeError(f"sequence_game: alphabet must be a string, got {alphabet!r}")
    if len(alphabet) != V or len(set(alphabet)) != V:
        raise ValueError(f"sequence_game: alphabet must be {V} distinct characters, got {alphabet!r}")
    return SequenceSpace(V, L, alphabet)


# ---------------------------------------------------------------------------------------------------------------
# Judges: P[i, j] = Pr(sequence i > sequence j), computed for all pairs at once from the token table
# ---------------------------------------------------------------------------------------------------------------


def cyclic_score(vocab: int) -> np.ndarray:
    """``[V, V]`` per-position cyclic game ``s(a, b) in {+1, 0, -1}``: with ``d = (a - b) mod V``, ``s = +1``
    for ``0 < d < V/2``, ``-1`` for ``d > V/2``, ``0`` for ``d = 0`` or ``d = V/2``. For ``V = 3`` (tokens
    r, p, s) it is rock-paper-scissors: paper (1) beats rock (0), scissors (2) beats paper, rock beats scissors."""
    d = (np.arange(vocab)[:, None] - np.arange(vocab)[None, :]) % vocab
    return np.where((d > 0) & (2 * d < vocab), 1.0, np.where(2 * d > vocab, -1.0, 0.0))


def _margin(space: SequenceSpace) -> np.ndarray:
    """``[n, n]`` positional margin ``m(y, y') = sum_t s(y_t, y'_t)``."""
    s, tok = cyclic_score(space.vocab), space.tokens
    return s[tok[:, None, :], tok[None, :, :]].sum(-1)


def positional_rps(space: SequenceSpace) -> np.ndarray:
    """Positional rock-paper-scissors: ``m(y, y') = sum_t s(y_t, y'_t)`` with the cyclic game
    :func:`cyclic_score`; ``P(y > y') = 1`` if ``m > 0``, ``0`` if ``m < 0``, ``1/2`` if ``m = 0``: the
    sequence that wins more positions wins. Strongly non-transitive; the uniform policy is an equilibrium
    (the game is invariant under shifting the tokens of any position).

    Raises:
        ValueError: ``V = 2`` (every position ties: the cyclic game on two tokens is all ties).
    """
    if space.vocab < 3:
        raise ValueError("sequence_game: positional_rps needs vocab >= 3 (on two tokens every position ties)")
    return 0.5 + 0.5 * np.sign(_margin(space))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # exactly 1 - sigmoid(-z) up to round-off, no overflow


def embedding_preference(
    space: SequenceSpace, *, dim: int = 2, scale: float = 4.0, position_scale: float = 0.3, seed: int = 0
) -> np.ndarray:
    """General preference model (GPM; Zhang et al., arXiv 2410.02197): ``P(y > y') = sigma(v(y)^T R v(y'))``
    with ``R`` skew-symmetric, so ``P + P^T = 1``; ``v(y) = sum_t (E[y_t] + Q[t])`` the sum of token and position
    embeddings. Seeded: ``E ~ N(0, 1) [V, dim]`` centred over the tokens, ``Q ~ position_scale N(0, 1) [L, dim]``,
    ``R = scale (G - G^T) / sqrt(2 dim L)`` with ``G ~ N(0, 1) [dim, dim]`` (the ``1/L`` keeps ``v^T R v'`` of
    order ``scale`` at every length).

    The position embeddings add the same ``c = sum_t Q[t]`` to every ``v``, so ``v^T R v' = u^T R u' +
    (c^T R u' - c^T R u)`` (``u = v - c``): the cyclic form of the centred token sums plus a transitive reward
    ``-c^T R u``. ``position_scale`` weighs the two (at 1 most seeds have a pure equilibrium; at 0.3 the
    equilibria of the (3, 4) and (4, 4) games mix 5 to 21 sequences).

    Raises:
        TypeError / ValueError: ``dim`` not an integer >= 1, or so large that its embeddings and the ``dim x dim``
            form do not fit in this machine's memory (checked before drawing them).
    """
    dim = check_int(dim, "sequence_game: dim")
    n, V, L = space.n, space.vocab, space.length
    # E [V, dim], Q [L, dim], G and R [dim, dim], E[tokens] [n, L, dim] and v [n, dim], float64
    check_memory("sequence_game", f"embedding dim={dim}", 8.0 * dim * (V + L + 3 * dim + n * L + 2 * n))
    for name, value in (("scale", scale), ("position_scale", position_scale)):
        if isinstance(value, bool) or np.ndim(value) != 0 or not np.isfinite(value):
            raise TypeError(f"sequence_game: {name} must be a finite real number, got {value!r}")
    rng = np.random.default_rng(check_seed(seed, "sequence_game: seed"))
    E = rng.standard_normal((space.vocab, dim))
    E = E - E.mean(0)
    Q = float(position_scale) * rng.standard_normal((space.length, dim))
    G = rng.standard_normal((dim, dim))
    R = float(scale) * (G - G.T) / np.sqrt(2.0 * dim * space.length)
    v = (E[space.tokens] + Q[None, :, :]).sum(1)  # [n, dim]
    return _sigmoid(v @ R @ v.T)


def reward_cycle(
    space: SequenceSpace,
    *,
    cycle: float = 0.5,
    verbosity: float = 0.0,
    favoured: int = 0,
    scale: float = 4.0,
    seed: int = 0,
) -> np.ndarray:
    """A transitive reward plus a cyclic part: ``P(y > y') = sigma(scale [(1 - cycle) (r(y) - r(y'))
    + cycle m(y, y') / L])`` with the positional margin ``m`` of :func:`positional_rps` and the reward
    ``r(y) = (1/L) sum_t (u[t, y_t] + verbosity [y_t = favoured])``, ``u ~ N(0, 1) [L, V]`` seeded. ``cycle``
    in ``[0, 1]`` moves the game from a Bradley-Terry game (0) to a smoothed positional RPS (1); the verbosity
    term is a judge's bias toward one token, as length bias favours long answers in real judges.
    """
    rng = np.random.default_rng(check_seed(seed, "sequence_game: seed"))
    for name, value in (("cycle", cycle), ("verbosity", verbosity), ("scale", scale)):
        if isinstance(value, bool) or np.ndim(value) != 0 or not np.isfinite(value):
            raise TypeError(f"sequence_game: {name} must be a finite real number, got {value!r}")
    if not 0.0 <= cycle <= 1.0:
        raise ValueError(f"sequence_game: cycle must lie in [0, 1], got {cycle}")
    fav = check_int(favoured, "sequence_game: favoured", low=0)
    if fav >= space.vocab:
        raise ValueError(f"sequence_game: favoured must be a token in [0, {space.vocab}), got {fav}")
    u = rng.standard_normal((space.length, space.vocab))
    tok, L = space.tokens, space.length
    r = (u[np.arange(L)[None, :], tok] + verbosity * (tok == fav)).sum(1) / L  # [n]
    z = (1.0 - cycle) * (r[:, None] - r[None, :]) + cycle * _margin(space) / L
    return _sigmoid(float(scale) * z)


#: The named judges: ``name -> function(space, **options) -> P [n, n]``.
JUDGES: dict[str, Callable[..., np.ndarray]] = {
    "positional_rps": positional_rps,
    "embedding": embedding_preference,
    "reward_cycle": reward_cycle,
}


def _user_judge(judge: Callable, space: SequenceSpace) -> np.ndarray:
    """``P`` from the user's ``judge(y, y')`` of two ``[.., L]`` token arrays (broadcast over all pairs)."""
    tok = space.tokens
    try:
        out = judge(tok[:, None, :], tok[None, :, :])
    except Exception as err:  # the user's function failed on the documented input
        raise ValueError(
            f"sequence_game: judge({space.n}x1xL, 1x{space.n}xL token arrays) raised {type(err).__name__}: {err}"
        ) from err
    P = _as_float_array(out, "sequence_game: judge(y, y')")
    if P.shape != (space.n, space.n):
        raise ValueError(
            f"sequence_game: judge(y, y') must return Pr(y > y') of shape (n, n) = {(space.n, space.n)} for token "
            f"arrays of shapes {tok[:, None, :].shape} and {tok[None, :, :].shape}, got shape {P.shape}"
        )
    return P


def sequence_game(
    vocab: int, length: int, judge="positional_rps", *, alphabet=None, dtype=None, **options
) -> Game:
    """A preference game over the ``n = vocab^length`` token sequences.

    Args:
        vocab: ``V >= 2`` tokens.
        length: ``L >= 1`` positions; ``V^L <= MAX_SEQUENCES`` (4096).
        judge: ``"positional_rps"`` (:func:`positional_rps`), ``"embedding"`` (:func:`embedding_preference`,
            GPM), ``"reward_cycle"`` (:func:`reward_cycle`), or the user's function ``judge(y, y')`` of two
            integer token arrays ``[.., L]`` (called once, broadcast: shapes ``[n, 1, L]`` and ``[1, n, L]``)
            returning ``Pr(y > y')`` of shape ``[n, n]``, checked as any ``P`` (``[0, 1]``, ``P + P^T = 1``).
        alphabet: one character per token for the labels (default ``"abc..."``).
        dtype: payoff dtype (see :func:`games.core.check_dtype`).
        **options: the named judge's options (``dim``, ``scale``, ``seed``, ``cycle``, ``verbosity``,
            ``favoured``).

    Returns:
        a preference :class:`games.Game` whose ``sequences`` is its :class:`SequenceSpace`.

    Raises:
        TypeError / ValueError: ``V < 2``, ``V^L`` above the limit (with the reason), an unknown judge or option,
            a judge of the wrong shape or not a preference (entries outside ``[0, 1]``, ``P + P^T != 1``).

    Example:
        >>> g = games.sequence_game(vocab=3, length=2, judge="positional_rps")
        >>> g.shape, g.sequences.labels[:4]
        ((9, 9), ['aa', 'ab', 'ac', 'ba'])
    """
    space = _space(vocab, length, alphabet)
    if isinstance(judge, str):
        if judge not in JUDGES:
            raise ValueError(
                f"sequence_game: unknown judge {judge!r}; valid: {', '.join(JUDGES)} or a function"
            )
        fn = JUDGES[judge]
        allowed = [p for p in inspect.signature(fn).parameters if p != "space"]
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise ValueError(
                f"sequence_game: judge {judge!r} takes no option(s) {', '.join(unknown)}; valid: "
                f"{', '.join(allowed) or 'none'}"
            )
        P = fn(space, **options)
    elif callable(judge):
        if options:
            raise ValueError(f"sequence_game: options {sorted(options)} apply to named judges only")
        P = _user_judge(judge, space)
    else:
        raise TypeError(
            f"sequence_game: judge must be a name ({', '.join(JUDGES)}) or a function, got {judge!r}"
        )
    game = preference_game(P, dtype=dtype, labels=space.labels)  # the labels studies print, as for any game
    return dataclasses.replace(game, sequences=space)


# ---------------------------------------------------------------------------------------------------------------
# The prefix tree of a distribution over sequences (jittable)
# ---------------------------------------------------------------------------------------------------------------


def prefix_log_probs(log_probs: jax.Array, space: SequenceSpace, depth: int) -> jax.Array:
    """Log-marginals of the prefixes of length ``depth``: ``log sum_{y: y_<=depth = p} pi(y)``, ``[.., V^depth]``.

    A reshape of the ``[.., n]`` log-probabilities to ``[.., V^depth, V^(L - depth)]`` and a log-sum-exp over the
    last axis (the responses sharing a prefix are contiguous)."""
    lead = log_probs.shape[:-1]
    grouped = jnp.reshape(log_probs, (*lead, space.vocab**depth, space.vocab ** (space.length - depth)))
    return jax.scipy.special.logsumexp(grouped, axis=-1)


def ancestral_sample(key: jax.Array, log_probs: jax.Array, space: SequenceSpace, num: int) -> jax.Array:
    """Draw ``num`` sequences per row of ``log_probs`` ``[R, n]`` token by token, as generation does.

    For ``t = 1..L``: ``y_t ~ pi(. | y_<t)``, the conditional read from the prefix marginals
    (:func:`prefix_log_probs`: ``log pi(y_t | y_<t) = log pi(y_<=t) - log pi(y_<t)``), drawn by inverting its
    cumulative distribution at one uniform ``u_t`` per position and draw (its own key per position):
    ``y_t = #{v < V - 1: F_t(v) <= u_t}``, ``F_t(v) = sum_{w <= v} pi(w | y_<t)`` — one random number per
    token drawn, where a Gumbel-max categorical takes ``V``. The draw's distribution is
    exactly ``pi`` (the chain rule); the first ``t`` tokens of a draw depend only on the marginals of the
    prefixes of length ``<= t``, as in generation (how mass is spread below a prefix never changes which
    prefix is drawn).

    Args:
        key: a PRNG key.
        log_probs: ``[R, n]`` normalised log-probabilities over the sequences of ``space``.
        space: the :class:`SequenceSpace`.
        num: draws per row.

    Returns:
        ``[R, num]`` int action indices (``i = sum_t y_t V^(L-t)``).
    """
    R = log_probs.shape[0]
    V = space.vocab
    idx = jnp.zeros((R, num), dtype=jnp.int32)  # the prefix drawn so far, among the V^t of its length
    for t, k in enumerate(jax.random.split(key, space.length)):  # positions, not sequences: L is static
        marg = jnp.reshape(prefix_log_probs(log_probs, space, t + 1), (R, V**t, V))  # [R, V^t, V]
        table = jnp.cumsum(jax.nn.softmax(marg, axis=-1), axis=-1)  # [R, V^t, V] F_t(v) per prefix
        cdf = jnp.take_along_axis(table, idx[:, :, None], axis=1)  # [R, num, V] per draw
        u = jax.random.uniform(k, (R, num), cdf.dtype)
        token = jnp.sum(cdf[..., :-1] <= u[..., None], axis=-1)  # the v with F_t(v - 1) <= u < F_t(v)
        idx = idx * V + token.astype(idx.dtype)
    return idx


def token_mass(probs, space: SequenceSpace, token: int) -> jax.Array:
    """Expected share of positions holding ``token``: ``sum_y pi(y) #{t: y_t = token} / L`` (``[..]``).

    Raises:
        TypeError: ``space`` not a :class:`SequenceSpace`; ``token`` not an integer.
        ValueError: ``token`` outside ``[0, V)``.
    """
    if not isinstance(space, SequenceSpace):
        raise TypeError(
            f"token_mass: space must be a games.sequences.SequenceSpace, got {type(space).__name__}"
        )
    token = check_int(token, "token_mass: token", low=0)
    if token >= space.vocab:
        raise ValueError(
            f"token_mass: token {token} is not in the vocabulary of {space.vocab} tokens [0, {space.vocab})"
        )
    count = jnp.asarray((space.tokens == token).mean(1), jnp.result_type(probs))  # [n]
    return jnp.sum(probs * count, axis=-1)
