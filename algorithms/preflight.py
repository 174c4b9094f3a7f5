"""The pre-flight of ``run`` and ``sweep``: every check before anything is computed, and :func:`check`.

:func:`check` is :func:`algorithms.run`'s validation prefix, public: the rule's declarations, the schedule of
records, hyperparameter values and schedules, ``nash``, ``ref``, ``start``, the metrics and the memory
estimate. What needs tracing is evaluated once per rule, game shapes and options (:mod:`algorithms.shapes`);
the rest are NumPy checks of the values, a few microseconds each.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import games
from games.core import check_int
from games.feedback import Feedback, check_feedback

from . import memory, shapes
from . import schedules as S
from .base import (
    SAMPLES,
    StepSizeWarning,
    UpdateRule,
    _profile_of,
    check_hparams,
    resolve_self_play,
    step_size_warning,
    under,
)
from .trace import _resolve_metrics

__all__ = ["Plan", "check"]


# ---------------------------------------------------------------------------------------------------------------
# validation shared by run and sweep
# ---------------------------------------------------------------------------------------------------------------


def _check_schedule(steps, record_every) -> int:
    steps, record_every = check_int(steps, "steps"), check_int(record_every, "record_every")
    if steps % record_every:
        raise ValueError(f"steps ({steps}) must be a multiple of record_every ({record_every})")
    return steps // record_every


def _check_flag(value, name: str) -> bool:
    """A bool (Python or NumPy), never a truthy string such as ``"False"``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _check_rule(rule, feedback, who: str) -> Feedback:
    if not isinstance(rule, UpdateRule):
        hint = " (call the factory: algorithms.mwu() or algorithms.get('mwu'))" if callable(rule) else ""
        raise TypeError(f"{who}: rule must be an UpdateRule{hint}, got {rule!r}")
    feedback = check_feedback(feedback)
    if rule.exact_only and feedback.stochastic:
        raise ValueError(
            f"{rule.name} reads the whole game and runs with exact feedback only, got {feedback.name}"
        )
    if rule.observes == "pairs" and (feedback.kind == "noisy" or feedback.order != "fixed"):
        raise ValueError(
            f"{rule.name} learns from judged pairs: it takes exact or sampled(K) feedback in a fixed order, "
            f"got {feedback.name}"
        )
    return feedback


def _check_feedback_game(feedback: Feedback, game: games.Game, who: str) -> None:
    """What the oracle would refuse at trace time, refused before: a judge's order or drawn counts on a game
    that is not a preference game."""
    if game.preference:
        return
    if feedback.counts or feedback.order != "fixed":
        raise ValueError(
            f"{who}: {feedback.name} draws the outcomes of Bernoulli duels (counts, or a judge's order): it "
            f"needs a preference game, got {game!r}"
        )


def _nash_pair(game: games.Game, nash, who: str = "nash"):
    """Normalise ``nash`` (Equilibrium, policy, or (x, y)) to a pair of probability arrays of the game's dtype.

    Raises:
        ValueError: wrong shape, or not a probability vector (per prompt).
    """
    if nash is None:
        return None
    if isinstance(nash, games.Equilibrium):
        nash = (nash.x, nash.y)
    x, y = nash if isinstance(nash, tuple) else (nash, nash)
    lead = game.A.shape[:-2]
    pair = []
    for p, n, which in zip((x, y), game.shape, ("x*", "y*")):
        arr = games.core._as_float_array(p, f"{who} {which}")
        if arr.shape != (*lead, n):
            raise ValueError(f"{who} {which} must have shape {(*lead, n)}, got {arr.shape}")
        if (arr < 0).any() or np.abs(arr.sum(-1) - 1).max() > 1e-9:
            raise ValueError(
                f"{who} {which} must be a probability vector (non-negative, summing to 1), got {arr.tolist()}"
            )
        pair.append(jnp.asarray(arr, game.dtype))
    return tuple(pair)


def _unique(nash) -> bool:
    return bool(getattr(nash, "unique", True))


def _nash_for_metrics(game, nash, metrics, stacklevel: int = 3):
    """The pair to record ``kl_to_nash`` against, or None when the equilibrium is not unique (warned)."""
    pair = _nash_pair(game, nash)
    if pair is not None and not _unique(nash):
        if metrics is not None and "kl_to_nash" in metrics:
            raise ValueError("kl_to_nash needs a unique equilibrium; games.solve says this one is not unique")
        warnings.warn(
            "the game's equilibrium is not unique: kl_to_nash is not recorded",
            UserWarning,
            stacklevel=stacklevel,
        )
        return None
    return pair


