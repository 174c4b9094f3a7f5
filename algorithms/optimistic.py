"""Rules that look ahead: optimistic MWU, extragradient (mirror-prox) and EGPO.

They converge in the last iterate to the Nash equilibrium of the unregularized game (OMWU, extragradient)
or of the KL-regularized one (EGPO), on general zero-sum matrix games as well (each player ascends its own
payoff). Notation: ``r(pi) = P pi`` (payoff gradient), ``eta`` step size, ``tau`` KL weight, ``ref`` reference.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from . import base
from .base import normalize, tree_map
from .mirror import ETA_TAU, _init


class OptimisticState(NamedTuple):
    logits: base.Profile
    prev: base.Profile  # the previous payoff gradient r_{t-1} (unused before the first step)
    first: jax.Array  # no step taken yet: r_{-1} = r_0
    eta: jax.Array


class ExtraState(NamedTuple):
    logits: base.Profile
    eta: jax.Array


@functools.cache
def omwu() -> base.UpdateRule:
    """Optimistic MWU (Daskalakis & Panageas, arXiv 1807.04252; Rakhlin & Sridharan 2013):
    ``pi_{t+1} ∝ pi_t exp(eta (2 r_t - r_{t-1}))``, with ``r_{-1} = r_0`` (the first step is plain MWU).
    One oracle call per step. Hyperparameters: ``eta`` (0.5), stable for ``eta <= 1 / (2 max|A|)``
    (:data:`algorithms.base.OPTIMISTIC_STEP`; 1 on a preference game)."""

    def init_state(game, logits, ref, key, eta):
        del game, ref, key
        return OptimisticState(logits, tree_map(jnp.zeros_like, logits), jnp.ones((), bool), eta)

    def step(s, oracle):
        g = oracle.gradient(s.logits)
        prev = tree_map(lambda g, p: jnp.where(s.first, g, p), g, s.prev)
        new = tree_map(lambda l, g, p: normalize(l + s.eta * (2 * g - p)), s.logits, g, prev)
        return s._replace(logits=new, prev=g, first=jnp.zeros((), bool))

    return base.make_rule(
        "omwu", init_state, step, hparams={"eta": (0.5, "(0, inf)")}, stable={"eta": base.OPTIMISTIC_STEP}
    )


@functools.cache
def extragradient() -> base.UpdateRule:
    """Extragradient / entropic mirror-prox (Korpelevich 1976; Nemirovski 2004): a half step
    ``h ∝ pi exp(eta r(pi))``, then ``pi' ∝ pi exp(eta r(h))``. Two oracle calls per step.
    Hyperparameters: ``eta`` (0.5), stable for ``eta <= 1 / max|A|`` (:data:`algorithms.base.EXTRAGRADIENT_STEP`;
    2 on a preference game)."""

    def init_state(game, logits, ref, key, eta):
        del game, ref, key
        return ExtraState(logits, eta)

    def step(s, oracle):
        half = tree_map(lambda l, g: normalize(l + s.eta * g), s.logits, oracle.gradient(s.logits))
        new = tree_map(lambda l, g: normalize(l + s.eta * g), s.logits, oracle.gradient(half))
        return s._replace(logits=new)

    return base.make_rule(
        "extragradient",
        init_state,
        step,
        hparams={"eta": (0.5, "(0, inf)")},
        stable={"eta": base.EXTRAGRADIENT_STEP},
    )


@functools.cache
def egpo() -> base.UpdateRule:
    """EGPO, extragradient preference optimisation (Zhou, Fazel, Du, arXiv 2503.08942, Alg. 1; its
    ``simulations/loss_funcs.py::extragradient``): two INPO-type half-steps, the anchor term at ``pi_t`` in
    **both**:

    ``h ∝ pi_t^(1 - eta tau) ref^(eta tau) exp(eta r(pi_t))``, then
    ``pi_{t+1} ∝ pi_t^(1 - eta tau) ref^(eta tau) exp(eta r(h))``.

    Converges to the regularized equilibrium (the fixed point of INPO). Two oracle calls per step. On a
    matrix game each player anchors at its own ``x_t``/``y_t`` and reference. Hyperparameters: ``eta`` (0.5),
    ``tau`` (0.1), ``eta tau <= 1``; stable for ``eta <= 1 / max|A|`` (:data:`algorithms.base.EXTRAGRADIENT_STEP`).
    """

    def step(s, oracle):
        et = s.eta * s.tau
        anchor = tree_map(lambda l, r: (1 - et) * l + et * r, s.logits, s.ref)
        half = tree_map(lambda a, g: normalize(a + s.eta * g), anchor, oracle.gradient(s.logits))
        new = tree_map(lambda a, g: normalize(a + s.eta * g), anchor, oracle.gradient(half))
        return s._replace(logits=new)

    return base.make_rule(
        "egpo",
        _init,
        step,
        hparams=ETA_TAU,
        regularized=True,
        check=base.eta_tau_at_most_one("egpo"),
        stable={"eta": base.EXTRAGRADIENT_STEP},
    )
