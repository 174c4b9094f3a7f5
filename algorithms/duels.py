"""``duels(rule, samples)``: any closed-form rule learning from sampled duels whose number is a hyperparameter.

Under :func:`games.feedback.sampled` the number of duels per action is part of the static feedback model, so a
growing sample size ``K_t`` would compile once per value. This wrapper draws ``samples`` duels per action for
every gradient the rule asks for (the estimate of :func:`games.feedback.sampled`) and judges only the first
``samples(t)`` of them, ``samples`` being a hyperparameter of the rule: a constant, a sweep axis or a schedule
(:mod:`algorithms.schedules`). It is the closed-form rules' counterpart of :func:`algorithms.loss_based`'s
``pairs=K_max`` (draw ``K_max`` pairs, judge the first ``pairs(t)``).

    >>> import algorithms, games
    >>> from algorithms import schedules
    >>> rule = algorithms.duels(algorithms.omwu(), 64)
    >>> t = algorithms.run(rule, games.comal_cycle(), steps=3, record_every=1,
    ...                    samples=schedules.piecewise([4, 16, 64], [1, 2]))
    >>> [int(c) for c in t.counters["comparisons"]]   # 3 actions x (4, then 16, then 64) duels
    [0, 12, 60, 252]
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import games
from games.core import check_int
from games.feedback import Oracle

from . import base

__all__ = ["duels"]


class DuelState(NamedTuple):
    inner: Any
    hp: dict  # {"samples": duels judged per action in the current step}


def duels(inner: base.UpdateRule, samples: int, *, counts: bool = False) -> base.UpdateRule:
    """``inner`` learning from sampled duels: every gradient it asks for is estimated from ``samples(t)`` duels
    per action (opponents drawn from the current policy, one Bernoulli outcome each), out of ``samples``
    drawn — :func:`games.feedback.sampled`'s estimate with the number judged a hyperparameter.

    The wrapper judges its own duels (``own_comparisons``), so run it with the runner's default exact
    feedback; ``comparisons`` counts the duels judged. It keeps ``inner``'s declarations (its reference, so
    ``comal(duels(nash_mp(), 4096))`` is Nash-Prox from samples). Hyperparameters: those of ``inner``, plus
    ``samples`` (whole numbers in ``[1, samples]``, default ``samples``; a schedule counts steps).

    ``counts=True`` draws each action's number of wins, one binomial draw of ``samples(t)`` duels won with
    probability ``P(a > pi)``, instead of the duels one by one: every duel is won with that probability
    independently (its opponent drawn from ``pi``), so the estimate has the same distribution, and its cost
    does not grow with the number judged (runs of ``1e7`` comparisons). Preference games only; the random
    stream differs from the duel-by-duel draw.

    Raises:
        TypeError / ValueError: ``inner`` is not an UpdateRule, reads the whole game (``exact_only``) or
            judges its own pairs already, or ``samples`` is not a whole number >= 1; at trace time, a
            feedback model other than exact.
    """
    if not isinstance(inner, base.UpdateRule):
        hint = " (call the factory: algorithms.omwu())" if callable(inner) else ""
        raise TypeError(f"duels: expected an UpdateRule{hint}, got {inner!r}")
    if inner.exact_only or inner.own_comparisons:
        what = "judges its own pairs already" if inner.own_comparisons else "reads the whole game"
        raise ValueError(f"duels: {inner.name} {what}; duels needs a rule that asks the oracle for gradients")
    if "samples" in {h.name for h in inner.hparams}:
        raise ValueError(f"duels: {inner.name} already declares a hyperparameter 'samples'")
    if not isinstance(counts, bool):
        raise TypeError(f"duels: counts must be True or False, got {counts!r}")
    return _duels(inner, check_int(samples, "duels: samples"), counts)


@functools.cache
def _duels(inner: base.UpdateRule, samples: int, counts: bool) -> base.UpdateRule:
    own = base.Hparam("samples", float(samples), f"[1, {samples}]", integer=True)
    feedback = games.feedback.sampled(samples)
    name = f"duels({inner.name},{samples}{',counts' if counts else ''})"

    def init(state, game, hp):
        del game
        return DuelState(state, hp)

    def step(s, oracle):
        if oracle.feedback.kind != "exact":
            raise ValueError(
                f"{name} judges its own duels: run it with exact feedback, got {oracle.feedback.name}"
            )
        mine = Oracle(oracle.game, feedback, oracle.next_key(), judged=s.hp["samples"], counts=counts)
        state = inner.step(s.inner, mine)
        oracle.count(mine.calls, mine.comparisons)
        return s._replace(inner=state)

    def working_bytes(game) -> int:
        # counts: a few numbers per action; duels: every drawn duel (feedback.sampled's estimate)
        drawn = 0 if counts else feedback.working_bytes(game, self_play=False)
        return drawn + (inner.working_bytes or (lambda g: 0))(game)

    return base.wrap(
        inner,
        name=name,
        init=init,
        step=step,
        hparams=(own,),
        exact_only=False,
        own_comparisons=True,
        working_bytes=working_bytes,
    )
