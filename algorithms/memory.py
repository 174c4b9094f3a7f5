"""The memory a run or a sweep will need, estimated from its sizes before anything is allocated.

:func:`algorithms.run` and :func:`algorithms.sweep` call :func:`check` first: when the estimate exceeds the
machine's memory they refuse with one line naming the size that dominates, the estimate and the memory, instead
of failing inside XLA (a 50-line ``RESOURCE_EXHAUSTED`` traceback) or NumPy (``MemoryError``). A sweep whose
runs fit one by one but not ``chunk`` at a time simulates fewer at once (:func:`chunk_that_fits`).

The estimate (bytes) adds, per run: the records (``R + 1`` records of every metric value, the two counters and
the ``finite`` flag, the policies with ``record_policy``), the final state (its shapes by ``jax.eval_shape`` of
``rule.init``, cached per rule and game shapes), and what one step allocates: the feedback's draws
(:meth:`games.feedback.Feedback.working_bytes`, for a rule that observes gradients) and the rule's own
(:attr:`algorithms.UpdateRule.working_bytes`, e.g. a loss-based rule's judged pairs); for a sweep also the grid
(keys, indices and hyperparameters per run) and the host copies of every run's results.
It counts arrays, not XLA's buffer reuse: it is meant to be right within a small factor (the hand-over note
measures it against peak RSS), which is all a refusal of a 120 GB allocation needs.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import jax
import numpy as np

import games

from .shapes import cached, signature, state_shapes

#: Default number of runs :func:`algorithms.sweep` simulates at once.
CHUNK = 16_384

__all__ = ["Estimate", "estimate", "check", "check_sweep", "machine_memory", "chunk_that_fits", "CHUNK"]


class Estimate(NamedTuple):
    """An estimate in bytes: ``total``, and ``parts`` (what it is made of: a label naming the size -> bytes)."""

    total: int
    parts: dict[str, int]
    simulated: int  # runs simulated at once
    per_run: int  # what one more run simulated at once adds (for chunking)


def machine_memory() -> int:
    """This machine's memory in bytes: the host's physical memory, or the default device's memory limit on an
    accelerator, whichever is smaller."""
    host = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if jax.default_backend() != "cpu":
        stats = jax.local_devices()[0].memory_stats() or {}
        if stats.get("bytes_limit"):
            return min(host, int(stats["bytes_limit"]))
    return int(host)


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


@cached(lambda rule, game, self_play: (rule, signature(game), bool(self_play)))
def _state_bytes(rule, game: games.Game, self_play: bool) -> int:
    """The state's size, from its shapes (``jax.eval_shape``, once per rule and game shapes:
    :func:`algorithms.shapes.state_shapes`)."""
    shapes = state_shapes(rule, game, self_play)
    return sum(int(np.prod(s.shape)) * np.dtype(s.dtype).itemsize for s in jax.tree.leaves(shapes))


def estimate(
    rule,
    game: games.Game,
    *,
    feedback,
    self_play: bool,
    num_records: int,
    num_metrics: int,
    record_policy: bool,
    runs: int = 1,
    chunk: int = 1,
    grid_values: int = 0,
) -> Estimate:
    """The memory ``runs`` runs of ``rule`` on ``game`` need, ``chunk`` of them simulated at once.

    Args:
        num_records: records after step 0 (``steps // record_every``).
        num_metrics: metrics recorded (each also per prompt on a contextual game).
        grid_values: numbers a sweep's grid holds per run (keys, indices, hyperparameters); 0 for ``run``.
    """
    item = np.dtype(game.dtype).itemsize
    contexts = game.A.shape[0] if game.contextual else 1
    m, n = game.shape
    values = num_metrics * (1 + contexts if game.contextual else 1)
    policy = contexts * (m if self_play else m + n)
    records = (num_records + 1) * (values * item + 17 + (policy * item if record_policy else 0))
    state = _state_bytes(rule, game, self_play)
    feedback_step = feedback.working_bytes(game, self_play) if rule.observes == "gradients" else 0
    rule_step = 0 if rule.working_bytes is None else int(rule.working_bytes(game, feedback))
    simulated = min(chunk, runs)
    copies = (
        3 if runs > 1 else 2
    )  # device results, their host copy and (sweep) the concatenated/reshaped trace
    at_once = f" ({simulated} runs at once)" if simulated > 1 else ""
    labels = {
        "records": f"{runs} run{'s' if runs > 1 else ''} x {num_records + 1} records",
        "state": f"the state of {runs} run{'s' if runs > 1 else ''}",
        "grid": f"a grid of {runs} runs",
        "feedback": f"feedback={feedback.name}{at_once}",
        "rule": f"{rule.name}'s judged data per step{at_once}",
    }
    parts = {
        labels["records"]: runs * records * copies,
        labels["state"]: runs * state * copies + simulated * 3 * state,  # and the scan's carries
        labels["grid"]: runs * grid_values * 8 * 2,  # built in NumPy, then as arrays
        labels["feedback"]: simulated * feedback_step,
        labels["rule"]: simulated * rule_step,
    }
    parts = {k: int(v) for k, v in parts.items() if v}
    return Estimate(sum(parts.values()), parts, simulated, 3 * state + feedback_step + rule_step)


def check(who: str, est: Estimate, memory: int | None = None) -> None:
    """Refuse an estimate over the machine's memory, in one line naming the size that dominates.

    Raises:
        ValueError: ``"<who>: <size> needs about <estimate> of memory (estimated before allocating), more than
            this machine's <memory>"`` and what to reduce.
    """
    memory = machine_memory() if memory is None else memory
    if est.total <= memory:
        return
    label = max(est.parts, key=est.parts.get)
    raise ValueError(
        f"{who}: {label} needs about {_size(est.total)} of memory (estimated from the sizes, before allocating "
        f"anything), more than this machine's {_size(memory)}; reduce that size"
    )


def chunk_that_fits(est: Estimate, memory: int | None = None) -> int:
    """The most runs, up to ``est.simulated``, to simulate at once so that what they allocate per step stays
    within half of the machine's memory beside everything else (at least 1)."""
    memory = machine_memory() if memory is None else memory
    fixed = est.total - est.simulated * est.per_run
    room = memory // 2 - fixed
    return int(max(1, min(est.simulated, room // max(est.per_run, 1))))


def _grid_runs(seeds, hparams: dict) -> int:
    """How many runs per game a sweep's arguments name, counted before anything is built (bad values are
    counted as one run: :func:`algorithms.sweep` refuses them afterwards)."""
    runs = 1
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, (bool, np.bool_)):
        runs = max(int(seeds), 1)
    elif seeds is not None and np.ndim(seeds) == 1 and not isinstance(seeds, (str, bytes)):
        runs = max(len(seeds), 1)
    for value in hparams.values():
        if np.ndim(value) == 1:
            runs *= max(len(value), 1)
    return runs


def check_sweep(
    rule,
    game: games.Game,
    *,
    steps: int,
    record_every: int = 1,
    seeds=None,
    feedback=None,
    metrics=None,
    self_play: bool | None = None,
    record_policy: bool = False,
    chunk: int | None = None,
    num_games: int = 1,
    **hparams,
) -> int | None:
    """The memory check of :func:`algorithms.sweep` with the same arguments (``num_games`` same-shape games),
    callable on its own: a study checks its largest sweep before computing anything.

    Returns:
        ``chunk`` itself when given; by default ``None`` (:data:`CHUNK` runs at once), or fewer runs at once
        when that many would not fit.
    Raises:
        ValueError: the sweep would not fit in memory (one line: the size, the estimate, the machine's memory).
    """
    from .base import resolve_self_play

    feedback = games.feedback.check_feedback(feedback)
    sp = resolve_self_play(rule, game, self_play)
    num_metrics = len(metrics) if isinstance(metrics, (list, tuple)) else 4
    sizes = dict(feedback=feedback, self_play=sp, num_records=max(steps // record_every, 1))
    sizes.update(
        num_metrics=num_metrics, record_policy=bool(record_policy), grid_values=4 + len(rule.hparams)
    )
    sizes["runs"] = num_games * _grid_runs(seeds, hparams)
    est = estimate(rule, game, **sizes, chunk=chunk or CHUNK)
    fits = chunk_that_fits(est)
    if chunk is None and fits < est.simulated:
        est = estimate(rule, game, **sizes, chunk=fits)
        check("sweep", est)
        return fits
    check("sweep", est)
    return chunk
