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


def averaged(inner: base.UpdateRule) -> base.UpdateRule:
    """Wrap ``inner`` so that ``policy`` is the running average of its policies.

    Every other declaration is ``inner``'s (:func:`algorithms.base.wrap`): its hyperparameters and schedules,
    and for a regularized rule its KL weight, reference and reset, so the runner records the average's
    ``regularized_gap`` to the inner rule's reference, and ``comal(averaged(inpo()))`` re-centres that
    reference on the average.
    """
    if not isinstance(inner, base.UpdateRule):
        hint = " (call the factory: algorithms.mwu())" if callable(inner) else ""
        raise TypeError(f"averaged: expected an UpdateRule{hint}, got {inner!r}")
    return _averaged(inner)  # checked before the cache: an unhashable value would fail inside it


@functools.cache
def _averaged(inner: base.UpdateRule) -> base.UpdateRule:

    def init(state, game, hp):
        del hp  # no hyperparameters of its own
        return AveragedState(state, base.probs(inner.policy(state)), jnp.ones((), game.dtype))

    def step(s, oracle):
        state = inner.step(s.inner, oracle)
        count = s.count + 1
        mean = base.tree_map(lambda m, p: m + (p - m) / count, s.mean, base.probs(inner.policy(state)))
        return AveragedState(state, mean, count)

    return base.wrap(
        inner,
        name=f"averaged({inner.name})",
        init=init,
        step=step,
        policy=lambda s: base.tree_map(jnp.log, s.mean),
    )
