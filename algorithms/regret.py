"""Regret-matching rules (RM, RM+, predictive RM+) and Blum–Mansour swap-regret MWU.

Each player ascends its own payoff (the row player ``A y``, the column player ``-A^T x``; in self-play one policy
``pi`` and ``A pi``). Notation: ``g_t`` the payoff gradient the oracle returns at the current profile,
``r_t = g_t - <pi_t, g_t> 1`` the instantaneous regret of each action, ``[v]^+ = max(v, 0)`` entry-wise, and
``match(v) = [v]^+ / sum([v]^+)`` — the uniform policy when every entry is ``<= 0`` (Hart & Mas-Colell 2000).

The regret rules store their cumulative regrets ``R`` (a point of the cone, not a policy): the policy is a
function of the state, ``match(R + m)`` (``m`` the prediction; zero except for predictive RM+), and it may put
probability **exactly 0** on an action (its log-probability is ``-inf``; the state itself stays finite).
``R_0`` is the start (a point of the simplex), so the first policy is the start; ``eta`` weighs each regret
against it (with ``R_0 = 0`` every ``eta`` gives the same iterates: RM is scale-invariant, and ``eta`` matters
only through ``R_0`` or a schedule).

Alternation (Cai et al., arXiv 2311.00676, Algs. 7-8; Tammelin et al. 2015): with two players, the row player
updates first and the column player responds to the **new** row policy (two oracle calls per step). One policy
in self-play has no one to alternate with: there the alternating rule is the simultaneous one (so the
conformance kit's "two players from a symmetric start equal self-play" does not hold for it, by design).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from games.core import action_sum

from . import base
from .base import normalize, tree_map


class RegretState(NamedTuple):
    regrets: base.Profile  # cumulative regrets R per player, [.., n] (RM+: in the cone R >= 0)
    prediction: base.Profile  # m, the last regret eta r_{t-1} (predictive RM+), zeros otherwise
    eta: jax.Array


class SwapState(NamedTuple):
    experts: base.Profile  # log Q per player, [.., n, n]: row i is expert i's log-policy
    eta: jax.Array


def match(v: jax.Array) -> jax.Array:
    """Log-probabilities of ``[v]^+ / sum([v]^+)`` over the last axis; uniform where every entry is ``<= 0``.
    Entries with ``v <= 0`` get ``-inf`` (probability exactly 0), unless all do."""
    pos = jnp.maximum(v, 0)
    total = action_sum(pos)[..., None]
    some = total > 0
    probs = jnp.where(some, pos / jnp.where(some, total, 1), 1 / v.shape[-1])
    return jnp.log(probs)


def _regret(logits, g):
    """``r = g - <pi, g> 1``: each action's payoff minus the policy's."""
    return g - action_sum(jnp.exp(logits) * g)[..., None]


def _rm_init(game, logits, ref, key, eta):
    del game, ref, key
    start = tree_map(jnp.exp, logits)  # R_0 = the start: the first policy is the start
    return RegretState(start, tree_map(jnp.zeros_like, start), eta)


def _rm_policy(s: RegretState) -> base.Profile:
    return tree_map(lambda R, m: match(R + m), s.regrets, s.prediction)


def _make_step(plus: bool, predictive: bool, alternating: bool):
    def accumulate(R, r):
        return jnp.maximum(R + r, 0) if plus else R + r

    def step(s, oracle):
        logits = _rm_policy(s)
        if alternating and not logits.self_play:  # the row player first, then the column player sees it
            rx = s.eta * _regret(logits.x, oracle.gradient(logits).x)
            Rx, mx = accumulate(s.regrets.x, rx), (rx if predictive else s.prediction.x)
            gy = oracle.gradient(base.Profile(match(Rx + mx), logits.y)).y
            ry = s.eta * _regret(logits.y, gy)
            Ry, my = accumulate(s.regrets.y, ry), (ry if predictive else s.prediction.y)
            return s._replace(regrets=base.Profile(Rx, Ry), prediction=base.Profile(mx, my))
        r = tree_map(lambda l, g: s.eta * _regret(l, g), logits, oracle.gradient(logits))
        return s._replace(
            regrets=tree_map(accumulate, s.regrets, r), prediction=r if predictive else s.prediction
        )

    return step


def _rm_rule(name: str, plus: bool, predictive: bool, alternating) -> base.UpdateRule:
    # checked before the cache: an unhashable value would fail inside it, and 1 would hit True's entry
    if not isinstance(alternating, bool):
        raise TypeError(f"{name}: alternating must be True or False, got {alternating!r}")
    return _rm_cached(name, plus, predictive, alternating)


@functools.cache
def _rm_cached(name: str, plus: bool, predictive: bool, alternating: bool) -> base.UpdateRule:
    return base.make_rule(
        f"alternating_{name}" if alternating else name,
        _rm_init,
        _make_step(plus, predictive, alternating),
        hparams={"eta": (1.0, "(0, inf)")},
        policy=_rm_policy,
    )


def regret_matching(alternating: bool = False) -> base.UpdateRule:
    """Regret matching (Hart & Mas-Colell, Econometrica 2000):

    ``pi_t = match(R_t)``, ``R_{t+1} = R_t + eta r_t``, ``r_t = g_t - <pi_t, g_t> 1``

    (``R_0`` = the start; see the module). No-regret, so the **average** policy converges to a Nash equilibrium
    of a zero-sum game; the last iterate need not. ``alternating=True``: the column player's ``g`` is taken at
    the row player's new policy (two oracle calls per step). Hyperparameters: ``eta`` (1.0).

    Example:
        >>> s = algorithms.regret_matching().init(games.rock_paper_scissors())
        >>> [round(float(p), 4) for p in jnp.exp(algorithms.regret_matching().policy(s).x)]
        [0.3333, 0.3333, 0.3333]
    """
    return _rm_rule("regret_matching", False, False, alternating)


def rm_plus(alternating: bool = False) -> base.UpdateRule:
    """Regret matching+ (Tammelin, arXiv 1407.5042; Tammelin et al., IJCAI 2015): the cumulative regret is
    thresholded at 0 after every update,

    ``pi_t = match(R_t)``, ``R_{t+1} = [R_t + eta r_t]^+``.

    Its last iterate does not converge on Cai et al.'s 3x3 game (arXiv 2311.00676, Sec. 3), simultaneous or
    alternating (``alternating=True``, their Alg. 7). Hyperparameters: ``eta`` (1.0)."""
    return _rm_rule("rm_plus", True, False, alternating)


def predictive_rm_plus(alternating: bool = False) -> base.UpdateRule:
    """Predictive regret matching+ (Farina, Kroer, Sandholm, AAAI 2021, arXiv 2007.14358), the prediction of the
    next regret being the last one:

    ``pi_t = match(R_t + m_t)``, ``R_{t+1} = [R_t + eta r_t]^+``, ``m_{t+1} = eta r_t`` (``m_0 = 0``).

    One oracle call per step (two when alternating, Cai et al.'s Alg. 8). Its last iterate does not converge
    on Cai et al.'s 3x3 game either. Hyperparameters: ``eta`` (1.0)."""
    return _rm_rule("predictive_rm_plus", True, True, alternating)


def stationary(log_q: jax.Array) -> jax.Array:
    """Log of the stationary distribution ``p = p Q`` of a row-stochastic ``Q`` with positive entries (given as
    ``log Q``, ``[.., n, n]``): the solution of the linear system ``(I - Q^T + 1 1^T) p = 1`` (summing its rows
    gives ``n 1^T p = n``, so ``1^T p = 1`` and then ``p = Q^T p``)."""
    q = jnp.exp(log_q)
    n = q.shape[-1]
    system = jnp.broadcast_to(jnp.eye(n, dtype=q.dtype), q.shape) - jnp.swapaxes(q, -1, -2) + 1
    p = jnp.linalg.solve(system, jnp.ones((*q.shape[:-1], 1), q.dtype))[..., 0]
    return normalize(jnp.log(jnp.maximum(p, jnp.finfo(q.dtype).tiny)))


@functools.cache
def swap_mwu() -> base.UpdateRule:
    """Blum–Mansour swap-regret minimization over MWU (Blum & Mansour, JMLR 2007, Sec. 4): ``n`` MWU experts,
    one per action; expert ``i`` holds a policy ``q_i`` (row ``i`` of the row-stochastic ``Q``), the player
    plays the stationary distribution of ``Q``, and expert ``i`` is charged the payoff scaled by ``p_i``:

    ``p_t = p_t Q_t``, ``q_{t+1, i} ∝ q_{t, i} exp(eta p_{t, i} g_t)``  (``g_t`` the payoff gradient at ``p_t``).

    No-swap-regret; in symmetric self-play on a symmetric zero-sum game it converges to a Nash equilibrium
    (Leme, Piliouras, Schneider, NeurIPS 2024, arXiv 2404.10018). All experts start at the start policy, so the
    first policy is the start. Hyperparameters: ``eta`` (0.5). One oracle call per step; the stationary
    distribution is one ``n x n`` linear solve (:func:`stationary`)."""

    def init_state(game, logits, ref, key, eta):
        del game, ref, key
        experts = tree_map(lambda l: jnp.broadcast_to(l[..., None, :], (*l.shape, l.shape[-1])), logits)
        return SwapState(experts, eta)

    def policy(s):
        return tree_map(stationary, s.experts)

    def step(s, oracle):
        logits = policy(s)
        g = oracle.gradient(logits)
        charge = lambda q, l, g: normalize(q + s.eta * jnp.exp(l)[..., :, None] * g[..., None, :])  # noqa: E731
        return s._replace(experts=tree_map(charge, s.experts, logits, g))

    return base.make_rule("swap_mwu", init_state, step, hparams={"eta": (0.5, "(0, inf)")}, policy=policy)
