"""``run`` and ``sweep``: one rule on one game, or vectorised over games, seeds and hyperparameter grids.

``run`` checks its arguments (:func:`algorithms.check`), then starts and simulates in one compiled program
(:mod:`algorithms.simulate`) and returns a :class:`Trace` (:mod:`algorithms.trace`). ``sweep`` is the same
simulation under ``vmap`` over a flat batch of (game, seed, hyperparameters) points — built by
:func:`build_grid`, simulated by the vmapped core (in chunks when progress is shown), reshaped to one axis per
swept argument, sharded over devices and processes. Neither recompiles for new seeds or hyperparameter values.

What the learner observes is the ``feedback`` model (:mod:`games.feedback`, default exact); what is recorded
is the ``metrics`` list (:data:`METRICS`); any numeric hyperparameter may be a schedule
(:mod:`algorithms.schedules`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import games
from games.core import check_int
from games.feedback import Feedback

from . import memory
from . import schedules as S
from .base import UpdateRule, _threefry_keys, as_key, as_keys, check_hparams, resolve_self_play, under
from .preflight import (
    Plan,
    _check_feedback_game,
    _check_flag,
    _check_policies,
    _check_rule,
    _check_schedule,
    _nash_for_metrics,
    _preflight,
    _probe_schedules,
    _schedules,
    _warn_step_size,
    check,
)
from .progress import progress_bar
from .simulate import (
    TRACE_COUNT,
    _batch_last,
    _init_batch,
    _init_one,
    _resume_jit,
    _simulate_batch,
    _simulate_jit,
)
from .trace import METRICS, NonFiniteWarning, Trace, _resolve_metrics, _warn_nonfinite

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


# ---------------------------------------------------------------------------------------------------------------
# run
# ---------------------------------------------------------------------------------------------------------------


def _host_key(key):
    """:func:`algorithms.base.as_key`, left a NumPy array for an int seed (threefry): the compiled run takes it
    as it is, where ``as_key``'s ``jnp.asarray`` is one eager JAX operation per call (a third of ``run``'s
    remaining overhead)."""
    value = 0 if key is None else games.core.check_seed(key, "key")
    if isinstance(value, int) and jax.config.jax_default_prng_impl == "threefry2x32":
        return _threefry_keys(np.asarray([value], np.uint64))[0]
    return as_key(key)


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
    key = _host_key(key)
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
    if rule.verify is not None:  # what the jitted steps could not raise (a solve short of its tolerance)
        rule.verify(trace.state)
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


def build_grid(
    rule: UpdateRule,
    num_games: int | None,
    seeds,
    hparams: dict,
    dtype=None,
    feedback: Feedback | None = None,
) -> Grid:
    """The flat batch of a sweep: axes in the order ``game`` (when ``num_games`` is not None), ``seed`` (when
    ``seeds`` is an int ``S`` — seeds ``0..S-1`` — or a sequence), then one axis per hyperparameter given as a
    1-D sequence, in keyword order (the full outer product). Every grid point is checked (jointly too). The
    hyperparameters are the rule's and ``feedback``'s (``samples`` under ``sampled(K)``).
    """
    rule = under(rule, games.feedback.check_feedback(feedback))
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


def _gather_shares(tree, size: int):
    """Every process's ``[size, ...]`` share (padding cut), concatenated in process order on every process."""
    tree = jax.tree.map(lambda a: a[:size], tree)
    # bools travel as uint8 (not every collective backend moves bools)
    bools = jax.tree.map(lambda a: a.dtype == np.bool_, tree)
    tree = jax.tree.map(lambda a: a.astype(np.uint8) if a.dtype == np.bool_ else a, tree)
    from jax.experimental import multihost_utils

    tree = multihost_utils.process_allgather(tree, tiled=True)
    return jax.tree.map(lambda a, b: np.asarray(a).astype(np.bool_) if b else np.asarray(a), tree, bools)


#: The library's progress bar (:func:`algorithms.progress.progress_bar`; the conformance kit imports it here).
_progress_bar = progress_bar


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
        fb = _check_rule(r, feedback, f"sweep (rule {label!r})")
        check_hparams(under(r, fb), hparams, joint=False)
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
    :func:`run` calls (to round-off). Games of at most :data:`algorithms.layout.WRITTEN_OUT_MAX_N` actions take a fast
    path: inside the simulation the batch is the last axis of every array and the sums over actions are written
    out term by term (:func:`algorithms.layout.written_out`); the rules are unchanged and the traces agree with the
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
    _check_feedback_game(feedback, first_game, "sweep")
    hparams, scheds, along, counts = _schedules(rule, feedback, hparams, steps, first_game, "sweep")
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
    num_games = None if isinstance(game, games.Game) else len(game_list)
    grid = build_grid(rule, num_games, seeds, hparams, first_game.dtype, feedback)
    batch = math.prod(grid.shape)
    _warn_step_size(under(rule, feedback), stacked, grid.hparams, along, counts)

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
    bar = progress_bar(batch, f"{rule.name} sweep", show if batch > stride else False)
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
            bar.update(keep)
    finally:
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
    if rule.verify is not None:
        rule.verify(trace.state)
    return trace
