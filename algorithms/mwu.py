"""The multiplicative-weights family: MWU, SPPO, iterative IPO, iterative DPO.

Notation: ``pi`` the current policy, ``r = P pi`` (``r_a = P(a > pi)``), ``A = P - 1/2`` the payoff. All of
these are no-regret in the average but **cycle or diverge in the last iterate** on non-transitive games
(Liu et al., arXiv 2410.23223, Sec. 3).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from . import base
from .base import gradient, normalize, tree_map


class StepState(NamedTuple):
    logits: Any  # log pi: [n] self-play or ([m], [n])
    eta: jax.Array


class TauState(NamedTuple):
    logits: Any
    tau: jax.Array


class DPOState(NamedTuple):
    logits: Any  # [.., n]
    reward: jax.Array  # [.., n] the last Bradley-Terry fit (warm start)
    tau: jax.Array
    ridge: jax.Array


@functools.cache
def mwu() -> base.UpdateRule:
    """Multiplicative weights / Hedge: ``pi' ∝ pi exp(eta r)``.

    On a general matrix game both players move simultaneously: ``x' ∝ x exp(eta A y)``,
    ``y' ∝ y exp(-eta A^T x)``. Hyperparameters: ``eta`` (0.5).
    """

    def init(game, logits, ref, key, eta):
        return StepState(logits, eta)

    def step(s, game):
        g = gradient(game, s.logits)
        return s._replace(logits=tree_map(lambda l, g: normalize(l + s.eta * g), s.logits, g))

    return base.make_rule("mwu", init, step, hparams={"eta": 0.5})


@functools.cache
def sppo() -> base.UpdateRule:
    """SPPO's exact (population) update (Wu et al., arXiv 2405.00675, eq. 4.1).

    SPPO minimises ``E_{a~pi_t}[(log(pi(a)/pi_t(a)) - (eta P(a > pi_t) - log Z))^2]``; its exact minimiser
    is ``pi' ∝ pi_t exp(eta P(a > pi_t))``, written here with the preference matrix and the constant
    ``log Z ~ eta/2`` of the paper before normalisation. It coincides with :func:`mwu` (tested).
    Hyperparameters: ``eta`` (0.5).
    """

    def init(game, logits, ref, key, eta):
        return StepState(logits, eta)

    def step(s, game):
        win = jnp.matmul(game.P, jnp.exp(s.logits)[..., None])[..., 0]  # P(a > pi_t)
        return s._replace(logits=normalize(s.logits + s.eta * win - s.eta / 2))

    return base.make_rule("sppo", init, step, hparams={"eta": 0.5}, self_play_only=True)


@functools.cache
def iterative_ipo() -> base.UpdateRule:
    """Iterative IPO (Azar et al., arXiv 2310.12036) with the reference reset to the last iterate.

    The population minimiser of the IPO loss ``E[(log(pi(a)pi_t(b)/(pi(b)pi_t(a))) - (P(a>b)-1/2)/tau)^2]``
    with ``ref = pi_t`` is ``pi' ∝ pi_t exp(r / tau)``: MWU with ``eta = 1/tau`` (tested).
    Hyperparameters: ``tau`` (2.0, i.e. ``eta = 0.5``).
    """

    def init(game, logits, ref, key, tau):
        return TauState(logits, tau)

    def step(s, game):
        return s._replace(logits=normalize(s.logits + gradient(game, s.logits) / s.tau))

    return base.make_rule("iterative_ipo", init, step, hparams={"tau": 2.0}, self_play_only=True)


BT_NEWTON_STEPS = 8


def _bt_fit(P, pi, r0, ridge):
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
    cyclic preferences, so the iterates do not converge on non-transitive games.
    Hyperparameters: ``tau`` (2.0), ``ridge`` (1e-3).
    """

    def init(game, logits, ref, key, tau, ridge):
        return DPOState(logits, jnp.zeros_like(logits), tau, ridge)

    def step(s, game):
        fit = lambda P, pi, r0: _bt_fit(P, pi, r0, s.ridge)
        if game.contextual:
            fit = jax.vmap(fit)
        r = fit(game.P, jnp.exp(s.logits), s.reward)
        return s._replace(logits=normalize(s.logits + r / s.tau), reward=r)

    return base.make_rule(
        "iterative_dpo", init, step, hparams={"tau": 2.0, "ridge": 1e-3}, self_play_only=True
    )
