"""What a learner observes: feedback oracles for payoff gradients, keyed and counted.

A rule never reads ``A @ pi`` itself: it asks the :class:`Oracle` that the runner hands to every ``step``.
The oracle answers with an **unbiased estimate of the payoff gradient** of a profile, in the profile's own
structure (:class:`games.Profile`):

* self-play on a preference game: ``A pi = P pi - 1/2`` (win rates against ``pi``, minus 1/2);
* two players: ``A y`` for the row player and ``-A^T x`` for the column player.

Feedback models (each a hashable :class:`Feedback`, a static argument of the jitted runner):

* :func:`exact` (the default): the gradient itself, computed exactly as the rules always have;
* :func:`sampled`: for each action, ``samples`` opponents drawn from the opponent's current policy, one duel per
  opponent (a Bernoulli outcome with probability ``P[i, j]`` on a preference game; the payoff ``A[i, j]`` of
  the drawn opponent on a matrix game), averaged. ``order`` says how each duel is shown to a judge whose
  verdicts depend on the order (a judge's game, :func:`games.judges.judge_game`, whose ``P[i, j]`` is the
  probability that ``i`` wins when shown **first**): ``"fixed"`` (the player's own response first: the duel
  is won with probability ``P[i, j]``), ``"random"`` (a fair coin picks the order: won with probability
  ``(P[i, j] + 1 - P[j, i]) / 2``) or ``"both"`` (judged in both orders and the two verdicts averaged, an
  outcome in ``{0, 1/2, 1}``; two judgments per duel). On a true preference game (``P + P^T = 1``) the three
  orders have the same mean; ``"both"`` has a smaller variance and costs twice the judgments. ``samples`` is
  the most drawn; how many are judged each step is the run's hyperparameter ``samples`` (``Oracle.samples``:
  a number, a sweep axis or a schedule, in one compiled program), and ``counts=True`` draws the judged
  outcomes' counts instead of the items. A loss-based rule asks for judged pairs instead (:meth:`Oracle.pairs`:
  the population under :func:`exact`, ``samples`` pairs per prompt under :func:`sampled`);
* :func:`noisy`: the exact gradient plus independent ``N(0, sigma^2)`` noise per entry (the noisy-feedback model
  of the last-iterate literature, e.g. M2WU, Abe et al., arXiv 2206.06659).

Counting: every ``gradient``/``win_rates``/``pairs`` call is one **oracle call** for the whole profile;
``comparisons`` counts the pairwise judgments made (``samples * n`` per player per prompt per gradient under
:func:`sampled`, twice that with ``order="both"``, ``samples`` per prompt for judged pairs, 0 otherwise). The runner
accumulates both into the trace's cumulative counters.
Randomness: the runner gives each step its own key (``fold_in(run_key, step)``); the oracle's ``i``-th draw in
that step uses ``fold_in(step_key, i)``, so traces are reproducible and independent of how a run is chunked.

Example:
    >>> import games, algorithms
    >>> trace = algorithms.run(algorithms.get("omwu"), games.comal_cycle(), steps=100,
    ...                        feedback=games.feedback.sampled(16))
    >>> int(trace.counters["comparisons"][-1])   # 100 steps x 16 samples x 3 actions
    4800
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .core import Game, Profile, _matvec, check_int, payoff_gradient

__all__ = ["Feedback", "Oracle", "exact", "sampled", "noisy", "KINDS", "ORDERS"]

KINDS = ("exact", "sampled", "noisy")
#: How a sampled duel is shown to the judge (:func:`sampled`'s ``order``).
ORDERS = ("fixed", "random", "both")


@dataclasses.dataclass(frozen=True)
class Feedback:
    """A feedback model: static configuration (frozen, hashable: a static ``jit`` argument). Build it with
    :func:`exact`, :func:`sampled` or :func:`noisy`; the constructor validates every field itself, so a
    ``Feedback`` built directly (``Feedback("noisy", sigma=-1.0)``) is refused exactly as ``noisy(-1)`` is.

    Raises:
        ValueError / TypeError: an unknown ``kind``, ``samples`` not a whole number >= 1 for ``"sampled"``,
            ``sigma`` not a finite number >= 0 for ``"noisy"``, ``order`` not one of :data:`ORDERS`, ``counts``
            not a bool, or a field the kind does not use set.
    """

    kind: str
    samples: int = 0
    sigma: float = 0.0
    order: str = "fixed"
    counts: bool = False

    def __post_init__(self):
        if not isinstance(self.kind, str) or self.kind not in KINDS:
            raise ValueError(f"Feedback: kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.kind == "sampled":
            object.__setattr__(self, "samples", check_int(self.samples, "samples"))
        elif not (isinstance(self.samples, (int, np.integer)) and self.samples == 0):
            raise ValueError(
                f"Feedback: samples applies to kind 'sampled' only, got samples={self.samples!r}"
            )
        if self.kind == "noisy":
            object.__setattr__(self, "sigma", _check_sigma(self.sigma))
        elif isinstance(self.sigma, (bool, str)) or np.ndim(self.sigma) != 0 or self.sigma != 0:
            raise ValueError(f"Feedback: sigma applies to kind 'noisy' only, got sigma={self.sigma!r}")
        if not isinstance(self.order, str) or self.order not in ORDERS:
            raise ValueError(f"Feedback: order must be one of {', '.join(ORDERS)}, got {self.order!r}")
        if self.kind != "sampled" and self.order != "fixed":
            raise ValueError(f"Feedback: order applies to kind 'sampled' only, got order={self.order!r}")
        if not isinstance(self.counts, (bool, np.bool_)):
            raise TypeError(f"Feedback: counts must be True or False, got {self.counts!r}")
        object.__setattr__(self, "counts", bool(self.counts))
        if self.kind != "sampled" and self.counts:
            raise ValueError("Feedback: counts applies to kind 'sampled' only, got counts=True")

    @property
    def name(self) -> str:
        if self.kind == "sampled":
            extra = ("" if self.order == "fixed" else f", {self.order}") + (", counts" if self.counts else "")
            return f"sampled({self.samples}{extra})"
        if self.kind == "noisy":
            return f"noisy({self.sigma:g})"
        return "exact"

    @property
    def stochastic(self) -> bool:
        return self.kind != "exact"

    def comparisons_per_call(self, game: Game, profile: Profile) -> int:
        """Pairwise judgments one gradient evaluation of ``profile`` draws."""
        if self.kind != "sampled":
            return 0
        contexts = game.A.shape[0] if game.contextual else 1
        actions = game.shape[0] if profile.self_play else sum(game.shape)
        return self.samples * actions * contexts * self.judgments_per_duel

    @property
    def judgments_per_duel(self) -> int:
        """Judgments one sampled duel costs: 2 when shown in both orders, else 1."""
        return 2 if self.order == "both" else 1

    def working_bytes(self, game: Game, self_play: bool) -> int:
        """An estimate of the memory one gradient evaluation allocates (bytes), for the runner's memory check:
        under :func:`sampled`, per player, prompt, own action and draw, a Gumbel noise per opponent action (the
        categorical draw), the opponent's index, its payoff, the duel's uniform draw and its outcome —
        ``(opponents + 4)`` numbers; 0 otherwise (the exact gradient is the size of the game; ``counts`` draws a
        few numbers per action)."""
        if self.kind != "sampled" or self.counts:
            return 0
        item = np.dtype(game.dtype).itemsize
        contexts = game.A.shape[0] if game.contextual else 1
        m, n = game.shape
        players = ((m, n),) if self_play else ((m, n), (n, m))
        return contexts * self.samples * sum(own * (opp + 4) * item for own, opp in players)


def _check_sigma(sigma) -> float:
    if isinstance(sigma, (bool, str)) or np.ndim(sigma) != 0:
        raise TypeError(f"sigma must be a real number, got {sigma!r}")
    try:
        value = float(sigma)
    except (TypeError, ValueError):
        raise TypeError(f"sigma must be a real number, got {sigma!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"sigma must be a finite number >= 0, got {sigma!r}")
    return value


@functools.cache
def exact() -> Feedback:
    """Exact payoff gradients (the default of :func:`algorithms.run`)."""
    return Feedback("exact")


def sampled(samples: int, order: str = "fixed", counts: bool = False) -> Feedback:
    """Sampled duels: for every action, ``samples`` opponents drawn from the opponent's policy, one judged duel
    each (Bernoulli ``P[i, j]`` on a preference game, the payoff ``A[i, j]`` on a matrix game), averaged and
    centred (``- 1/2`` on a preference game): an unbiased estimate of the payoff gradient. A loss-based rule
    (:func:`algorithms.loss_based`) draws ``samples`` pairs per prompt instead (:meth:`Oracle.pairs`).

    ``samples`` is the most drawn (it sizes the compiled program). How many of them are **judged** each step is
    the run's hyperparameter ``samples`` (:func:`algorithms.run`, ``sweep``): a whole number in ``[1, samples]``
    (default ``samples``), a sweep axis or a schedule (:mod:`algorithms.schedules`), in one compiled program;
    ``comparisons`` counts the judged ones.

    ``order`` (preference games; see the module docstring): ``"fixed"`` own response first, ``"random"`` a
    coin picks the order, ``"both"`` both orders averaged (each duel counts two judgments). They differ only
    on a judge's game whose ``P + P^T != 1`` (:func:`games.judges.judge_game`).

    ``counts=True`` (preference games) draws the **counts** of the judged outcomes instead of the items one by
    one: per action one binomial draw of its wins (every duel, its opponent drawn from ``pi``, is won with
    probability ``P(a > pi)`` independently), per prompt one multinomial draw of a loss-based rule's pairs over
    the ``n^2`` ordered cells. The judged data have the same distribution, at a cost that does not grow with
    the number judged (runs of ``1e7`` comparisons); the random stream differs from the draw one by one.

    Raises:
        TypeError / ValueError: ``samples`` is not an integer >= 1, ``order`` not one of :data:`ORDERS`, or
            ``counts`` not a bool.
    """
    return Feedback("sampled", samples=samples, order=order, counts=counts)


def noisy(sigma: float) -> Feedback:
    """The exact gradient plus independent ``N(0, sigma^2)`` noise on every entry.

    Raises:
        TypeError / ValueError: ``sigma`` is not a finite number >= 0.
    """
    return Feedback("noisy", sigma=sigma)


def check_feedback(feedback) -> Feedback:
    """``feedback`` itself, or :func:`exact` for ``None``; ``TypeError`` for anything else."""
    if feedback is None:
        return exact()
    if not isinstance(feedback, Feedback):
        raise TypeError(
            f"feedback must be games.feedback.exact(), sampled(k) or noisy(sigma), got {feedback!r}"
        )
    return feedback


def _sampled_player(
    key, M, opponent_logits, samples: int, preference: bool, judged=None, counts=False, order="fixed"
):
    """Mean payoff of each own action against ``samples`` opponents drawn from ``opponent_logits``.

    ``M`` is the player's own payoff matrix ``[.., own, opp]`` (``A`` or ``-A^T``); on a preference game the
    duel is won with probability ``M + 1/2`` when the own response is shown first and ``1/2 - M^T`` when it is
    shown second (``M^T[a, j] + 1/2`` is then the probability that the opponent ``j``, shown first, wins), and
    scored ``1 - 1/2`` or ``0 - 1/2``; ``order`` picks the presentation (module docstring). ``judged`` (a traced
    whole number in ``[1, samples]``, or None for all): the mean of the first ``judged`` duels only.
    ``counts`` (preference games): draw each action's number of wins instead of its duels, one binomial draw
    of ``judged`` duels won with probability ``P(a > pi)`` (each duel, its opponent drawn from ``pi``, is won
    with that probability, independently): the same distribution at a cost that does not grow with it. With
    ``order="both"`` a duel's outcome is 1, 1/2 or 0 (won in both orders, in one, in neither): its count of
    double wins is binomial and, given it, its count of double losses binomial too (the same distribution as
    the duels one by one, which share each opponent between the two orders).
    """
    first = M + 0.5  # P(own wins | own shown first)
    second = 0.5 - jnp.swapaxes(M, -1, -2) if preference and order != "fixed" else None
    if counts:
        n = samples if judged is None else judged
        pi = jnp.exp(opponent_logits)
        rate = lambda W: jnp.clip(jnp.einsum("...ij,...j->...i", W, pi), 0.0, 1.0)  # clip: round-off only
        nn = jnp.asarray(n, M.dtype)
        if order == "both":
            k1, k0 = jax.random.split(key)
            p1 = rate(first * second)  # won in both orders
            p0 = rate((1.0 - first) * (1.0 - second))  # lost in both orders
            c1 = jax.random.binomial(k1, nn, p1)
            rest = jnp.where(p1 < 1.0, p0 / jnp.where(p1 < 1.0, 1.0 - p1, 1.0), 0.0)
            c0 = jax.random.binomial(k0, nn - c1, jnp.clip(rest, 0.0, 1.0))
            return (c1 + 0.5 * (nn - c1 - c0)) / nn - 0.5
        win = rate(first if order == "fixed" else 0.5 * (first + second))
        wins = jax.random.binomial(key, nn, win)
        return wins / n - 0.5
    k_opp, k_duel = jax.random.split(key)
    own = M.shape[-2]
    shape = (*M.shape[:-2], own, samples)
    lead = opponent_logits[..., None, None, :]  # [.., 1, 1, opp]
    opponents = jax.random.categorical(k_opp, lead, axis=-1, shape=shape)  # [.., own, samples]
    payoff = jnp.take_along_axis(M, opponents, axis=-1)  # [.., own, samples]
    if preference:
        p_first = payoff + 0.5
        if order == "fixed":
            won = (jax.random.uniform(k_duel, shape, M.dtype) < p_first).astype(M.dtype)
        else:
            p_second = jnp.take_along_axis(second, opponents, axis=-1)
            if order == "random":  # a fair coin shows own first or second
                k_coin, k_v = jax.random.split(k_duel)
                shown_first = jax.random.bernoulli(k_coin, 0.5, shape)
                p = jnp.where(shown_first, p_first, p_second)
                won = (jax.random.uniform(k_v, shape, M.dtype) < p).astype(M.dtype)
            else:  # both orders, the two verdicts averaged
                u = jax.random.uniform(k_duel, (2, *shape), M.dtype)
                won = 0.5 * ((u[0] < p_first).astype(M.dtype) + (u[1] < p_second).astype(M.dtype))
        payoff = won - 0.5
    if judged is None:
        return jnp.mean(payoff, axis=-1)
    used = jnp.arange(samples) < judged
    return jnp.sum(jnp.where(used, payoff, 0), axis=-1) / judged


class Oracle:
    """The feedback a rule sees during one step: a game, a feedback model, that step's key and the number of
    draws judged.

    Built by the runner (or by a test) for each traced step; it counts its calls at trace time, so call it at
    the top level of ``step`` (not inside ``lax`` control flow). ``count`` adds evaluations a rule makes
    without the oracle (``comal_exact``'s inner solve).

    Attributes:
        game: the game being played (rules that need the whole game, e.g. iterative DPO, read it here and
            declare ``exact_only``).
        feedback: the :class:`Feedback` model.
        samples: under :func:`sampled`, how many of the ``feedback.samples`` draws are judged this step: the
            run's hyperparameter ``samples`` (a traced whole number in ``[1, feedback.samples]``, passed by the
            runner), or ``None`` for all of them. Each estimate judges and counts only the first ``samples``.
        calls, comparisons: what this step has consumed so far (ints, or traced ints after ``count``).
    """

    def __init__(self, game: Game, feedback: Feedback | None = None, key=None, samples=None):
        self.game = game
        self.feedback = exact() if feedback is None else feedback
        self.samples = samples
        if self.feedback.counts and not game.preference:
            raise ValueError(
                f"sampled(counts=True) draws the wins of Bernoulli duels: it needs a preference game, got {game!r}"
            )
        if self.feedback.order != "fixed" and not game.preference:
            raise ValueError(
                f"order={self.feedback.order!r} shows a duel to a judge: it needs a preference game, got {game!r}"
            )
        self._key = key
        self._draws = 0
        self.calls: Any = 0
        self.comparisons: Any = 0

    def _judged(self, drawn: int):
        """The judgments counted when ``drawn`` are drawn for ``feedback.samples`` draws: all of them, or the
        first ``samples`` per ``feedback.samples`` (a traced int)."""
        if self.samples is None:
            return drawn
        per = drawn // max(self.feedback.samples, 1)
        return per * jnp.asarray(self.samples, jax.dtypes.canonicalize_dtype(jnp.int64))

    def next_key(self) -> jax.Array:
        """A fresh key for this step's next random draw (raises if the oracle was built without a key)."""
        if self._key is None:
            raise ValueError("this oracle has no PRNG key; the runner always passes one")
        self._draws += 1
        return jax.random.fold_in(self._key, self._draws)

    def count(self, calls=0, comparisons=0) -> None:
        """Add evaluations made outside the oracle (may be traced values)."""
        self.calls = self.calls + calls
        self.comparisons = self.comparisons + comparisons

    def gradient(self, logits: Profile) -> Profile:
        """Payoff gradient of a log-probability profile (exact, or estimated by the feedback model)."""
        if not isinstance(logits, Profile):
            raise TypeError(f"oracle.gradient expects a games.Profile of log-probabilities, got {logits!r}")
        fb, game = self.feedback, self.game
        self.count(1, self._judged(fb.comparisons_per_call(game, logits)))
        if fb.kind == "exact":
            return payoff_gradient(game, jax.tree.map(jnp.exp, logits))
        if fb.kind == "noisy":
            exact_grad = payoff_gradient(game, jax.tree.map(jnp.exp, logits))
            key = self.next_key()
            leaves, tree = jax.tree.flatten(exact_grad)
            keys = jax.random.split(key, len(leaves))
            noisy_leaves = [
                g + fb.sigma * jax.random.normal(k, g.shape, g.dtype) for g, k in zip(leaves, keys)
            ]
            return jax.tree.unflatten(tree, noisy_leaves)
        key = self.next_key()
        A, k, pref, judged, cnt = game.A, fb.samples, game.preference, self.samples, fb.counts
        if logits.self_play:
            return Profile(_sampled_player(key, A, logits.x, k, pref, judged, cnt, fb.order))
        kx, ky = jax.random.split(key)
        return Profile(
            _sampled_player(kx, A, logits.y, k, pref, judged, cnt, fb.order),
            _sampled_player(ky, -jnp.swapaxes(A, -1, -2), logits.x, k, pref, judged, cnt, fb.order),
        )

    def win_rates(self, logits: Profile) -> Profile:
        """Win rates ``P(a > pi)`` of every action against the opponent (preference games only): the gradient
        plus 1/2; with exact feedback computed as ``P @ pi`` itself."""
        if not self.game.preference:
            raise ValueError("win rates are defined on preference games only; use oracle.gradient")
        if self.feedback.kind == "exact" and logits.self_play:
            self.count(1)
            return Profile(_matvec(self.game.P, jnp.exp(logits.x)))
        return jax.tree.map(lambda g: g + 0.5, self.gradient(logits))

    def pairs(self, rows, sampling, draw, soft: bool = False):
        """Judged pairs of responses for a loss-based rule (self-play on a preference game), per prompt of
        ``rows`` (``[R]`` prompt indices) with the responses drawn from ``sampling`` (``[R, n]``
        log-probabilities). Returns ``(w, l, weight)``, ``[R, m]`` each: winner and loser indices and each pair's
        weight, summing per prompt to 1 (the population) or to the number judged. One oracle call.

        * :func:`exact`: the **population**, every ordered pair ``(a, b)`` with weight ``2 pi(a) pi(b) P(a > b)``
          (deterministic; hard and soft labels have the same expectation; no comparisons);
        * :func:`sampled` ``(K)``: ``K`` pairs per prompt drawn by ``draw(key, sampling, K) -> [R, K]`` (twice),
          each judged by one Bernoulli ``P(a > b)`` draw, or (``soft``) kept in both orders weighted by
          ``P(a > b)`` and ``1 - P(a > b)``; the first :attr:`samples` are kept (weight 0 for the rest) and
          counted as comparisons. With ``counts=True`` the judged pairs' counts over the ``n^2`` ordered cells,
          one multinomial draw of :attr:`samples` per prompt with the population's weights (hard) or the drawn
          pair's probability ``pi(a) pi(b)`` (soft, each cell weighted by ``P``): every loss is a weighted mean
          over pairs, so the loss on the counts is the loss on the pairs.

        Raises:
            ValueError: noisy feedback, a non-preference game or ``order`` other than ``"fixed"`` (at trace time).
        """
        fb = self.feedback
        if fb.kind == "noisy" or fb.order != "fixed" or not self.game.preference:
            raise ValueError(
                f"judged pairs need exact or sampled(K) feedback (order 'fixed') on a preference game, got "
                f"{fb.name} on {self.game!r}"
            )
        C, n = self.game.A.shape[0] if self.game.contextual else 1, self.game.shape[0]
        P = jnp.reshape(self.game.P, (C, n, n))[rows]  # [R, n, n]
        R = rows.shape[0]
        if fb.kind == "exact" or fb.counts:  # the n^2 ordered cells (w, l)
            w = jnp.broadcast_to(jnp.repeat(jnp.arange(n), n)[None, :], (R, n * n))
            l = jnp.broadcast_to(jnp.tile(jnp.arange(n), n)[None, :], (R, n * n))
            pi = jnp.exp(sampling)
            drawn = pi[:, :, None] * pi[:, None, :]  # [R, n, n] the pair (a, b) drawn
        if fb.kind == "exact":  # the population: every ordered pair, weight 2 pi(a) pi(b) P(a > b)
            self.count(1, 0)
            return w, l, jnp.reshape(2 * drawn * P, (R, n * n))
        k = fb.samples
        used = jnp.asarray(
            k if self.samples is None else self.samples, jax.dtypes.canonicalize_dtype(jnp.int64)
        )
        self.count(1, used * R)
        key = self.next_key()
        if (
            fb.counts
        ):  # how many of the `used` judged pairs fall in each cell: one multinomial draw per prompt
            q = jnp.reshape(drawn if soft else 2 * drawn * P, (R, n * n))  # (a, b) drawn, or (w, l) judged
            c = jax.random.multinomial(key, used.astype(P.dtype), q / jnp.sum(q, -1, keepdims=True))
            if not soft:
                return w, l, c
            c = jnp.reshape(
                c, (R, n, n)
            )  # the pair (a, b) counts P(a > b) for (a, b), 1 - P(a > b) for (b, a)
            return w, l, jnp.reshape((c + jnp.swapaxes(c, 1, 2)) * P, (R, n * n))
        keep = (jnp.arange(k) < used).astype(P.dtype)[None, :]  # [1, K]
        k1, k2, k3 = jax.random.split(key, 3)
        a, b = draw(k1, sampling, k), draw(k2, sampling, k)  # [R, K] each
        p = jnp.take_along_axis(jnp.take_along_axis(P, a[:, :, None], axis=1), b[:, :, None], axis=2)[..., 0]
        if soft:
            return (
                jnp.concatenate([a, b], -1),
                jnp.concatenate([b, a], -1),
                jnp.concatenate([p * keep, (1 - p) * keep], -1),
            )
        won = jax.random.uniform(k3, (R, k), P.dtype) < p
        return jnp.where(won, a, b), jnp.where(won, b, a), jnp.broadcast_to(keep, (R, k))
