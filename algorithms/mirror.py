"""KL-regularized mirror-descent rules: INPO, magnetic mirror descent (MMD), Nash-MD.

Notation: ``pi`` the current policy, ``ref`` the reference (magnet, default uniform), ``r = P pi``, ``eta`` the
step size, ``tau`` the KL weight. They converge in the last iterate, but to the equilibrium of the
**regularized** game ``J_tau`` (see :func:`games.regularized_equilibrium`), not to the Nash equilibrium:
a constant duality gap remains (Liu et al., arXiv 2410.23223). :func:`algorithms.comal` removes it.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax

from . import base
from .base import gradient, normalize, tree_map


class RegState(NamedTuple):
    logits: Any  # log pi
    ref: Any  # log ref
    eta: jax.Array
    tau: jax.Array


def _init(game, logits, ref, key, eta, tau):
    return RegState(logits, ref, eta, tau)


@functools.cache
def inpo() -> base.UpdateRule:
    """INPO (Zhang et al., arXiv 2407.00617): ``pi' ∝ pi^(1 - eta tau) ref^(eta tau) exp(eta r)``.

    Hyperparameters: ``eta`` (0.5), ``tau`` (0.1), with ``eta tau <= 1``.
    """

    def step(s, game):
        g = gradient(game, s.logits)
        return s._replace(
            logits=normalize((1 - s.eta * s.tau) * s.logits + s.eta * s.tau * s.ref + s.eta * g)
        )

    return base.make_rule(
        "inpo",
        _init,
        step,
        hparams={"eta": 0.5, "tau": 0.1},
        regularized=True,
        self_play_only=True,
        check=base.eta_tau_at_most_one("inpo"),
    )


@functools.cache
def mmd() -> base.UpdateRule:
    """Magnetic mirror descent (Sokota et al., arXiv 2206.05825):
    ``pi' ∝ [pi ref^(eta tau) exp(eta r)]^(1 / (1 + eta tau))``.

    Works on general matrix games (each player with its own gradient). ``mmd(eta, tau) = inpo(eta/(1+eta tau),
    tau)`` (tested). Hyperparameters: ``eta`` (0.5), ``tau`` (0.1).
    """

    def step(s, game):
        g = gradient(game, s.logits)
        new = tree_map(
            lambda l, r, g: normalize((l + s.eta * s.tau * r + s.eta * g) / (1 + s.eta * s.tau)),
            s.logits,
            s.ref,
            g,
        )
        return s._replace(logits=new)

    return base.make_rule("mmd", _init, step, hparams={"eta": 0.5, "tau": 0.1}, regularized=True)


@functools.cache
def nash_md() -> base.UpdateRule:
    """Nash-MD (Munos et al., arXiv 2312.00886): geometric mixture ``mu ∝ pi^(1 - eta tau) ref^(eta tau)``, then
    ``pi' ∝ mu exp(eta P(. > mu))``.

    With a constant ``eta`` it converges near (not at) the regularized equilibrium; the point approaches it as
    ``eta -> 0``. Hyperparameters: ``eta`` (0.5), ``tau`` (0.1), with ``eta tau <= 1``.
    """

    def step(s, game):
        mu = normalize((1 - s.eta * s.tau) * s.logits + s.eta * s.tau * s.ref)
        return s._replace(logits=normalize(mu + s.eta * gradient(game, mu)))

    return base.make_rule(
        "nash_md",
        _init,
        step,
        hparams={"eta": 0.5, "tau": 0.1},
        regularized=True,
        self_play_only=True,
        check=base.eta_tau_at_most_one("nash_md"),
    )


__all__ = ["inpo", "mmd", "nash_md", "RegState"]
