"""``run`` and ``sweep``: the one place that loops over steps (a jitted ``lax.scan``).

``run`` simulates one rule on one game and records last-iterate metrics at step 0 and every ``record_every``
steps (an outer scan over records around an inner scan of ``record_every`` steps). ``sweep`` is the same
simulation under ``vmap`` over a flat batch of (game, seed, hyperparameters) points, sharded over every JAX
device, reshaped to one axis per swept argument. Neither recompiles for new seeds or hyperparameter values:
those are array leaves of the state; the rule, ``steps`` and ``record_every`` are the static arguments.

Recorded metrics (see :mod:`games.metrics`):

* ``gap`` — duality gap of the policy profile (0 iff Nash);
* ``win_rate`` — worst-case win rate of the row policy (preference games);
* ``kl_to_nash`` — ``KL(pi* || pi)`` when ``nash`` is given (an :class:`games.Equilibrium`, a policy, or a pair);
* ``regularized_gap`` — the gap of the rule's current regularized game ``J_tau(.; ref)`` (rules with ``tau``);
* ``finite`` — all state entries finite. A run that went non-finite is reported by a :class:`NonFiniteWarning`
  naming the first recorded step where it was seen.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import games
from games import metrics as M

from .base import UpdateRule, as_key, check_hparams

__all__ = ["Trace", "run", "sweep", "NonFiniteWarning", "TRACE_COUNT"]


class NonFiniteWarning(RuntimeWarning):
    """A simulation produced NaN or inf."""


class Trace(NamedTuple):
    """What :func:`run` and :func:`sweep` return.

    Attributes:
        steps: ``[R + 1]`` step numbers of the records (``0, record_every, ..., steps``).
        metrics: name -> array ``[*axes, R + 1]``.
        policy: the final ``(x, y)`` probabilities, ``[*axes, ...]``.
        state: the final rule state (leaves ``[*axes, ...]``).
        axes: names of the leading batch axes (``()`` for :func:`run`; for :func:`sweep` e.g.
            ``("game", "seed", "eta")``).
    """

    steps: np.ndarray
    metrics: dict[str, jax.Array]
    policy: tuple[jax.Array, jax.Array]
    state: Any
    axes: tuple[str, ...] = ()


def _finite(state) -> jax.Array:
    leaves = [
        jnp.all(jnp.isfinite(l)) for l in jax.tree.leaves(state) if jnp.issubdtype(l.dtype, jnp.inexact)
    ]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


def _record(rule: UpdateRule, game: games.Game, state, nash, record_policy: bool) -> dict[str, jax.Array]:
    x, y = rule.policy(state)
    out = {"gap": M.duality_gap(game, x, y)}
    if game.preference:
        out["win_rate"] = M.worst_case_win_rate(game, x)
    if nash is not None:
        out["kl_to_nash"] = M.kl_to_equilibrium(game, x, y, *nash)
    if rule.regularization is not None:
        tau, ref = rule.regularization(state)
        out["regularized_gap"] = M.regularized_gap(game, (x, y), tau, ref)
    out["finite"] = _finite(state)
    if record_policy:
        out["x"], out["y"] = x, y
    return out


#: How many times the simulation has been traced (compiled), per rule name: a recompile shows up here.
TRACE_COUNT: dict[str, int] = {}


def _simulate(rule: UpdateRule, game, state, nash, num_records: int, record_every: int, record_policy=False):
    TRACE_COUNT[rule.name] = TRACE_COUNT.get(rule.name, 0) + 1  # Python side effect: runs at trace time only

    def advance(s, _):
        return rule.step(s, game), None

    def chunk(s, _):
        s = jax.lax.scan(advance, s, None, length=record_every)[0]
        return s, _record(rule, game, s, nash, record_policy)

    first = _record(rule, game, state, nash, record_policy)
    state, rest = jax.lax.scan(chunk, state, None, length=num_records)
    traj = jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), first, rest)
    return state, traj


_STATIC = ("rule", "num_records", "record_every", "record_policy")
_simulate_jit = jax.jit(_simulate, static_argnames=_STATIC)


@functools.partial(jax.jit, static_argnames=_STATIC)
def _simulate_batch(rule, games_b, states, nash_b, num_records, record_every, record_policy=False):
    sim = lambda g, s, n: _simulate(rule, g, s, n, num_records, record_every, record_policy)
    return jax.vmap(sim)(games_b, states, nash_b)


def _check_schedule(steps, record_every) -> int:
    for name, v in (("steps", steps), ("record_every", record_every)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{name} must be an int, got {v!r}")
        if v < 1:
            raise ValueError(f"{name} must be >= 1, got {v}")
    if steps % record_every:
        raise ValueError(f"steps ({steps}) must be a multiple of record_every ({record_every})")
    return int(steps) // int(record_every)


def _nash_pair(game: games.Game, nash):
    """Normalise ``nash`` (Equilibrium, policy, or (x, y)) to a pair of arrays of the game's dtype."""
    if nash is None:
        return None
    if isinstance(nash, games.Equilibrium):
        nash = (nash.x, nash.y)
    x, y = nash if isinstance(nash, tuple) else (nash, nash)
    pair = tuple(jnp.asarray(v, game.dtype) for v in (x, y))
    lead = game.A.shape[:-2]
    for p, n, who in zip(pair, game.shape, ("x*", "y*")):
        if p.shape != (*lead, n):
            raise ValueError(f"nash {who} must have shape {(*lead, n)}, got {p.shape}")
    return pair


