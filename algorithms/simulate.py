"""The simulation: the one place that loops over steps (a jitted ``lax.scan``), and the layout of a batch.

One run is an outer scan over records around an inner scan of ``record_every`` steps; its carry
(:class:`_Carry`) holds the rule's state, the key, the step count, the counters and the schedules. Each step
(:func:`_advance`) gets an :class:`games.feedback.Oracle` keyed by ``fold_in(key, step)``; the **counters**
accumulate what the rule consumed: ``oracle_calls`` (gradient evaluations) and ``comparisons`` (pairwise
judgments drawn). Each record (:func:`_record`) evaluates the metric list on the current policy.

Any numeric hyperparameter may be a **schedule** (:mod:`algorithms.schedules`): a function of the count of
updates already applied (or of outer rounds, for the hyperparameters a wrapper declares with
``counts="rounds"``). The schedules travel in the carry; before each step their values are written into the
state (``rule.with_hparams``), and each record holds the value in force (``Trace.schedules``). This is the one
place schedules are evaluated; rules only read their state.

A batch of runs (``sweep``) is the same simulation under ``vmap``. On games of at most 8 actions it runs with
the batch on the last axis and the sums over actions written out (the fast path for tiny games:
:func:`algorithms.layout.written_out`). Nothing recompiles for new seeds or hyperparameter values: those are
array leaves of the state; the rule, the feedback model, the metric list, ``steps`` and ``record_every`` are
the static arguments (:data:`TRACE_COUNT` counts the traces).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

import games
from games.feedback import Feedback, Oracle

from .base import SAMPLES, UpdateRule
from .layout import WRITTEN_OUT_MAX_N, written_out
from .trace import _per_context

__all__ = ["TRACE_COUNT"]


class _Carry(NamedTuple):
    state: Any
    key: jax.Array
    t: jax.Array  # steps taken
    oracle_calls: jax.Array
    comparisons: jax.Array
    schedules: dict  # name -> schedule pytree (empty: every hyperparameter is a number)
    applied: dict  # name -> the value the last update used (recorded at the end of the run)
    samples: Any  # draws judged per step under sampled(K) feedback (the oracle's), None otherwise


def _scheduled(rule: UpdateRule, carry: _Carry) -> dict:
    """The value of every schedule at the count it follows: steps taken, or the rule's outer rounds."""
    if not carry.schedules:
        return {}
    counts = {n: "steps" for n in carry.schedules} | {
        h.name: h.counts for h in rule.hparams
    }  # samples: steps
    rounds = rule.rounds(carry.state) if "rounds" in counts.values() else None
    return {n: s(carry.t if counts[n] == "steps" else rounds) for n, s in carry.schedules.items()}


def _finite(state) -> jax.Array:
    leaves = [
        jnp.all(jnp.isfinite(l)) for l in jax.tree.leaves(state) if jnp.issubdtype(l.dtype, jnp.inexact)
    ]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


def _record(
    rule: UpdateRule, metric_fns, game: games.Game, carry: _Carry, nash, record_policy: bool, total: int
):
    p = jax.tree.map(jnp.exp, rule.policy(carry.state))
    x, y = p.pair()
    aux = {}
    if nash is not None:
        aux["nash"] = nash
    if rule.tau is not None:
        aux["tau"] = rule.tau(carry.state)
        aux["ref"] = jax.tree.map(jnp.exp, rule.reference(carry.state)).pair()
    metrics = {name: fn(game, x, y, aux) for name, fn in metric_fns}
    if game.contextual:
        for name, fn in metric_fns:
            metrics[f"{name}_by_context"] = _per_context(game, fn, x, y, aux)
    out = {
        "metrics": metrics,
        "counters": {"oracle_calls": carry.oracle_calls, "comparisons": carry.comparisons},
        "finite": _finite(carry.state),
    }
    if record_policy:
        out["policies"] = p
    if carry.schedules:  # the value the next update uses; after the last update (t = total), the one it used
        nxt = _scheduled(rule, carry)
        out["schedules"] = {
            n: jnp.asarray(jnp.where(carry.t < total, v, carry.applied[n]), game.dtype)
            for n, v in nxt.items()
        }
    return out


#: How many times the simulation has been traced (compiled), per rule name: a recompile shows up here.
TRACE_COUNT: dict[str, int] = {}


def _advance(rule: UpdateRule, feedback: Feedback, game, carry: _Carry) -> _Carry:
    state, applied, samples = carry.state, carry.applied, carry.samples
    if carry.schedules:
        values = _scheduled(rule, carry)
        applied = {n: jnp.asarray(v, applied[n].dtype) for n, v in values.items()}
        if SAMPLES in values:  # the feedback's: to the oracle, not the state
            values = dict(values)
            samples = jnp.asarray(values.pop(SAMPLES), carry.samples.dtype)
        if values:
            state = rule.with_hparams(state, values)
    oracle = Oracle(game, feedback, jax.random.fold_in(carry.key, carry.t), samples=samples)
    state = rule.step(state, oracle)
    return _Carry(
        state,
        carry.key,
        carry.t + 1,
        carry.oracle_calls + oracle.calls,
        carry.comparisons + oracle.comparisons,
        carry.schedules,
        applied,
        carry.samples,
    )


