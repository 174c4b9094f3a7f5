"""``run`` and ``sweep``: the one place that loops over steps (a jitted ``lax.scan``).

``run`` simulates one rule on one game and records last-iterate metrics at step 0 and every ``record_every``
steps (an outer scan over records around an inner scan of ``record_every`` steps). ``sweep`` is the same
simulation under ``vmap`` over a flat batch of (game, seed, hyperparameters) points — built by
:func:`build_grid`, simulated by the vmapped core (in chunks when progress is shown), reshaped to one axis per
swept argument. On games of at most 8 actions the core runs with the batch on the last axis and the sums over
actions written out (the fast path for tiny games: :func:`games.core.written_out_sums`). Neither recompiles
for new seeds or hyperparameter values: those are array leaves of the state; the rule, the feedback model, the
metric list, ``steps`` and ``record_every`` are the static arguments.

What the learner observes is the ``feedback`` model (:mod:`games.feedback`, default exact). Each step gets an
:class:`games.feedback.Oracle` keyed by ``fold_in(key, step)``; the trace's **counters** accumulate what the
rule consumed: ``oracle_calls`` (gradient evaluations) and ``comparisons`` (pairwise judgments drawn).

Recording is data: ``metrics=`` is a sequence of registered names (:data:`METRICS`) or ``(name, fn)`` pairs
with ``fn(game, x, y) -> scalar`` (``x``, ``y`` the probabilities; in self-play ``y = x``). The default is
``gap``, ``win_rate`` (preference games), ``kl_to_nash`` (when a unique ``nash`` is given) and
``regularized_gap`` (regularized rules). On a contextual game every metric is also recorded per prompt as
``<name>_by_context`` (last axis ``C``) beside its rho-weighted aggregate. A run that went NaN/inf is reported
by a :class:`NonFiniteWarning` naming the first step where it did, and ``Trace.finite`` says where.

Any numeric hyperparameter may be a **schedule** (:mod:`algorithms.schedules`): a function of the count of
updates already applied (or of outer rounds, for the hyperparameters a wrapper declares with
``counts="rounds"``). The schedules travel in the scan's carry; before each step the runner writes their values
into the state (``rule.with_hparams``), and records the value in force at each record (``Trace.schedules``).
This is the one place schedules are evaluated; rules only read their state.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import games
from games import Profile
from games import metrics as M
from games.core import check_int
from games.feedback import Feedback, Oracle, check_feedback

from . import memory, shapes
from . import schedules as S
from .base import (
    StepSizeWarning,
    UpdateRule,
    _profile_of,
    as_key,
    as_keys,
    check_hparams,
    resolve_self_play,
    step_size_warning,
)

__all__ = [
    "Trace",
    "Plan",
    "check",
    "run",
    "sweep",
    "build_grid",
    "NonFiniteWarning",
    "TRACE_COUNT",
    "METRICS",
]


class NonFiniteWarning(RuntimeWarning):
    """A simulation produced NaN or inf."""


# ---------------------------------------------------------------------------------------------------------------
# metrics as data
# ---------------------------------------------------------------------------------------------------------------


def _gap(game, x, y, aux):
    return M.duality_gap(game, x, y)


def _win_rate(game, x, y, aux):
    return M.worst_case_win_rate(game, x)


def _kl_to_nash(game, x, y, aux):
    return M.kl_to_equilibrium(game, x, y, *aux["nash"])


def _regularized_gap(game, x, y, aux):
    return M.regularized_gap(game, (x, y), aux["tau"], aux["ref"])


#: Registered metric names: ``gap`` (duality gap), ``win_rate`` (worst-case win rate of ``x``, preference
#: games), ``payoff`` (``x^T A y``), ``kl_to_nash`` (``KL(pi* || pi)``, needs a unique ``nash``),
#: ``regularized_gap`` (the gap of the rule's current ``J_tau``, regularized rules), ``min_prob`` (the smallest
#: action probability, :func:`games.metrics.min_probability`).
METRICS: dict[str, Callable] = {
    "gap": _gap,
    "win_rate": _win_rate,
    "payoff": lambda game, x, y, aux: M.expected_payoff(game, x, y),
    "kl_to_nash": _kl_to_nash,
    "regularized_gap": _regularized_gap,
    "min_prob": lambda game, x, y, aux: M.min_probability(game, x, y),
}


@functools.cache
def _user_metric(fn):
    return lambda game, x, y, aux: jnp.asarray(fn(game, x, y), game.dtype)  # a Python float too


@shapes.cached(lambda name, fn, game, self_play: (name, fn, shapes.signature(game), bool(self_play)))
def _check_user_metric(name: str, fn, game: games.Game, self_play: bool) -> None:
    """Evaluate ``fn`` abstractly (``jax.eval_shape``, once per game shapes) on the run's shapes: it must return
    one number."""
    lead = game.A.shape[:-2]
    x = jax.ShapeDtypeStruct((*lead, game.shape[0]), game.dtype)
    y = x if self_play else jax.ShapeDtypeStruct((*lead, game.shape[1]), game.dtype)
    try:
        out = jax.eval_shape(fn, game, x, y, {})
    except Exception as err:
        raise ValueError(
            f"metric {name!r} fails on this run's policies: {type(err).__name__}: {err}"
        ) from None
    if out.shape != ():
        raise ValueError(
            f"metric {name!r} must return one number per record (a scalar; per-prompt values are recorded "
            f"for you as {name}_by_context), got shape {out.shape}"
        )


def _resolve_metrics(
    metrics, rule: UpdateRule, game: games.Game, nash, self_play: bool = False
) -> tuple[tuple[str, Callable], ...]:
    """The static metric list: ``(name, fn(game, x, y, aux))`` pairs, checked against the run (a user's
    function by abstract evaluation: it must return a scalar)."""
    if metrics is None:
        names: list[Any] = ["gap"]
        if game.preference:
            names.append("win_rate")
        if nash is not None:
            names.append("kl_to_nash")
        if rule.tau is not None:
            names.append("regularized_gap")
        metrics = names
    if isinstance(metrics, (str, bytes)) or not isinstance(metrics, Sequence):
        raise TypeError(f"metrics must be a sequence of names or (name, fn) pairs, got {metrics!r}")
    out, seen = [], set()
    for item in metrics:
        if isinstance(item, str):
            if item not in METRICS:
                raise ValueError(f"unknown metric {item!r}; registered metrics: {', '.join(METRICS)}")
            if item == "win_rate" and not game.preference:
                raise ValueError("metric 'win_rate' needs a preference game (it is a win probability)")
            if item == "kl_to_nash" and nash is None:
                raise ValueError("metric 'kl_to_nash' needs nash= (a unique equilibrium)")
            if item == "regularized_gap" and rule.tau is None:
                raise ValueError(f"metric 'regularized_gap' needs a regularized rule; {rule.name} is not")
            name, fn = item, METRICS[item]
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) and callable(item[1]):
            name, fn = item[0], _user_metric(item[1])
            _check_user_metric(name, fn, game, self_play)
        else:
            raise TypeError(f"each metric must be a registered name or a (name, fn) pair, got {item!r}")
        if name in seen or name.endswith("_by_context"):
            raise ValueError(f"metric name {name!r} is repeated or reserved")
        seen.add(name)
        out.append((name, fn))
    return tuple(out)


def _per_context(game: games.Game, fn, x, y, aux):
    """``fn`` on each prompt of a contextual game as its own game: ``[C]``."""

    def one(A, x, y, aux):
        return fn(dataclasses.replace(game, A=A, weights=None), x, y, aux)

    axes = {"nash": 0 if aux.get("nash") is not None else None, "ref": 0, "tau": None}
    aux_axes = {k: axes[k] for k in aux}
    return jax.vmap(one, in_axes=(0, 0, 0, aux_axes))(game.A, x, y, aux)


# ---------------------------------------------------------------------------------------------------------------
# the simulation
# ---------------------------------------------------------------------------------------------------------------


class Trace(NamedTuple):
    """What :func:`run` and :func:`sweep` return.

    Attributes:
        steps: ``[R + 1]`` step numbers of the records (``0, record_every, ..., steps``).
        metrics: name -> array ``[*axes, R + 1]`` (``<name>_by_context``: ``[*axes, R + 1, C]``).
        counters: ``oracle_calls`` and ``comparisons``, cumulative at each record, ``[*axes, R + 1]``.
        finite: whether every state entry was finite at each record, ``[*axes, R + 1]``.
        policy: the final probabilities, a :class:`games.Profile` (leaves ``[*axes, ...]``).
        state: the final rule state (leaves ``[*axes, ...]``).
        axes: names of the leading batch axes (``()`` for :func:`run`; for :func:`sweep` e.g.
            ``("game", "seed", "eta")``); ``coords`` their values.
        rule: the rule's name; feedback: the feedback model's name.
        hparams: every hyperparameter's value per run, name -> array of the batch shape (``()`` for ``run``).
        policies: the recorded probabilities (``record_policy=True``), a Profile of ``[*axes, R + 1, ..., n]``.
        schedules: the value in force at each record of every hyperparameter given as a schedule, name ->
            ``[*axes, R + 1]``: the value the next update uses (its schedule at the record's count); at the last
            record, where no update follows, the value the last update used (only values updates use are
            recorded: a schedule is never read at ``t = steps``).
    """

    steps: np.ndarray
    metrics: dict[str, jax.Array]
    counters: dict[str, jax.Array]
    finite: jax.Array
    policy: Profile
    state: Any
    axes: tuple[str, ...] = ()
    coords: dict[str, np.ndarray] | None = None
    rule: str = ""
    feedback: str = "exact"
    hparams: dict[str, np.ndarray] | None = None
    policies: Profile | None = None
    schedules: dict[str, jax.Array] | None = None

    def to_dataframe(self):
        """A tidy ``pandas.DataFrame``: one row per (axes..., step, metric[, context]).

        Columns: ``rule``, ``feedback``, each axis (``game`` index, ``seed``, ...), one numeric column per
        hyperparameter (for a schedule, the value in force at each record), ``step``, ``oracle_calls``,
        ``comparisons``, ``finite``, ``metric``, ``context`` (the prompt of a ``<name>_by_context`` metric —
        any metric with a trailing prompt axis —, ``<NA>`` for aggregates), ``value`` (float).

        Raises:
            ImportError: pandas is missing (a dependency of the package: ``pip install -e .`` installs it).
        """
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(
                "Trace.to_dataframe needs pandas, a dependency of comal-sandbox: pip install pandas"
            ) from None
        shape = tuple(np.shape(self.finite)[:-1])
        runs = math.prod(shape)
        R = len(self.steps)
        index = np.unravel_index(np.arange(runs), shape) if shape else ()
        base = {}
        for a, idx in zip(self.axes, index):
            coords = (self.coords or {}).get(a)
            base[a] = np.asarray(coords)[idx] if coords is not None and a != "game" else idx
        for name, values in (self.hparams or {}).items():
            base[name] = np.broadcast_to(np.asarray(values, np.float64), shape).reshape(runs)
        per_run = {k: np.repeat(v, R) for k, v in base.items()}
        for name, values in (self.schedules or {}).items():  # per record
            per_run[name] = np.asarray(values, np.float64).reshape(-1)
        step = np.tile(self.steps, runs)
        common = {
            **per_run,
            "step": step,
            "oracle_calls": np.asarray(self.counters["oracle_calls"]).reshape(-1),
            "comparisons": np.asarray(self.counters["comparisons"]).reshape(-1),
            "finite": np.asarray(self.finite).reshape(-1),
        }
        frames = []
        for name, values in self.metrics.items():
            v = np.asarray(values, np.float64)
            if v.ndim == np.ndim(self.finite) + 1:  # one value per prompt (``<name>_by_context``)
                C = v.shape[-1]
                cols = {k: np.repeat(c, C) for k, c in common.items()}
                frames.append(
                    pd.DataFrame(
                        {
                            **cols,
                            "metric": name,
                            "context": pd.array(np.tile(np.arange(C), runs * R), dtype="Int64"),
                            "value": v.reshape(-1),
                        }
                    )
                )
            else:
                frames.append(
                    pd.DataFrame(
                        {
                            **common,
                            "metric": name,
                            "context": pd.array([None] * v.size, "Int64"),
                            "value": v.reshape(-1),
                        }
                    )
                )
        if not frames:  # metrics=(): the same columns, no rows
            empty = {k: np.asarray(c)[:0] for k, c in common.items()}
            frames.append(
                pd.DataFrame(
                    {**empty, "metric": np.array([], object), "context": pd.array([], "Int64"), "value": []}
                )
            )
        df = pd.concat(frames, ignore_index=True)
        df.insert(0, "feedback", self.feedback)
        df.insert(0, "rule", self.rule)
        return df


class _Carry(NamedTuple):
    state: Any
    key: jax.Array
    t: jax.Array  # steps taken
    oracle_calls: jax.Array
    comparisons: jax.Array
    schedules: dict  # name -> schedule pytree (empty: every hyperparameter is a number)
    applied: dict  # name -> the value the last update used (recorded at the end of the run)


def _scheduled(rule: UpdateRule, carry: _Carry) -> dict:
    """The value of every schedule at the count it follows: steps taken, or the rule's outer rounds."""
    if not carry.schedules:
        return {}
    counts = {h.name: h.counts for h in rule.hparams}
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
    oracle = Oracle(game, feedback, jax.random.fold_in(carry.key, carry.t))
    state, applied = carry.state, carry.applied
    if carry.schedules:
        values = _scheduled(rule, carry)
        state = rule.with_hparams(state, values)
        applied = {n: jnp.asarray(v, applied[n].dtype) for n, v in values.items()}
    state = rule.step(state, oracle)
    return _Carry(
        state,
        carry.key,
        carry.t + 1,
        carry.oracle_calls + oracle.calls,
        carry.comparisons + oracle.comparisons,
        carry.schedules,
        applied,
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
    if batch_last:
        advance = jax.vmap(advance, in_axes=-1, out_axes=-1)
        record = jax.vmap(record, in_axes=-1, out_axes=-1)

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
    carry = _start(
        rule.init(game, key, ref=ref, start=start, self_play=self_play, **hparams), key, scheds, game.dtype
    )
    final, traj = _simulate(rule, feedback, metric_fns, game, carry, nash, **static)
    return final, traj, jax.tree.map(jnp.exp, rule.policy(final.state))


@functools.partial(jax.jit, static_argnames=("rule", "self_play"))
def _init_one(rule, self_play, game, key, hparams, ref, start, scheds):
    """The start of :func:`_simulate_jit`, on its own (the failure path replays from it)."""
    return _start(
        rule.init(game, key, ref=ref, start=start, self_play=self_play, **hparams), key, scheds, game.dtype
    )


def _batch_last(game: games.Game) -> bool:
    """Whether :func:`sweep` takes the fast path for tiny games: the batch on the last axis of every array and
    the sums over actions written out (:func:`games.core.written_out_sums`), for at most
    :data:`games.core.WRITTEN_OUT_MAX_N` actions."""
    return max(game.shape) <= games.core.WRITTEN_OUT_MAX_N


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
    with games.core.written_out_sums():
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


def _start(state, key, schedules=None, dtype=None) -> _Carry:
    zero = jnp.zeros((), _counter_dtype())
    schedules = schedules or {}
    applied = {n: jnp.zeros((), dtype) for n in schedules}
    return _Carry(state, key, zero, zero, zero, schedules, applied)


def _schedules(rule: UpdateRule, hparams: dict, steps: int, game: games.Game, who: str):
    """``(numbers, schedules, along, counts)`` (:func:`algorithms.schedules.resolve`), with a check that the
    rule can take the schedules (it declares ``with_hparams``, and its state stores those hyperparameters)."""
    values, scheds, along, counts = S.resolve(rule, hparams, steps, game.dtype)
    if scheds and rule.with_hparams is None:
        raise TypeError(f"{who}: {rule.name} declares no with_hparams, so it takes no schedules")
    if scheds and any(h.counts == "rounds" for h in rule.hparams if h.name in scheds) and rule.rounds is None:
        raise TypeError(f"{who}: {rule.name} declares hyperparameters counted in rounds but no rounds(state)")
    return values, scheds, along, counts


def _probe_schedules(rule: UpdateRule, game: games.Game, self_play: bool, scheds: dict, who: str) -> None:
    """Apply the schedules' first values to the state's shapes once (``jax.eval_shape``, cached per rule, game
    shapes and schedule structure): a state that does not store them fails here, named."""
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
    return feedback


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


def _warn_nonfinite(trace: Trace, where: str, exact_step=None) -> None:
    """Warn when any record is non-finite; ``exact_step(prev, first)`` pins a single run's first bad step."""
    finite = np.asarray(trace.finite)
    if finite.all():
        return
    first = int(np.argmin(finite.reshape(-1, finite.shape[-1]).all(axis=0)))
    prev = int(trace.steps[first - 1]) if first else 0
    if exact_step is not None:
        what = f"first at step {exact_step(prev, int(trace.steps[first]))}"
    else:
        bad_runs = ~finite.all(axis=-1)
        what = (
            f"{int(bad_runs.sum())} of {bad_runs.size} runs; first seen at recorded step "
            f"{int(trace.steps[first])} (after step {prev})"
        )
    warnings.warn(f"{where}non-finite values: {what}", NonFiniteWarning, stacklevel=3)


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
    num_records = _check_schedule(steps, record_every)
    record_policy = _check_flag(record_policy, "run: record_policy")
    sp = resolve_self_play(rule, game, self_play)
    S.check_not_grid_of_schedules("run", hparams)
    hparams, scheds, along, counts = _schedules(rule, _scalar_hparams(rule, hparams), steps, game, "run")
    hparams = {k: np.float64(v) for k, v in check_hparams(rule, hparams, dtype=game.dtype).items()}
    _warn_step_size(rule, game, hparams, along, counts, stacklevel=4)
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


# ---------------------------------------------------------------------------------------------------------------
# run
# ---------------------------------------------------------------------------------------------------------------


def run(
    rule: UpdateRule,
    game: games.Game,
    *,
    steps: int,
    record_every: int = 1,
    key=None,
    nash=None,
    ref=None,
    start=None,
    feedback: Feedback | None = None,
    metrics: Sequence | None = None,
    self_play: bool | None = None,
    record_policy: bool = False,
    **hparams,
) -> Trace:
    """Run ``rule`` on ``game`` for ``steps`` steps (one jitted ``lax.scan``) and record last-iterate metrics.

    Args:
        rule: an :class:`UpdateRule` (e.g. ``algorithms.get("comal")``).
        game: a :class:`games.Game`.
        steps: number of steps, a multiple of ``record_every``.
        record_every: record metrics every this many steps (and at step 0).
        key: ``None`` (seed 0), an int seed in ``[0, 2**63)`` or a ``jax.random`` key — used by the start's
            ``start_noise``, by stochastic feedback and by stochastic rules; the same key gives a bitwise-identical
            trace.
        nash: the game's equilibrium (:class:`games.Equilibrium`, a policy or ``(x, y)``) to record
            ``kl_to_nash`` (only against a unique equilibrium).
        ref: the reference policy (default uniform); ``(ref_x, ref_y)`` for two players.
        start: the start policy (default: the reference); the ``start_noise`` hyperparameter perturbs it.
        feedback: what the rule observes (:mod:`games.feedback`; default ``exact()``).
        metrics: names in :data:`METRICS` and/or ``(name, fn(game, x, y))`` pairs (default: see the module).
        self_play: ``None`` — one policy on preference games, two players on matrix games; ``True`` needs a
            symmetric game; ``False`` runs both players of a preference game.
        record_policy: also record the policies (``Trace.policies``).
        **hparams: the rule's numeric hyperparameters, one number or schedule each (``rule.hparams`` lists
            them; a schedule is a ``step -> value`` function, :mod:`algorithms.schedules`).
    Returns:
        :class:`Trace`.
    Raises:
        ValueError / TypeError: bad schedule, hyperparameters, metrics, feedback or self-play choice, before
            anything compiles.
    Warns:
        NonFiniteWarning: the state went NaN/inf, naming the first step where it did.
        StepSizeWarning: once, when a step size lies outside the rule's declared stable range for this game's
            payoff scale (:attr:`algorithms.base.Hparam.stable`), naming the rule, the value, ``max|A|`` and a
            safe value.

    Example:
        >>> trace = run(algorithms.get("comal"), games.comal_cycle(), steps=5000, record_every=100)
        >>> bool(trace.metrics["gap"][-1] < 1e-12)   # float64
        True
    """
    plan = _preflight(
        rule,
        game,
        steps=steps,
        record_every=record_every,
        feedback=feedback,
        metrics=metrics,
        nash=nash,
        ref=ref,
        start=start,
        self_play=self_play,
        record_policy=record_policy,
        **hparams,
    )
    feedback, num_records, sp = plan.feedback, plan.num_records, plan.self_play
    hparams, scheds, metric_fns, nash_pair = plan.hparams, plan.schedules, plan.metrics, plan.nash
    key = as_key(key)
    ref_arr, start_arr = _as_arrays(ref, game.dtype), _as_arrays(start, game.dtype)
    static = dict(rule=rule, feedback=feedback, self_play=sp, metric_fns=metric_fns, num_records=num_records)
    static.update(record_every=record_every, record_policy=plan.record_policy)
    final, traj, policy = _simulate_jit(game, key, hparams, ref_arr, start_arr, scheds, nash_pair, **static)
    trace = Trace(
        steps=np.arange(num_records + 1) * record_every,
        metrics=traj["metrics"],
        counters=traj["counters"],
        finite=traj["finite"],
        policy=policy,
        state=final.state,
        rule=rule.name,
        feedback=feedback.name,
        hparams={k: np.asarray(v, np.float64) for k, v in hparams.items() if k not in scheds},
        policies=traj.get("policies"),
        schedules=traj.get("schedules"),
    )

    def exact_step(prev: int, bad: int) -> int:
        # failure path only: replay deterministically to ``prev``, then record every step up to ``bad``
        c = _init_one(rule, sp, game, key, hparams, ref_arr, start_arr, scheds)
        if prev:
            c = _resume_jit(rule, feedback, (), game, c, None, 1, prev)[0]
        finite = np.asarray(_resume_jit(rule, feedback, (), game, c, None, bad - prev, 1)[1]["finite"])
        return prev + int(np.argmin(finite))

    _warn_nonfinite(trace, f"{rule.name}: ", exact_step)
    return trace


# ---------------------------------------------------------------------------------------------------------------
# sweep: grid -> vmapped core (chunked) -> named axes
# ---------------------------------------------------------------------------------------------------------------


class Grid(NamedTuple):
    """A flattened sweep: the batch's games, keys and hyperparameters, and how to name its axes."""

    axes: tuple[str, ...]
    shape: tuple[int, ...]
    coords: dict[str, np.ndarray]
    game_index: np.ndarray  # [B] which game each run plays
    keys: jax.Array  # [B, 2]
    hparams: dict[str, np.ndarray]  # name -> [B] (float64)


def _as_axis(name: str, value) -> np.ndarray | None:
    """1-D grid values of a swept argument (None for a scalar)."""
    arr = np.asarray(value)
    if arr.ndim == 0:
        return None
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"sweep: {name} must be a scalar or a non-empty 1-D sequence, got shape {arr.shape}")
    return arr


def build_grid(rule: UpdateRule, num_games: int | None, seeds, hparams: dict, dtype=None) -> Grid:
    """The flat batch of a sweep: axes in the order ``game`` (when ``num_games`` is not None), ``seed`` (when
    ``seeds`` is an int ``S`` — seeds ``0..S-1`` — or a sequence), then one axis per hyperparameter given as a
    1-D sequence, in keyword order (the full outer product). Every grid point is checked (jointly too).
    """
    axes: list[tuple[str, int]] = []
    coords: dict[str, np.ndarray] = {}
    if num_games is not None:
        axes.append(("game", num_games))
        coords["game"] = np.arange(num_games)
    if seeds is None:
        seed_keys = as_key(None)[None]
    else:
        seed_keys = as_keys(seeds)
        axes.append(("seed", seed_keys.shape[0]))
        coords["seed"] = (
            np.arange(int(seeds)) if isinstance(seeds, (int, np.integer)) else np.asarray(list(seeds))
        )
    check_hparams(rule, hparams, joint=False)  # per-name checks, before anything compiles
    grid = {}
    for name, value in hparams.items():
        values = _as_axis(name, value)
        grid[name] = np.asarray(value, np.float64) if values is None else values.astype(np.float64)
        if values is not None:
            axes.append((name, len(values)))
            coords[name] = values
    shape = tuple(n for _, n in axes)
    batch = math.prod(shape)
    flat = np.unravel_index(np.arange(batch), shape) if shape else ()
    idx = dict(zip([a for a, _ in axes], flat))
    zeros = np.zeros(batch, dtype=int)
    hp_b = {name: (v[idx[name]] if v.ndim else np.broadcast_to(v, (batch,))) for name, v in grid.items()}
    full = check_hparams(rule, hp_b, dtype=dtype)  # joint checks on every grid point, defaults filled
    hp_b = {k: np.broadcast_to(np.asarray(v, np.float64), (batch,)) for k, v in full.items()}
    return Grid(
        axes=tuple(a for a, _ in axes),
        shape=shape,
        coords=coords,
        game_index=idx.get("game", zeros),
        keys=seed_keys[idx.get("seed", zeros)],
        hparams=hp_b,
    )


#: Default number of runs :func:`sweep` simulates at once (:data:`algorithms.memory.CHUNK`; fewer when the memory
#: check finds that many would not fit).
CHUNK = memory.CHUNK


def _device_batch(tree, batch: int):
    """Shard the leading (batch) axis over this process's devices of the default backend (all devices in a
    single-process run); pad to a multiple of their count."""
    devices = jax.local_devices()
    if len(devices) == 1:
        return tree
    padded = -(-batch // len(devices)) * len(devices)
    if padded != batch:  # repeat the last point; the padding is cut off again after the run
        tree = jax.tree.map(lambda a: jnp.concatenate([a, jnp.repeat(a[-1:], padded - batch, axis=0)]), tree)
    mesh = jax.sharding.Mesh(np.array(devices), ("batch",))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch"))
    return jax.device_put(tree, sharding)


def _take(a, idx):
    """``a[idx]`` (a ``jax.tree.map`` leaf function)."""
    return a[idx]


def _as_arrays(value, dtype):
    """A policy, a pair of policies or None as arrays of ``dtype`` (a jit argument)."""
    if value is None:
        return None
    if isinstance(value, tuple):
        return tuple(None if v is None else jnp.asarray(v, dtype) for v in value)
    return jnp.asarray(value, dtype)


@functools.partial(jax.jit, static_argnames=("rule", "self_play"))
def _init_batch(rule, self_play, games_b, keys, hp, ref, start, scheds):
    def init(g, k, hp):
        return _start(rule.init(g, k, ref=ref, start=start, self_play=self_play, **hp), k, scheds, g.dtype)

    return jax.vmap(init)(games_b, keys, hp)


def _gather_shares(tree, size: int):
    """Every process's ``[size, ...]`` share (padding cut), concatenated in process order on every process."""
    tree = jax.tree.map(lambda a: a[:size], tree)
    # bools travel as uint8 (not every collective backend moves bools)
    bools = jax.tree.map(lambda a: a.dtype == np.bool_, tree)
    tree = jax.tree.map(lambda a: a.astype(np.uint8) if a.dtype == np.bool_ else a, tree)
    from jax.experimental import multihost_utils

    tree = multihost_utils.process_allgather(tree, tiled=True)
    return jax.tree.map(lambda a, b: np.asarray(a).astype(np.bool_) if b else np.asarray(a), tree, bools)


def _progress_bar(total: int, desc: str, progress, unit: str = "run"):
    """A tqdm bar on stderr, or None: ``progress=None`` shows it only when stderr is a terminal."""
    show = sys.stderr.isatty() if progress is None else bool(progress)
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False)


def _rule_table(rules, feedback, hparams: dict) -> list[tuple[str, UpdateRule]]:
    """``(label, rule)`` pairs of :func:`sweep`'s several rules, each checked (feedback, hyperparameter names
    and values) before any of them runs."""
    pairs = list(rules.items()) if isinstance(rules, Mapping) else [(getattr(r, "name", r), r) for r in rules]
    if not pairs:
        raise ValueError("sweep: the sequence of rules is empty")
    labels = [label for label, _ in pairs]
    if len(set(labels)) != len(labels):
        raise ValueError(f"sweep: repeated rule names {labels}; pass a dict label -> rule to tell them apart")
    for label, r in pairs:
        _check_rule(r, feedback, f"sweep (rule {label!r})")
        check_hparams(r, hparams, joint=False)
    return pairs


def sweep(
    rule: UpdateRule | Sequence[UpdateRule] | Mapping[str, UpdateRule],
    game: games.Game | Sequence[games.Game],
    *,
    steps: int,
    record_every: int = 1,
    seeds=None,
    nash=None,
    ref=None,
    start=None,
    feedback: Feedback | None = None,
    metrics: Sequence | None = None,
    self_play: bool | None = None,
    record_policy: bool = False,
    chunk: int | None = None,
    progress: bool | None = None,
    **hparams,
) -> Trace | dict[str, Trace]:
    """``run`` vectorised (``vmap``) over games, seeds and hyperparameter grids, sharded over all devices.

    Every argument given as a sequence becomes a leading axis of the result, in this order: ``game`` (when
    ``game`` is a sequence of same-shape games), ``seed`` (when ``seeds`` is an int S — seeds ``0..S-1`` — or a
    sequence of ints), then one axis per hyperparameter given as a 1-D sequence, in keyword order (the full
    outer product). Scalars add no axis. ``Trace.axes`` names the axes; metric arrays are ``[*axes, R + 1]``.

    Args:
        nash: one equilibrium for all games, or a ``list`` of them (one per game) when ``game`` is a sequence.
        ref, start: one reference and one start policy for all runs.
        chunk: simulate at most this many runs at a time (default :data:`CHUNK`): memory stays bounded and
            progress is reported per chunk. Results are the same to round-off for any chunk size (XLA
            vectorises differently by batch size) and bitwise the same with and without progress.
        progress: show a progress bar on stderr (``None``: only when stderr is a terminal).
        Others: as :func:`run`.

    The batch is built (:func:`build_grid`), split over ``jax.devices()`` of the default backend (``jax.sharding``;
    padded to a multiple of the device count), simulated, and reshaped; results equal a Python loop of
    :func:`run` calls (to round-off). Games of at most :data:`games.core.WRITTEN_OUT_MAX_N` actions take a fast
    path: inside the simulation the batch is the last axis of every array and the sums over actions are written
    out term by term (:func:`games.core.written_out_sums`); the rules are unchanged and the traces agree with the
    plain path to round-off (``tests/test_fastpath.py``: ``atol=1e-12`` after 200 steps, every rule).

    Several processes: call ``sweep`` with the same arguments on every process after
    ``jax.distributed.initialize(...)``. Each chunk is split into ``jax.process_count()`` contiguous shares of
    ``ceil(chunk / process_count)`` runs (the last padded); each process simulates its share on its own devices
    (``jax.local_devices()``), the shares are exchanged (``multihost_utils.process_allgather``) and every
    process returns the full :class:`Trace`, bitwise equal to a single-process sweep with ``chunk=`` the share
    and the same number of local devices.

    Several rules: ``rule`` may be a sequence of rules or a dict ``label -> rule``; the result is then a dict
    ``label -> Trace`` (labels: the rules' names for a sequence), one compiled sweep per rule with the same
    games, seeds and grid. Every rule must declare every hyperparameter given (call ``sweep`` once per rule
    for per-rule values); all rules are checked before anything runs.

    Example:
        >>> t = sweep(algorithms.get("inpo"), games.comal_cycle(), steps=1000, eta=[0.1, 0.5], tau=[0.01, 0.1])
        >>> t.metrics["gap"].shape, t.axes
        ((2, 2, 1001), ('eta', 'tau'))
        >>> ts = sweep([algorithms.get("mwu"), algorithms.get("omwu")], games.comal_cycle(), steps=100, seeds=2)
        >>> {name: (t.axes, round(float(t.metrics["gap"][0, -1]), 3)) for name, t in ts.items()}
        {'mwu': (('seed',), 0.119), 'omwu': (('seed',), 0.046)}
    """
    S.check_not_grid_of_schedules("sweep", hparams)
    if not isinstance(rule, UpdateRule) and isinstance(rule, (Mapping, list, tuple)):
        rules = _rule_table(rule, feedback, hparams)
        kw = dict(steps=steps, record_every=record_every, seeds=seeds, nash=nash, ref=ref, start=start)
        kw.update(feedback=feedback, metrics=metrics, self_play=self_play, record_policy=record_policy)
        return {label: sweep(r, game, chunk=chunk, progress=progress, **kw, **hparams) for label, r in rules}
    feedback = _check_rule(rule, feedback, "sweep")
    num_records = _check_schedule(steps, record_every)
    record_policy = _check_flag(record_policy, "sweep: record_policy")
    if "key" in hparams:
        raise ValueError(
            "sweep takes seeds= (an int S for seeds 0..S-1, or a sequence of int seeds), not key="
        )
    game_list = [game] if isinstance(game, games.Game) else list(game)
    if not game_list:
        raise ValueError("sweep: game must be a Game or a non-empty sequence of games")
    stacked = games.stack_games(game_list)
    first_game = game_list[0]
    sp = resolve_self_play(rule, first_game, self_play)
    hparams, scheds, along, counts = _schedules(rule, hparams, steps, first_game, "sweep")
    if chunk is not None:
        chunk = check_int(chunk, "chunk")
    chunk = memory.check_sweep(
        rule,
        first_game,
        steps=steps,
        record_every=record_every,
        seeds=seeds,
        feedback=feedback,
        metrics=metrics,
        self_play=sp,
        record_policy=record_policy,
        chunk=chunk,
        num_games=len(game_list),
        **hparams,
    )
    grid = build_grid(
        rule, None if isinstance(game, games.Game) else len(game_list), seeds, hparams, first_game.dtype
    )
    batch = math.prod(grid.shape)
    _warn_step_size(rule, stacked, grid.hparams, along, counts)

    if nash is None:
        nash_list = None
    elif not isinstance(nash, list):
        nash_list = [_nash_for_metrics(g, nash, metrics) for g in game_list[:1]] * len(game_list)
    else:
        if len(nash) != len(game_list):
            raise ValueError(f"sweep: {len(nash)} equilibria given for {len(game_list)} games")
        nash_list = [_nash_for_metrics(g, n, metrics) for g, n in zip(game_list, nash)]
    if nash_list is not None and any(n is None for n in nash_list):
        nash_list = None
    metric_fns = _resolve_metrics(metrics, rule, first_game, None if nash_list is None else nash_list[0], sp)

    dtype = first_game.dtype
    hp_b = {k: jnp.asarray(v, dtype) for k, v in grid.hparams.items()}
    # stacked on the host (a jnp.stack of thousands of arrays would compile a huge concatenate)
    nash_host = (
        None
        if nash_list is None
        else jax.tree.map(lambda *a: np.stack([np.asarray(x) for x in a]), *nash_list)
    )

    # ref/start are validated on the host once (init skips checks on traced values), then travel as arrays
    _check_policies(first_game, sp, ref, start)
    _probe_schedules(rule, first_game, sp, scheds, "sweep")
    ref_arr, start_arr = _as_arrays(ref, dtype), _as_arrays(start, dtype)
    # Several processes (jax.distributed): each global chunk of ``procs * size`` runs is split into contiguous
    # shares of ``size`` runs, one per process in process order; each process simulates its share on its own
    # devices and the shares are gathered on every process. Process p's share of chunk i is exactly chunk
    # ``i * procs + p`` of a single-process sweep with ``chunk=size``, so the results are bitwise the same.
    procs, rank = jax.process_count(), jax.process_index()
    size = -(-min(chunk or CHUNK, batch) // procs)
    stride = procs * size
    show = progress if rank == 0 else False
    bar = _progress_bar(batch, f"{rule.name} sweep", show) if batch > stride else None
    outs = []
    try:
        for lo in range(0, batch, stride):
            first = lo + rank * size
            sel = np.arange(first, first + size).clip(max=batch - 1)  # past the end: repeat the last point
            gsel = grid.game_index[sel]
            games_b = jax.tree.map(functools.partial(_take, idx=gsel), stacked)
            carries = _init_batch(
                rule,
                sp,
                games_b,
                grid.keys[sel],
                {k: v[sel] for k, v in hp_b.items()},
                ref_arr,
                start_arr,
                scheds,
            )
            nash_b = (
                None if nash_host is None else jax.tree.map(functools.partial(_take, idx=gsel), nash_host)
            )
            games_b, carries, nash_b = _device_batch((games_b, carries, nash_b), size)
            final, traj = _simulate_batch(
                rule,
                feedback,
                metric_fns,
                games_b,
                carries,
                nash_b,
                num_records,
                record_every,
                bool(record_policy),
                _batch_last(first_game),
            )
            keep = min(stride, batch - lo)
            out = jax.tree.map(np.asarray, (final.state, traj))
            if procs > 1:
                out = _gather_shares(out, size)
            outs.append(jax.tree.map(functools.partial(_take, idx=slice(keep)), out))
            if bar is not None:
                bar.update(keep)
    finally:
        if bar is not None:
            bar.close()
    final_state, traj = jax.tree.map(lambda *a: np.concatenate(a), *outs) if len(outs) > 1 else outs[0]
    unflat = lambda a: jnp.asarray(a.reshape((*grid.shape, *a.shape[1:])))  # a tuple: () too
    flat_state = jax.tree.map(jnp.asarray, final_state)
    final_state = jax.tree.map(unflat, final_state)
    trace = Trace(
        steps=np.arange(num_records + 1) * record_every,
        metrics=jax.tree.map(unflat, traj["metrics"]),
        counters=jax.tree.map(unflat, traj["counters"]),
        finite=unflat(traj["finite"]),
        policy=jax.tree.map(jnp.exp, jax.tree.map(unflat, jax.vmap(rule.policy)(flat_state))),
        state=final_state,
        axes=grid.axes,
        coords=grid.coords,
        rule=rule.name,
        feedback=feedback.name,
        hparams={k: v.reshape(grid.shape) for k, v in grid.hparams.items() if k not in scheds},
        policies=None if "policies" not in traj else jax.tree.map(unflat, traj["policies"]),
        schedules=None if "schedules" not in traj else jax.tree.map(unflat, traj["schedules"]),
    )
    _warn_nonfinite(trace, f"{rule.name} sweep: ")
    return trace