def _warn_nonfinite(trace: Trace, where: str, exact_step=None) -> None:
    """Warn when any record is non-finite; ``exact_step(prev, first)`` pins a single run's first bad step."""
    finite = np.asarray(trace.metrics["finite"])
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


def run(
    rule: UpdateRule,
    game: games.Game,
    *,
    steps: int,
    record_every: int = 1,
    key=None,
    nash=None,
    ref=None,
    record_policy: bool = False,
    **hparams,
) -> Trace:
    """Run ``rule`` on ``game`` for ``steps`` steps (one jitted ``lax.scan``) and record last-iterate metrics.

    Args:
        rule: an :class:`UpdateRule` (e.g. ``algorithms.get("comal")``).
        game: a :class:`games.Game`.
        steps: number of steps, a multiple of ``record_every``.
        record_every: record metrics every this many steps (and at step 0).
        key: ``None`` (seed 0), an int seed or a ``jax.random`` key — used by the start's ``noise`` and by
            stochastic rules; the same key gives a bitwise-identical trace.
        nash: the game's equilibrium (:class:`games.Equilibrium`, a policy or ``(x, y)``) to record
            ``kl_to_nash``.
        ref: the reference policy (default uniform), also the start.
        record_policy: also record the policies as metrics ``x`` and ``y`` (``[R + 1, m]``, ``[R + 1, n]``).
        **hparams: the rule's numeric hyperparameters (``rule.hparams`` lists them with defaults).
    Returns:
        :class:`Trace`.
    Raises:
        ValueError / TypeError: bad schedule or hyperparameters, before anything compiles.
    Warns:
        NonFiniteWarning: the state went NaN/inf, naming the first step where it did.

    Example:
        >>> trace = run(algorithms.get("comal"), games.comal_cycle(), steps=5000, record_every=100)
        >>> float(trace.metrics["gap"][-1])   # ~2e-16 in float64
    """
    if not isinstance(rule, UpdateRule):
        raise TypeError(f"rule must be an UpdateRule (e.g. algorithms.get('mwu')), got {rule!r}")
    num_records = _check_schedule(steps, record_every)
    state = rule.init(game, key, ref=ref, **hparams)
    final, traj = _simulate_jit(
        rule, game, state, _nash_pair(game, nash), num_records, int(record_every), bool(record_policy)
    )
    trace = Trace(
        steps=np.arange(num_records + 1) * int(record_every),
        metrics=traj,
        policy=rule.policy(final),
        state=final,
    )

    def exact_step(prev: int, bad: int) -> int:
        # failure path only: replay deterministically to ``prev``, then record every step up to ``bad``
        s = state if prev == 0 else _simulate_jit(rule, game, state, None, 1, prev)[0]
        finite = np.asarray(_simulate_jit(rule, game, s, None, bad - prev, 1)[1]["finite"])
        return prev + int(np.argmin(finite))

    _warn_nonfinite(trace, f"{rule.name}: ", exact_step)
    return trace


def _as_axis(name: str, value) -> np.ndarray | None:
    """1-D grid values of a swept argument (None for a scalar)."""
    arr = np.asarray(value)
    if arr.ndim == 0:
        return None
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"sweep: {name} must be a scalar or a non-empty 1-D sequence, got shape {arr.shape}")
    return arr