def _scalar_hparams(rule: UpdateRule, hparams: dict) -> dict:
    for name, value in hparams.items():
        if not S.is_schedule(value) and np.ndim(value) != 0:
            raise ValueError(
                f"{rule.name}: run takes one value per hyperparameter; {name} has shape {np.shape(value)}: "
                f"use algorithms.sweep for a grid"
            )
    return hparams


def _warn_step_size(
    rule: UpdateRule, game: games.Game, hparams: dict, along: dict | None = None, counts=None, stacklevel=3
) -> None:
    """One :class:`StepSizeWarning` when a step size lies outside the rule's declared stable range: at the
    numbers (every grid point), and for schedules at every step they are used (``along`` their values at
    ``counts``, :func:`algorithms.schedules.resolve`), jointly with every grid point of the other values."""
    message = None
    if along:
        grid = {k: np.asarray(v, np.float64) for k, v in hparams.items() if k not in along}
        rows = {tuple(r) for r in zip(*(np.ravel(v) for v in grid.values()))} if grid else {()}
        for row in sorted(rows):  # the distinct grid points (one for run), each along every step
            point = {**dict(zip(grid, row)), **along}
            message = step_size_warning(rule, game, point, counts=counts)
            if message is not None:
                break
    else:
        message = step_size_warning(rule, game, hparams)
    if message is not None:
        warnings.warn(message, StepSizeWarning, stacklevel=stacklevel)


def _schedules(rule: UpdateRule, feedback: Feedback, hparams: dict, steps: int, game: games.Game, who: str):
    """``(numbers, schedules, along, counts)`` (:func:`algorithms.schedules.resolve`) of the rule's and the
    feedback's hyperparameters (:func:`algorithms.base.under`), with a check that the rule can take its
    schedules (it declares ``with_hparams``, and its state stores those hyperparameters)."""
    if SAMPLES in hparams and feedback.kind != "sampled":
        raise ValueError(
            f"{who}: samples says how many of sampled(K)'s K draws are judged; it needs feedback="
            f"games.feedback.sampled(K), got {feedback.name}"
        )
    values, scheds, along, counts = S.resolve(under(rule, feedback), hparams, steps, game.dtype)
    mine = [n for n in scheds if n != SAMPLES]
    if mine and rule.with_hparams is None:
        raise TypeError(f"{who}: {rule.name} declares no with_hparams, so it takes no schedules")
    if any(h.counts == "rounds" for h in rule.hparams if h.name in scheds) and rule.rounds is None:
        raise TypeError(f"{who}: {rule.name} declares hyperparameters counted in rounds but no rounds(state)")
    return values, scheds, along, counts


def _probe_schedules(rule: UpdateRule, game: games.Game, self_play: bool, scheds: dict, who: str) -> None:
    """Apply the schedules' first values to the state's shapes once (``jax.eval_shape``, cached per rule, game
    shapes and schedule structure): a state that does not store them fails here, named. The feedback's
    ``samples`` goes to the oracle, not the state."""
    scheds = {n: s for n, s in scheds.items() if n != SAMPLES}
    if scheds:
        _probe(rule, game, self_play, scheds, who)


@shapes.cached(
    lambda rule, game, sp, scheds, who: (rule, shapes.signature(game), sp, shapes.signature(scheds))
)
def _probe(rule: UpdateRule, game: games.Game, self_play: bool, scheds: dict, who: str) -> None:
    state = shapes.state_shapes(rule, game, self_play)
    try:
        jax.eval_shape(lambda st, sc: rule.with_hparams(st, {n: s(0) for n, s in sc.items()}), state, scheds)
    except (AttributeError, TypeError, ValueError, KeyError) as err:
        raise TypeError(
            f"{who}: {rule.name} cannot take a schedule for {', '.join(scheds)}: with_hparams failed "
            f"({type(err).__name__}: {err}); declare with_hparams in make_rule"
        ) from None


# ---------------------------------------------------------------------------------------------------------------
# check: run's pre-flight, public
# ---------------------------------------------------------------------------------------------------------------


class Plan(NamedTuple):
    """What :func:`check` resolved: everything :func:`run` needs beyond its arguments.

    Attributes:
        feedback: the feedback model (default ``exact()``); self_play: resolved (:func:`resolve_self_play`).
        steps, record_every, num_records: the schedule of records (``num_records = steps // record_every``).
        record_policy: as given (a bool).
        hparams: every hyperparameter's number (defaults filled; a schedule's value at count 0), float64.
        schedules: name -> schedule pytree, for the hyperparameters given as schedules.
        along, counts: the schedules' values at the counts checked (:func:`algorithms.schedules.resolve`).
        metrics: the static metric list, ``(name, fn(game, x, y, aux))`` pairs.
        nash: the pair ``kl_to_nash`` is recorded against, or None.
        memory: the memory estimate (:class:`algorithms.memory.Estimate`), within the machine's memory.
    """

    feedback: Feedback
    self_play: bool
    steps: int
    record_every: int
    num_records: int
    record_policy: bool
    hparams: dict[str, np.float64]
    schedules: dict[str, Any]
    along: dict[str, np.ndarray]
    counts: np.ndarray
    metrics: tuple[tuple[str, Callable], ...]
    nash: tuple | None
    memory: memory.Estimate


