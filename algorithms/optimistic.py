"""Rules that look ahead: optimistic MWU, extragradient (mirror-prox) and EGPO.

They converge in the last iterate to the Nash equilibrium of the unregularized game (OMWU, extragradient)
or of the KL-regularized one (EGPO), on general zero-sum matrix games as well (each player ascends its own
payoff). Notation: ``r(pi) = P pi`` (payoff gradient), ``eta`` step size, ``tau`` KL weight, ``ref`` reference.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax

from . import base
from .base import gradient, normalize, tree_map


class OptimisticState(NamedTuple):
    logits: Any
    prev: Any  # the previous payoff gradient r_{t-1}
    eta: jax.Array


class ExtraState(NamedTuple):
    logits: Any
    eta: jax.Array


class EGPOState(NamedTuple):
    logits: Any
    ref: Any
    eta: jax.Array
    tau: jax.Array


@functools.cache
def omwu() -> base.UpdateRule:
    """Optimistic MWU (Daskalakis & Panageas, arXiv 1807.04252): ``pi_{t+1} ∝ pi_t exp(eta (2 r_t - r_{t-1}))``,
    with ``r_{-1} = r_0`` (the first step is plain MWU). Hyperparameters: ``eta`` (0.5)."""

    def init(game, logits, ref, key, eta):
        return OptimisticState(logits, gradient(game, logits), eta)

    def step(s, game):
        g = gradient(game, s.logits)
        new = tree_map(lambda l, g, p: normalize(l + s.eta * (2 * g - p)), s.logits, g, s.prev)
        return s._replace(logits=new, prev=g)

    return base.make_rule("omwu", init, step, hparams={"eta": 0.5})


@functools.cache
def extragradient() -> base.UpdateRule:
    """Extragradient / entropic mirror-prox (Korpelevich 1976; Nemirovski 2004): a half step
    ``h ∝ pi exp(eta r(pi))``, then ``pi' ∝ pi exp(eta r(h))``. Hyperparameters: ``eta`` (0.5)."""

    def init(game, logits, ref, key, eta):
        return ExtraState(logits, eta)

    def step(s, game):
        half = tree_map(lambda l, g: normalize(l + s.eta * g), s.logits, gradient(game, s.logits))
        new = tree_map(lambda l, g: normalize(l + s.eta * g), s.logits, gradient(game, half))
        return s._replace(logits=new)

    return base.make_rule("extragradient", init, step, hparams={"eta": 0.5})


@functools.cache
def egpo() -> base.UpdateRule:
    """EGPO (extragradient preference optimisation, arXiv 2503.08942): extragradient on the KL-regularized
    game, whose mirror-space gradient is ``g(pi) = r(pi) - tau (log pi - log ref)``:

    ``h ∝ pi^(1 - eta tau) ref^(eta tau) exp(eta r(pi))`` (an INPO step), then
    ``pi' ∝ pi (ref / h)^(eta tau) exp(eta r(h))``.

    Converges to the regularized equilibrium. Hyperparameters: ``eta`` (0.5), ``tau`` (0.1), ``eta tau <= 1``.
    """

    def init(game, logits, ref, key, eta, tau):
        return EGPOState(logits, ref, eta, tau)

    def step(s, game):
        et = s.eta * s.tau
        half = tree_map(
            lambda l, r, g: normalize((1 - et) * l + et * r + s.eta * g),
            s.logits,
            s.ref,
            gradient(game, s.logits),
        )
        new = tree_map(
            lambda l, r, h, g: normalize(l - et * (h - r) + s.eta * g),
            s.logits,
            s.ref,
            half,
            gradient(game, half),
        )
        return s._replace(logits=new)

    return base.make_rule(
        "egpo",
        init,
        step,
        hparams={"eta": 0.5, "tau": 0.1},
        regularized=True,
        check=base.eta_tau_at_most_one("egpo"),
    )