def _device_batch(tree, batch: int):
    """Shard the leading (batch) axis over all devices; pad to a multiple of the device count."""
    devices = jax.devices()
    if len(devices) == 1:
        return tree
    padded = -(-batch // len(devices)) * len(devices)
    if padded != batch:  # repeat the last point; the padding is cut off again after the run
        tree = jax.tree.map(lambda a: jnp.concatenate([a, jnp.repeat(a[-1:], padded - batch, axis=0)]), tree)
    mesh = jax.sharding.Mesh(np.array(devices), ("batch",))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch"))
    return jax.device_put(tree, sharding)


def sweep(
    rule: UpdateRule,
    game: games.Game | Sequence[games.Game],
    *,
    steps: int,
    record_every: int = 1,
    seeds=None,
    nash=None,
    ref=None,
    record_policy: bool = False,
    **hparams,
) -> Trace:
    """``run`` vectorised (``vmap``) over games, seeds and hyperparameter grids, sharded over all devices.

    Every argument given as a sequence becomes a leading axis of the result, in this order: ``game`` (when
    ``game`` is a sequence of same-shape games), ``seed`` (when ``seeds`` is an int S — seeds ``0..S-1`` — or a
    sequence of ints), then one axis per hyperparameter given as a 1-D sequence, in keyword order (the full
    outer product). Scalars add no axis. ``Trace.axes`` names the axes; metric arrays are ``[*axes, R + 1]``.

    Args:
        nash: one equilibrium for all games, or a ``list`` of them (one per game) when ``game`` is a sequence.
        ref: one reference policy for all runs.
        Others: as :func:`run`.

    The batch is flattened, split over ``jax.devices()`` (``jax.sharding``; padded to a multiple of the device
    count), simulated, and reshaped; results equal a Python loop of :func:`run` calls.

    Example:
        >>> t = sweep(algorithms.get("inpo"), games.comal_cycle(), steps=1000, eta=[0.1, 0.5], tau=[0.01, 0.1])
        >>> t.metrics["gap"].shape   # (2, 2, 1001); t.axes == ("eta", "tau")
    """
    if not isinstance(rule, UpdateRule):
        raise TypeError(f"rule must be an UpdateRule, got {rule!r}")
    num_records = _check_schedule(steps, record_every)
    axes: list[tuple[str, int]] = []

    game_list = [game] if isinstance(game, games.Game) else list(game)
    if not isinstance(game, games.Game):
        axes.append(("game", len(game_list)))
    stacked = games.stack_games(game_list)

    if seeds is None:
        keys = as_key(None)[None]
    else:
        seed_list = list(range(seeds)) if isinstance(seeds, (int, np.integer)) else list(seeds)
        if not seed_list:
            raise ValueError("sweep: seeds must name at least one seed")
        keys = jnp.stack([as_key(s) for s in seed_list])
        axes.append(("seed", len(seed_list)))

    check_hparams(rule, hparams, joint=False)  # per-name checks, before anything compiles
    grid = {}
    for name, value in hparams.items():
        values = _as_axis(name, value)
        grid[name] = np.asarray(value) if values is None else values
        if values is not None:
            axes.append((name, len(values)))

    if nash is None:
        nash_list = None
    elif not isinstance(nash, list):
        nash_list = [_nash_pair(game_list[0], nash)] * len(game_list)
    else:
        if len(nash) != len(game_list):
            raise ValueError(f"sweep: {len(nash)} equilibria given for {len(game_list)} games")
        nash_list = [_nash_pair(g, n) for g, n in zip(game_list, nash)]

    shape = tuple(n for _, n in axes)
    batch = math.prod(shape)
    flat = np.unravel_index(np.arange(batch), shape) if shape else ()
    idx = dict(zip([a for a, _ in axes], flat))
    zeros = np.zeros(batch, dtype=int)
    gi, si = idx.get("game", zeros), idx.get("seed", zeros)
    hp_b = {
        name: jnp.asarray(v[idx[name]] if v.ndim else np.broadcast_to(v, (batch,)), game_list[0].dtype)
        for name, v in grid.items()
    }
    check_hparams(rule, {k: np.asarray(v) for k, v in hp_b.items()})  # joint checks on every grid point
    games_b = jax.tree.map(lambda a: a[gi], stacked)
    # stacked on the host (a jnp.stack of thousands of arrays would compile a huge concatenate)
    nash_b = None if nash_list is None else jax.tree.map(lambda *a: jnp.asarray(np.stack(a)[gi]), *nash_list)
    states = jax.vmap(lambda g, k, hp: rule.init(g, k, ref=ref, **hp))(games_b, keys[si], hp_b)

    games_b, states, nash_b = _device_batch((games_b, states, nash_b), batch)
    final, traj = _simulate_batch(
        rule, games_b, states, nash_b, num_records, int(record_every), bool(record_policy)
    )
    policy = jax.vmap(rule.policy)(final)
    unflat = lambda a: a[:batch].reshape(*shape, *a.shape[1:])
    trace = Trace(
        steps=np.arange(num_records + 1) * int(record_every),
        metrics=jax.tree.map(unflat, traj),
        policy=jax.tree.map(unflat, policy),
        state=jax.tree.map(unflat, final),
        axes=tuple(a for a, _ in axes),
    )
    _warn_nonfinite(trace, f"{rule.name} sweep: ")
    return trace
