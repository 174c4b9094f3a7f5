"""KL-regularized mirror-descent rules: INPO, magnetic mirror descent (MMD), Nash-MD.

Notation: ``pi`` the current policy, ``ref`` the reference (magnet, default uniform), ``r = P pi``, ``eta`` the
step size, ``tau`` the KL weight. They converge in the last iterate, but to the equilibrium of the
**regularized** game ``J_tau`` (see :func:`games.regularized_equilibrium`), not to the Nash equilibrium:
a constant duality gap remains (Liu et al., arXiv 2410.23223). :func:`algorithms.comal` removes it.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax

from . import base
from .base import normalize, tree_map


class RegState(NamedTuple):
    logits: base.Profile  # log pi
    ref: base.Profile  # log ref
    eta: jax.Array
    tau: jax.Array


def _init(game, logits, ref, key, eta, tau):
    del game, key
    return RegState(logits, ref, eta, tau)


#: INPO's, Nash-MD's and EGPO's hyperparameters: the update weighs log pi by 1 - eta tau.
ETA_TAU = {"eta": (0.5, "(0, inf)"), "tau": (0.1, "(0, inf)")}
#: Their stable step sizes: ``eta <= 2 tau / (tau^2 + max|A|^2)`` (:data:`algorithms.base.KL_STEP`); 0.77 on a
#: preference game at ``tau = 0.1``, 0.0499 on ``[[1, -1], [-1, 2]]``.
STABLE = {"eta": base.KL_STEP}


@functools.cache
def inpo() -> base.UpdateRule:
    """INPO (Zhang et al., arXiv 2407.00617): ``pi' ∝ pi^(1 - eta tau) ref^(eta tau) exp(eta r)``.

    On a matrix game each player takes this step on its own payoff. Hyperparameters: ``eta`` (0.5),
    ``tau`` (0.1), with ``eta tau <= 1``; stable for ``eta <= 2 tau / (tau^2 + max|A|^2)`` (:data:`STABLE`).
    """

    def step(s, oracle):
        g = oracle.gradient(s.logits)
        new = tree_map(
            lambda l, r, g: normalize((1 - s.eta * s.tau) * l + s.eta * s.tau * r + s.eta * g),
            s.logits,
            s.ref,
            g,
        )
        return s._replace(logits=new)

    return base.make_rule(
        "inpo",
        _init,
        step,
        hparams=ETA_TAU,
        regularized=True,
        check=base.eta_tau_at_most_one("inpo"),
        stable=STABLE,
    )


@functools.cache
def mmd() -> base.UpdateRule:
    """Magnetic mirror descent (Sokota et al., arXiv 2206.05825):
    ``pi' ∝ [pi ref^(eta tau) exp(eta r)]^(1 / (1 + eta tau))``.

    Works on general matrix games (each player with its own gradient). ``mmd(eta, tau) = inpo(eta/(1+eta tau),
    tau)`` (tested). Hyperparameters: ``eta`` (0.5), ``tau`` (0.1); stable (at least) for
    ``eta <= 2 tau / (tau^2 + max|A|^2)`` (:data:`STABLE`).
    """

    def step(s, oracle):
        g = oracle.gradient(s.logits)
        new = tree_map(
            lambda l, r, g: normalize((l + s.eta * s.tau * r + s.eta * g) / (1 + s.eta * s.tau)),
            s.logits,
            s.ref,
            g,
        )
        return s._replace(logits=new)

    return base.make_rule("mmd", _init, step, hparams=ETA_TAU, regularized=True, stable=STABLE)


@functools.cache
def nash_md() -> base.UpdateRule:
    """Nash-MD (Munos et al., arXiv 2312.00886): geometric mixture ``mu ∝ pi^(1 - eta tau) ref^(eta tau)``, then
    ``pi' ∝ mu exp(eta P(. > mu))``.

    With a constant ``eta`` it converges near (not at) the regularized equilibrium; the point approaches it as
    ``eta -> 0``. The gradient is taken at the mixture ``mu`` (the opponent plays ``mu``). On a matrix game
    each player mixes and steps on its own payoff. Hyperparameters: ``eta`` (0.5), ``tau`` (0.1), with
    ``eta tau <= 1``; stable for ``eta <= 2 tau / (tau^2 + max|A|^2)`` (:data:`STABLE`).
    """

    def step(s, oracle):
        mu = tree_map(lambda l, r: normalize((1 - s.eta * s.tau) * l + s.eta * s.tau * r), s.logits, s.ref)
        g = oracle.gradient(mu)
        return s._replace(logits=tree_map(lambda m, g: normalize(m + s.eta * g), mu, g))

    return base.make_rule(
        "nash_md",
        _init,
        step,
        hparams=ETA_TAU,
        regularized=True,
        check=base.eta_tau_at_most_one("nash_md"),
        stable=STABLE,
    )


__all__ = ["inpo", "mmd", "nash_md", "RegState", "ETA_TAU", "STABLE"]
