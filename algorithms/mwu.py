"""The multiplicative-weights family: MWU, SPPO, iterative IPO, iterative DPO, mutation-driven MWU (M2WU).

Notation: ``pi`` the current policy, ``r = P pi`` (``r_a = P(a > pi)``), ``A = P - 1/2`` the payoff. All of
these are no-regret in the average but **cycle or diverge in the last iterate** on non-transitive games
(Liu et al., arXiv 2410.23223, Sec. 3).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from . import base
from .base import normalize, tree_map


class StepState(NamedTuple):
    logits: base.Profile  # log-probabilities: Profile(pi) in self-play, Profile(x, y) otherwise
    eta: jax.Array


class TauState(NamedTuple):
    logits: base.Profile
    tau: jax.Array


class MutationState(NamedTuple):
    logits: base.Profile
    ref: base.Profile  # log ref, the mutation's target (the slingshot re-centres it)
    eta: jax.Array
    mu: jax.Array


class DPOState(NamedTuple):
    logits: base.Profile  # Profile(log pi), [.., n]
    reward: jax.Array  # [.., n] the last Bradley-Terry fit (warm start)
    tau: jax.Array
    ridge: jax.Array


@functools.cache
def mwu() -> base.UpdateRule:
    """Multiplicative weights / Hedge: ``pi' ∝ pi exp(eta r)``.

    On a general matrix game both players move simultaneously: ``x' ∝ x exp(eta A y)``,
    ``y' ∝ y exp(-eta A^T x)`` (Freund & Schapire 1997). Hyperparameters: ``eta`` (0.5, ``(0, inf)``).

    Example:
        >>> trace = algorithms.run(algorithms.mwu(), games.comal_cycle(), steps=100, eta=0.5)
        >>> round(float(trace.metrics["gap"][0]), 4)   # the uniform start
        0.0667
    """

    def init_state(game, logits, ref, key, eta):
        del game, ref, key
        return StepState(logits, eta)

    def step(s, oracle):
        g = oracle.gradient(s.logits)
        return s._replace(logits=tree_map(lambda l, g: normalize(l + s.eta * g), s.logits, g))

    return base.make_rule("mwu", init_state, step, hparams={"eta": (0.5, "(0, inf)")})


@functools.cache
def sppo() -> base.UpdateRule:
    """SPPO's exact (population) update (Wu et al., arXiv 2405.00675, eq. 4.1).

    SPPO minimises ``E_{a~pi_t}[(log(pi(a)/pi_t(a)) - (eta P(a > pi_t) - log Z))^2]``; its exact minimiser
    is ``pi' ∝ pi_t exp(eta P(a > pi_t))``, written here with the preference matrix and the constant
    ``log Z ~ eta/2`` of the paper before normalisation. It coincides with :func:`mwu` (tested). Self-play on
    preference games only (the update is written with the win rates ``P pi``). Hyperparameters: ``eta`` (0.5).
    """

    def init_state(game, logits, ref, key, eta):
        del game, ref, key
        return StepState(logits, eta)

    def step(s, oracle):
        win = oracle.win_rates(s.logits)  # P(a > pi_t)
        return s._replace(logits=tree_map(lambda l, w: normalize(l + s.eta * w - s.eta / 2), s.logits, win))

    return base.make_rule(
        "sppo",
        init_state,
        step,
        hparams={"eta": (0.5, "(0, inf)")},
        accepts="preference",
        self_play_only=True,
    )


@functools.cache
def iterative_ipo() -> base.UpdateRule:
    """Iterative IPO (Azar et al., arXiv 2310.12036) with the reference reset to the last iterate.

    The population minimiser of the IPO loss ``E[(log(pi(a)pi_t(b)/(pi(b)pi_t(a))) - (P(a>b)-1/2)/tau)^2]``
    with ``ref = pi_t`` is ``pi' ∝ pi_t exp(r / tau)``: MWU with ``eta = 1/tau`` (tested). On a matrix game
    each player takes that step on its own payoff. Hyperparameters: ``tau`` (2.0, i.e. ``eta = 0.5``).
    """

    def init_state(game, logits, ref, key, tau):
        del game, ref, key
        return TauState(logits, tau)

    def step(s, oracle):
        g = oracle.gradient(s.logits)
        return s._replace(logits=tree_map(lambda l, g: normalize(l + g / s.tau), s.logits, g))

    return base.make_rule("iterative_ipo", init_state, step, hparams={"tau": (2.0, "(0, inf)")})


BT_NEWTON_STEPS = 8


def bt_fit(P, pi, r0, ridge):
    """Population Bradley-Terry fit: ``argmin_r -sum_ab pi_a pi_b P_ab log sigmoid(r_a - r_b) + ridge |r|^2/2``.

    Damped Newton from ``r0`` (each step capped at 1 in max-norm), :data:`BT_NEWTON_STEPS` steps.
    """

    def loss(r):
        w = pi[:, None] * pi[None, :] * P
        return -jnp.sum(w * jax.nn.log_sigmoid(r[:, None] - r[None, :])) + 0.5 * ridge * jnp.sum(r * r)

    def newton(r, _):
        g = jax.grad(loss)(r)
        H = jax.hessian(loss)(r)
        d = jnp.linalg.solve(H, g)
        d = d / jnp.maximum(1.0, jnp.max(jnp.abs(d)))
        return r - d, None

    return jax.lax.scan(newton, r0, None, length=BT_NEWTON_STEPS)[0]


@functools.cache
def iterative_dpo() -> base.UpdateRule:
    """Iterative DPO, as defined in this sandbox (the paper gives no closed form).

    Each step fits a Bradley-Terry reward ``r_BT`` to infinitely many pairs ``(a, b) ~ pi_t x pi_t`` labelled
    by the true preferences (population logistic loss, a small ``ridge`` pinning actions ``pi_t`` never
    plays; damped Newton, warm-started), then takes the DPO optimum with reference ``pi_t``:
    ``pi' ∝ pi_t exp(r_BT / tau)`` (Rafailov et al., arXiv 2305.18290). A BT reward cannot represent
    cyclic preferences, so the iterates do not converge on non-transitive games. The fit reads the whole
    preference matrix (exact feedback only; one oracle call per step). Hyperparameters: ``tau`` (2.0), ``ridge`` (1e-3).
    """

    def init_state(game, logits, ref, key, tau, ridge):
        del game, ref, key
        return DPOState(logits, jnp.zeros_like(logits.x), tau, ridge)

    def step(s, oracle):
        game = oracle.game
        fit = lambda P, pi, r0: bt_fit(P, pi, r0, s.ridge)
        if game.contextual:
            fit = jax.vmap(fit)
        r = fit(game.P, jnp.exp(s.logits.x), s.reward)
        oracle.count(1)  # one population fit of the whole game per step
        return s._replace(logits=base.Profile(normalize(s.logits.x + r / s.tau)), reward=r)

    return base.make_rule(
        "iterative_dpo",
        init_state,
        step,
        hparams={"tau": (2.0, "(0, inf)"), "ridge": (1e-3, "(0, inf)")},
        accepts="preference",
        self_play_only=True,
        exact_only=True,
    )


@functools.cache
def mutation_mwu() -> base.UpdateRule:
    """Mutation-driven MWU with a fixed reference (Abe et al., arXiv 2208.09855):
    ``pi' ∝ pi exp(eta (r + mu (ref - pi) / pi))`` (the division entry-wise; ``r = P pi``, or each player's own
    payoff gradient on a matrix game).

    The mutation term is the gradient of ``mu sum_a ref(a) log pi(a)``: the perturbed game's equilibrium is
    pulled toward ``ref`` by ``-mu KL(ref || pi)``, not by the ``tau KL(pi || ref)`` of ``J_tau``, so the rule
    declares its reference (COMAL's wrapper re-centres it: the slingshot, :func:`algorithms.m2wu`) but no
    ``tau`` (the runner records no ``regularized_gap`` for it). Written in log space:
    ``log pi' = normalize(log pi + eta (r + mu (exp(log ref - log pi) - 1)))``.
    Hyperparameters: ``eta`` (0.5), ``mu`` (0.1).
    """

    def init_state(game, logits, ref, key, eta, mu):
        del game, key
        return MutationState(logits, ref, eta, mu)

    def step(s, oracle):
        g = oracle.gradient(s.logits)
        mutate = lambda l, r, g: normalize(l + s.eta * (g + s.mu * (jnp.exp(r - l) - 1)))  # noqa: E731
        return s._replace(logits=tree_map(mutate, s.logits, s.ref, g))

    reg = base.Regularization(
        tau=None, reference=lambda s: s.ref, with_reference=lambda s, ref: s._replace(ref=ref)
    )
    return base.make_rule(
        "mutation_mwu",
        init_state,
        step,
        hparams={"eta": (0.5, "(0, inf)"), "mu": (0.1, "(0, inf)")},
        regularized=reg,
    )
