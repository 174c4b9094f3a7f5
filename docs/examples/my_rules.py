"""A user's rule for the suite's docs page (docs/studies/suite.md): optimistic MWU with a decaying step,
``pi_{t+1} ∝ pi_t exp(eta_t (2 r_t - r_{t-1}))``, ``eta_t = eta / sqrt(1 + t / t0)`` (eta 0.5, t0 500).

    PYTHONPATH=docs/examples python -m experiments suite --quick --rules omwu,my_rules:omd_decay
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from algorithms import base
from algorithms.base import normalize, tree_map


class State(NamedTuple):
    logits: base.Profile
    prev: base.Profile  # the previous payoff gradient r_{t-1}
    t: jax.Array  # steps taken
    eta: jax.Array
    t0: jax.Array


@functools.cache
def omd_decay() -> base.UpdateRule:
    def init_state(game, logits, ref, key, eta, t0):
        del game, ref, key
        return State(logits, tree_map(jnp.zeros_like, logits), jnp.zeros((), eta.dtype), eta, t0)

    def step(s, oracle):
        g = oracle.gradient(s.logits)
        prev = tree_map(lambda g, p: jnp.where(s.t == 0, g, p), g, s.prev)  # r_{-1} = r_0
        eta = s.eta / jnp.sqrt(1 + s.t / s.t0)
        new = tree_map(lambda l, g, p: normalize(l + eta * (2 * g - p)), s.logits, g, prev)
        return s._replace(logits=new, prev=g, t=s.t + 1)

    hparams = {"eta": (0.5, "(0, inf)"), "t0": (500.0, "(0, inf)")}
    return base.make_rule("omd_decay", init_state, step, hparams=hparams)
