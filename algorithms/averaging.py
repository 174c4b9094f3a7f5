"""``averaged(rule)``: the running average iterate of any rule, as a wrapper.

The runner's metrics are always of the rule's ``policy``; wrapping a rule makes that policy the average of
its iterates ``(1/(t+1)) sum_{s<=t} pi_s`` (probabilities, the start included), so "MWU's average converges
while its last iterate does not" is ``run(averaged(mwu()), ...)`` beside ``run(mwu(), ...)``.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from . import base


class AveragedState(NamedTuple):
    inner: Any
    mean: base.Profile  # running mean of the probabilities
    count: jax.Array  # iterates averaged so far


@functools.cache
def averaged(inner: base.UpdateRule) -> base.UpdateRule:
    """Wrap ``inner`` so that ``policy`` is the running average of its policies (hyperparameters of ``inner``).

    The average is not a regularized rule's iterate, so the wrapper declares no reference.
    """
    if not isinstance(inner, base.UpdateRule):
        hint = " (call the factory: algorithms.mwu())" if callable(inner) else ""
        raise TypeError(f"averaged: expected an UpdateRule{hint}, got {inner!r}")

    def init(game, key=None, *, ref=None, start=None, self_play=None, **hp):
        state = inner.init(game, key, ref=ref, start=start, self_play=self_play, **hp)
        return AveragedState(state, base.probs(inner.policy(state)), jnp.ones((), game.dtype))

    def step(s, oracle):
        state = inner.step(s.inner, oracle)
        count = s.count + 1
        mean = base.tree_map(lambda m, p: m + (p - m) / count, s.mean, base.probs(inner.policy(state)))
        return AveragedState(state, mean, count)

    return base.UpdateRule(
        name=f"averaged({inner.name})",
        init=init,
        step=step,
        policy=lambda s: base.tree_map(jnp.log, s.mean),
        hparams=inner.hparams,
        accepts=inner.accepts,
        self_play_only=inner.self_play_only,
        exact_only=inner.exact_only,
        check=inner.check,
        own_comparisons=inner.own_comparisons,
        working_bytes=inner.working_bytes,
    )
