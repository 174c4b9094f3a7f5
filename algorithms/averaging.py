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
    mean: tuple[jax.Array, jax.Array]  # (x_bar, y_bar) probabilities
    count: jax.Array  # iterates averaged so far


@functools.cache
def averaged(inner: base.UpdateRule) -> base.UpdateRule:
    """Wrap ``inner`` so that ``policy`` is the running average of its policies (hyperparameters of ``inner``)."""
    if not isinstance(inner, base.UpdateRule):
        raise TypeError(f"averaged: expected an UpdateRule, got {inner!r}")

    def init(game, key=None, *, ref=None, **hp):
        state = inner.init(game, key, ref=ref, **hp)
        return AveragedState(state, inner.policy(state), jnp.ones((), game.dtype))

    def step(s, game):
        state = inner.step(s.inner, game)
        count = s.count + 1
        mean = base.tree_map(lambda m, p: m + (p - m) / count, s.mean, inner.policy(state))
        return AveragedState(state, mean, count)

    return base.UpdateRule(
        name=f"averaged({inner.name})",
        init=init,
        step=step,
        policy=lambda s: s.mean,
        hparams=inner.hparams,
        regularization=None,
        self_play_only=inner.self_play_only,
        check=inner.check,
    )