def _simulate(
    rule,
    feedback,
    metric_fns,
    game,
    carry,
    nash,
    num_records,
    record_every,
    record_policy=False,
    batch_last=False,
):
    """The scan over records around the scan of ``record_every`` steps. ``batch_last``: every leaf of ``game``,
    ``carry`` and ``nash`` holds a batch of runs on its last axis, and each step and record is ``vmap``-ped over
    it (:func:`_simulate_batch`'s fast path); the trajectory then has the batch last too."""
    TRACE_COUNT[rule.name] = TRACE_COUNT.get(rule.name, 0) + 1  # Python side effect: runs at trace time only

    advance = functools.partial(_advance, rule, feedback)
    total = num_records * record_every  # from a fresh carry: the last update is number total - 1
    record = functools.partial(_record, rule, metric_fns, record_policy=record_policy, total=total)
    if batch_last:  # each run's step and record with its sums written out, then vmapped over the last axis
        advance = jax.vmap(written_out(advance), in_axes=-1, out_axes=-1)
        record = jax.vmap(written_out(record), in_axes=-1, out_axes=-1)

    def step(c, _):
        return advance(game, c), None

    def chunk(c, _):
        c = jax.lax.scan(step, c, None, length=record_every)[0]
        return c, record(game, c, nash)

    first = record(game, carry, nash)
    carry, rest = jax.lax.scan(chunk, carry, None, length=num_records)
    traj = jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), first, rest)
    return carry, traj


_STATIC = ("rule", "feedback", "metric_fns", "num_records", "record_every", "record_policy")
_resume_jit = jax.jit(_simulate, static_argnames=_STATIC)  # from a given carry (run's failure path)


@functools.partial(jax.jit, static_argnames=(*_STATIC, "self_play"))
def _simulate_jit(
    game, key, hparams, ref, start, scheds, nash, *, rule, feedback, self_play, metric_fns, **static
):
    """One run as one program: the start (``rule.init``, values checked before by :func:`check`), the
    simulation and the final policy's probabilities; one dispatch per :func:`run`."""
    carry = _init(rule, self_play, game, key, hparams, ref, start, scheds)
    final, traj = _simulate(rule, feedback, metric_fns, game, carry, nash, **static)
    return final, traj, jax.tree.map(jnp.exp, rule.policy(final.state))


@functools.partial(jax.jit, static_argnames=("rule", "self_play"))
def _init_one(rule, self_play, game, key, hparams, ref, start, scheds):
    """The start of :func:`_simulate_jit`, on its own (the failure path replays from it)."""
    return _init(rule, self_play, game, key, hparams, ref, start, scheds)


def _batch_last(game: games.Game) -> bool:
    """Whether :func:`sweep` takes the fast path for tiny games: the batch on the last axis of every array and
    the sums over actions written out (:func:`algorithms.layout.written_out`), for at most
    :data:`algorithms.layout.WRITTEN_OUT_MAX_N` actions."""
    return max(game.shape) <= WRITTEN_OUT_MAX_N


@functools.partial(jax.jit, static_argnames=(*_STATIC, "batch_last"))
def _simulate_batch(
    rule, feedback, metric_fns, games_b, carries, nash_b, num_records, record_every, record_policy, batch_last
):
    """``_simulate`` over a batch (leading axis of every leaf), in and out. ``batch_last``: moved to the last
    axis inside, so that each per-run array is a row of contiguous runs, with the sums written out."""
    if not batch_last:
        sim = lambda g, c, n: _simulate(
            rule, feedback, metric_fns, g, c, n, num_records, record_every, record_policy
        )
        return jax.vmap(sim)(games_b, carries, nash_b)
    last = functools.partial(jax.tree.map, lambda a: jnp.moveaxis(a, 0, -1))
    final, traj = _simulate(
        rule,
        feedback,
        metric_fns,
        last(games_b),
        last(carries),
        last(nash_b),
        num_records,
        record_every,
        record_policy,
        batch_last=True,
    )
    return jax.tree.map(lambda a: jnp.moveaxis(a, -1, 0), (final, traj))


def _counter_dtype():
    return jax.dtypes.canonicalize_dtype(jnp.int64)


def _start(state, key, schedules=None, dtype=None, samples=None) -> _Carry:
    zero = jnp.zeros((), _counter_dtype())
    schedules = schedules or {}
    applied = {n: jnp.zeros((), dtype) for n in schedules}
    samples = None if samples is None else jnp.asarray(samples, _counter_dtype())
    return _Carry(state, key, zero, zero, zero, schedules, applied, samples)


def _init(rule, self_play, game, key, hparams, ref, start, scheds) -> _Carry:
    """The rule's initial state and the carry around it: the feedback's ``samples`` (validated by
    :func:`algorithms.check`) goes into the carry, for the oracle; the rest to ``rule.init``."""
    hparams = dict(hparams)
    samples = hparams.pop(SAMPLES, None)
    state = rule.init(game, key, ref=ref, start=start, self_play=self_play, **hparams)
    return _start(state, key, scheds, game.dtype, samples)


@functools.partial(jax.jit, static_argnames=("rule", "self_play"))
def _init_batch(rule, self_play, games_b, keys, hp, ref, start, scheds):
    def init(g, k, hp):
        return _init(rule, self_play, g, k, hp, ref, start, scheds)

    return jax.vmap(init)(games_b, keys, hp)