def _check_policies(game: games.Game, self_play: bool, ref, start) -> None:
    """``ref`` and ``start`` checked as ``rule.init`` checks them (shape, positivity, sums), on the host."""
    for value, name in ((ref, "ref"), (start, "start")):
        if value is not None:
            _profile_of(game, value, self_play, name)


def check(
    rule: UpdateRule,
    game: games.Game,
    *,
    steps: int,
    record_every: int = 1,
    feedback: Feedback | None = None,
    metrics: Sequence | None = None,
    nash=None,
    ref=None,
    start=None,
    self_play: bool | None = None,
    record_policy: bool = False,
    **hparams,
) -> Plan:
    """The pre-flight of :func:`run`, on its own: every check ``run`` makes before it computes anything.

    The arguments are :func:`run`'s (but ``key``). The rule's declarations (games, feedback, self-play), the
    schedule of records, every hyperparameter value and schedule (ranges, joint checks, the cast to the game's
    dtype), the step-size range (a :class:`StepSizeWarning`), ``nash``, ``ref``, ``start``, the metrics and the
    memory estimate. What needs tracing (the state's shapes for the memory estimate, a user metric's output, a
    schedule written into the state) is evaluated once per rule, game shapes, dtype and options and then
    cached (:mod:`algorithms.shapes`): a second call with other values or seeds traces nothing, and costs
    NumPy checks only. Studies and command lines call it to refuse a bad configuration before any work.

    Returns:
        :class:`Plan`: the resolved configuration.
    Raises:
        ValueError / TypeError: as :func:`run`, naming the bad value.
    Warns:
        StepSizeWarning: a step size outside the rule's stable range for this game.

    Example:
        >>> plan = algorithms.check(algorithms.get("mwu"), games.comal_cycle(), steps=100, record_every=10, eta=0.1)
        >>> plan.num_records, float(plan.hparams["eta"]), [name for name, _ in plan.metrics]
        (10, 0.1, ['gap', 'win_rate'])
    """
    kw = dict(steps=steps, record_every=record_every, feedback=feedback, metrics=metrics, nash=nash, ref=ref)
    return _preflight(
        rule, game, **kw, start=start, self_play=self_play, record_policy=record_policy, **hparams
    )


def _preflight(
    rule,
    game,
    *,
    steps,
    record_every,
    feedback,
    metrics,
    nash,
    ref,
    start,
    self_play,
    record_policy,
    **hparams,
) -> Plan:
    """:func:`check`, called by :func:`check` or :func:`run` (its warnings name their caller's caller)."""
    feedback = _check_rule(rule, feedback, "run")
    _check_feedback_game(feedback, game, "run")
    num_records = _check_schedule(steps, record_every)
    record_policy = _check_flag(record_policy, "run: record_policy")
    sp = resolve_self_play(rule, game, self_play)
    S.check_not_grid_of_schedules("run", hparams)
    hparams, scheds, along, counts = _schedules(
        rule, feedback, _scalar_hparams(rule, hparams), steps, game, "run"
    )
    declared = under(rule, feedback)  # the rule's hyperparameters and the feedback's samples
    hparams = {k: np.float64(v) for k, v in check_hparams(declared, hparams, dtype=game.dtype).items()}
    _warn_step_size(declared, game, hparams, along, counts, stacklevel=4)
    nash_pair = _nash_for_metrics(game, nash, metrics, stacklevel=4)
    metric_fns = _resolve_metrics(metrics, rule, game, nash_pair, sp)
    est = memory.estimate(
        rule,
        game,
        feedback=feedback,
        self_play=sp,
        num_records=num_records,
        num_metrics=len(metric_fns),
        record_policy=record_policy,
    )
    memory.check("run", est)
    _check_policies(game, sp, ref, start)
    _probe_schedules(rule, game, sp, scheds, "run")
    return Plan(
        feedback,
        sp,
        int(steps),
        int(record_every),
        num_records,
        record_policy,
        hparams,
        scheds,
        along,
        counts,
        metric_fns,
        nash_pair,
        est,
    )
