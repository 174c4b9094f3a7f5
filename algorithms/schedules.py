"""Schedules: hyperparameters that change with the count of updates already applied.

A schedule is a function of the count ``t = 0, 1, 2, ...``: the update from ``pi_t`` to ``pi_{t+1}`` uses the
value at ``t`` (optax's convention, ``optax.schedules``). Every numeric hyperparameter a rule declares accepts
one in :func:`algorithms.run` and :func:`algorithms.sweep`: ``run(rule, game, eta=optax.exponential_decay(0.5,
100, 0.9))``. Hyperparameters of an outer loop (COMAL's ``inner_steps``, ``beta``, ``until``) count outer
rounds instead (the rule declares which, :attr:`algorithms.base.Hparam.counts`).

Any ``step -> value`` callable written with ``jnp`` operations works (optax's schedules included); its numbers
are then part of the compiled program, so a new callable compiles again. The schedules of this module keep
their numbers as **array leaves** (they are ``NamedTuple`` pytrees), so runs over a family's parameters
compile once::

    >>> from algorithms import schedules
    >>> eta = schedules.exponential(0.5, 0.99)          # 0.5 * 0.99 ** t
    >>> [round(float(eta(t)), 4) for t in (0, 1, 100)]
    [0.5, 0.495, 0.183]
    >>> K = schedules.growth(16, rate=1.01, cap=4096)   # floor(16 * 1.01 ** t), at most 4096
    >>> [int(K(t)) for t in (0, 100, 1000)]
    [16, 43, 4096]

The runner checks a schedule on the host before anything compiles (:func:`resolve`): it evaluates it once,
vectorised, at every count an update will use (``0 .. steps - 1``), in the game's dtype, and raises
``ValueError`` naming the hyperparameter and the first step whose value is NaN, infinite, does not fit the dtype
(``1e39`` or ``1e-50`` in float32), lies outside the declared interval or breaks the rule's joint check
(``eta * tau <= 1``, at every point of a sweep's grid), and ``TypeError`` when the callable does not take a step;
a step size outside its stable range at any of those steps warns (:class:`algorithms.StepSizeWarning`, naming
the first such step). A count (``pairs``, ``inner_steps``) takes whole numbers only: give a float schedule as
``rounded(schedule)`` (nearest, halves to even). The value in force at each record is in ``Trace.schedules``
and in the hyperparameter's column of ``Trace.to_dataframe`` (at the last record, the value the last update
used).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import base

__all__ = [
    "constant",
    "exponential",
    "polynomial",
    "piecewise",
    "growth",
    "rounded",
    "Fn",
    "is_schedule",
    "check_not_grid_of_schedules",
    "resolve",
]


class constant(NamedTuple):
    """``value`` at every count (a schedule whose value is an array leaf)."""

    value: Any

    def __call__(self, t):
        return jnp.full(jnp.shape(t), self.value)


class exponential(NamedTuple):
    """``init * rate ** (t / every)`` (optax's ``exponential_decay(init, every, rate)`` without staircase).

    Example:
        >>> round(float(exponential(0.5, 0.9, 100)(200)), 4)   # 0.5 * 0.9 ** 2
        0.405
    """

    init: Any
    rate: Any
    every: Any = 1.0

    def __call__(self, t):
        return self.init * self.rate ** (t / self.every)


class polynomial(NamedTuple):
    """``(init - end) (1 - min(t, steps) / steps) ** power + end`` (optax's ``polynomial_schedule``).

    Example:
        >>> float(polynomial(1.0, 0.0, 1.0, 10)(5))
        0.5
    """

    init: Any
    end: Any
    power: Any
    steps: Any

    def __call__(self, t):
        frac = 1 - jnp.minimum(t, self.steps) / self.steps
        return (self.init - self.end) * frac**self.power + self.end


class piecewise(NamedTuple):
    """``values[i]`` for ``boundaries[i-1] <= t < boundaries[i]`` (``len(values) = len(boundaries) + 1``).

    Example:
        >>> s = piecewise([0.5, 0.25, 0.1], [1, 2])
        >>> [float(s(t)) for t in (0, 1, 2, 9)]
        [0.5, 0.25, 0.1, 0.1]
    """

    values: Any
    boundaries: Any

    def __call__(self, t):
        values, bounds = jnp.asarray(self.values), jnp.asarray(self.boundaries)
        if values.shape != (bounds.shape[0] + 1,):  # static shapes: checked at trace time
            raise ValueError(
                f"piecewise: values must have one more entry than boundaries, got {values.shape} and "
                f"{bounds.shape}"
            )
        return values[jnp.sum(t >= bounds)]


class growth(NamedTuple):
    """A count that grows: ``min(cap, floor(start * rate ** t * (t + 1) ** power))`` (whole numbers).

    ``rate > 1`` grows geometrically, ``power > 0`` polynomially (a growing sample size ``K_t`` or number of
    inner steps ``K_k``).

    Example:
        >>> [int(growth(16, power=1.0)(t)) for t in (0, 1, 9)]   # 16 (t + 1)
        [16, 32, 160]
    """

    start: Any
    rate: Any = 1.0
    power: Any = 0.0
    cap: Any = math.inf

    def __call__(self, t):
        raw = self.start * self.rate**t * (t + 1.0) ** self.power
        return jnp.minimum(self.cap, jnp.floor(raw))


class rounded(NamedTuple):
    """``schedule`` rounded to the nearest whole number, halves to even (``jnp.round``): the way to give a float
    schedule (``optax.exponential_decay(16.0, T, 256.0)``) to a whole-number hyperparameter such as
    ``pairs``, which refuses values that are not whole. To round down instead (as :class:`growth` does), write
    ``lambda t: jnp.floor(schedule(t))``.

    Example:
        >>> s = rounded(exponential(16.0, 2.0, 4))   # 16 * 2 ** (t / 4): 16, 19.03, 22.63, 26.91, 32
        >>> [int(s(t)) for t in range(5)]
        [16, 19, 23, 27, 32]
    """

    schedule: Any

    def __call__(self, t):
        return jnp.round(self.schedule(t))


@jax.tree_util.register_static
class Fn:
    """Any ``step -> value`` callable as a schedule pytree without leaves: its numbers are part of the
    compiled program (the runner wraps plain callables such as optax's schedules in it)."""

    def __init__(self, fn: Callable):
        self.fn = fn

    def __call__(self, t):
        return self.fn(t)

    def __hash__(self):
        return hash(self.fn)

    def __eq__(self, other):
        return isinstance(other, Fn) and other.fn is self.fn

    def __repr__(self):
        return f"Fn({self.fn!r})"


_FAMILIES = (constant, exponential, polynomial, piecewise, growth)


def _family_numbers(value, dtype):
    """A family's numbers as arrays of ``dtype``, or a TypeError naming the family, the field and the value."""
    out = {}
    for field, number in zip(value._fields, value):
        try:
            arr = np.asarray(number)
            if arr.dtype.kind not in "biuf":
                raise TypeError
            out[field] = jnp.asarray(arr, dtype)
        except (TypeError, ValueError):
            raise TypeError(
                f"schedules.{type(value).__name__}: {field} must be a number (or an array of numbers), got "
                f"{number!r}"
            ) from None
    return type(value)(**out)


def is_schedule(value) -> bool:
    """Whether a hyperparameter value is a schedule (a callable) rather than a number."""
    return callable(value) and not isinstance(value, (np.ndarray, jax.Array))


def _as_tree(value, dtype):
    """A schedule as a pytree: this module's families with their numbers as arrays of ``dtype``; any other
    callable wrapped in :class:`Fn`."""
    if isinstance(value, _FAMILIES):
        return _family_numbers(value, dtype)
    if isinstance(value, rounded):
        return rounded(_as_tree(value.schedule, dtype))
    return value if isinstance(value, Fn) else Fn(value)


def _evaluate(who: str, name: str, sched, counts: np.ndarray, dtype) -> np.ndarray:
    """Values of ``sched`` at ``counts`` (float64 on the host), or a TypeError naming the hyperparameter."""
    t = jnp.asarray(counts, jax.dtypes.canonicalize_dtype(jnp.int64))
    try:
        values = jax.vmap(sched)(t)
    except Exception as err:  # a callable that does not take a (traced) step
        raise TypeError(
            f"{who}: the schedule for {name} must be a function of the step count written with jnp "
            f"operations (called as schedule(t) on an integer array); calling it raised "
            f"{type(err).__name__}: {err}"
        ) from None
    values = np.asarray(values, np.float64)
    if values.shape != counts.shape:
        raise TypeError(
            f"{who}: the schedule for {name} must return one number per step, got shape {values.shape[1:]}"
        )
    return values


def _first_failure(check, joint: dict, steps: int):
    """``(step, message)`` of the first step where the joint ``check`` fails (bisection on prefixes), or None."""

    def fails(upto: int):
        try:
            check({k: np.asarray(v[:upto] if np.ndim(v) else v, np.float64) for k, v in joint.items()})
        except ValueError as err:
            return str(err)
        return None

    if fails(steps) is None:
        return None
    lo, hi = 0, steps  # fails(hi) is set, fails(lo) is not (an empty prefix passes)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if fails(mid) is not None else (mid, hi)
    return hi - 1, fails(hi)


#: Runs longer than this are checked at this many counts (every count below it, then a geometric grid).
CHECKED_COUNTS = 10**6


def _counts(steps: int) -> np.ndarray:
    """The counts a schedule is checked at: ``0 .. steps - 1``, or for longer runs every count below
    :data:`CHECKED_COUNTS` / 2 and a geometric grid above it (the last count included)."""
    if steps <= CHECKED_COUNTS:
        return np.arange(steps)
    half = CHECKED_COUNTS // 2
    tail = np.unique(np.geomspace(half, steps - 1, CHECKED_COUNTS - half).astype(np.int64))
    return np.concatenate([np.arange(half), tail])


def _number(v) -> bool:
    return isinstance(v, (int, float, np.number)) and not isinstance(v, bool)


def check_not_grid_of_schedules(who: str, hparams: dict) -> None:
    """Refuse a hyperparameter given as a sequence that holds a schedule (``tau=[schedule, 0.2]``): a
    hyperparameter is one number, one schedule, or (in a sweep) a 1-D grid of numbers, not a grid of schedules.

    Raises:
        ValueError: naming the hyperparameter and saying how to run several schedules.
    """
    for name, value in hparams.items():
        if not is_schedule(value) and isinstance(value, (list, tuple)) and any(map(is_schedule, value)):
            raise ValueError(
                f"{who}: {name} is a grid that holds a schedule ({value!r}): a schedule and a grid of values "
                f"for the same hyperparameter conflict. Give {name} one schedule, or a 1-D grid of numbers; for "
                f"several schedules call sweep once per schedule (a family of algorithms.schedules compiles once)"
            )


def _grid_rows(spec: dict, values: dict, skip) -> list[dict]:
    """The distinct combinations of the non-scheduled hyperparameters' values (defaults filled; a 1-D grid of a
    sweep contributes each of its values), as float64 scalars: what a joint check along a schedule is run for."""
    rows = [{}]
    for n, h in spec.items():
        if n in skip:
            continue
        v = values.get(n, h.default)
        if _number(v) or np.ndim(v) == 0:
            try:
                options = [np.float64(v)]
            except (TypeError, ValueError):
                continue  # check_hparams names a non-number afterwards
        else:
            try:
                options = list(np.unique(np.asarray(v, np.float64)))
            except (TypeError, ValueError):
                continue
        rows = [{**r, n: o} for r in rows for o in options]
    return rows


def resolve(rule, hparams: dict, steps: int, dtype) -> tuple[dict, dict[str, Any], dict, np.ndarray]:
    """Split ``hparams`` into numbers and schedules, and check every schedule at every count it will be used at.

    A schedule of a per-step hyperparameter is used at ``t = 0 .. steps - 1``; one counted in outer rounds at
    counts among these (a run has at most ``steps`` rounds). Each schedule is evaluated there once, on the host
    and vectorised (``jax.vmap`` over the counts), cast to ``dtype`` (what the update reads), and checked: finite
    and, with its reciprocal, representable in ``dtype``; inside the declared interval (and whole, for a count);
    and, jointly with the other hyperparameters (every point of a sweep's grid), the rule's ``check``. Runs of
    more than :data:`CHECKED_COUNTS` steps are checked at every count below half of it and on a geometric grid
    above.

    Returns:
        ``(values, schedules, along, counts)``: ``values`` the hyperparameters with each schedule replaced by its
        value at count 0 (what ``init`` stores), ``schedules`` name -> schedule pytree (numbers as arrays of
        ``dtype``), ``along`` name -> the schedule's values at ``counts`` as the update reads them (float64
        arrays; the runner's step-size check reads them), ``counts`` the counts checked.
    Raises:
        ValueError: a schedule for an unknown hyperparameter or for ``noise`` (the start's perturbation), a grid
            that holds a schedule, or a value that is NaN, infinite, does not fit ``dtype``, lies outside the
            declared interval or (for a count) is not a whole number at some step (the first such step is
            named; for a count, the message says how to round).
        TypeError: a callable that does not take a step or does not return one number, or a family of this
            module built with a non-number (``constant('abc')``).
    """
    check_not_grid_of_schedules(rule.name, hparams)
    spec = {h.name: h for h in rule.hparams}
    values, scheds, along = dict(hparams), {}, {}
    counts = _counts(steps)
    if not any(is_schedule(v) for v in hparams.values()):
        return values, scheds, along, counts
    np_dtype = np.dtype(dtype)
    for name, value in hparams.items():
        if not is_schedule(value) or name not in spec:
            continue  # an unknown name: check_hparams names it and lists the valid ones
        if name == base.START_NOISE:
            raise ValueError(f"{rule.name}: {name} perturbs the start only; it cannot be a schedule")
        sched = _as_tree(value, dtype)
        raw = _evaluate(rule.name, name, sched, counts, dtype)
        h = spec[name]
        bad = ~np.isfinite(raw)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(
                f"{rule.name}: the schedule for {name} is not finite at step {counts[i]}: {raw[i]!r}"
            )
        with np.errstate(over="ignore", under="ignore", divide="ignore"):
            at = raw.astype(np_dtype)  # the value the update reads
            fits = np.isfinite(at) & ((at == 0) | np.isfinite(np.reciprocal(at)))
            at = at.astype(np.float64)
        if not fits.all():
            i = int(np.argmin(fits))
            raise ValueError(
                f"{rule.name}: the schedule for {name} does not fit {np_dtype.name} at step {counts[i]}: "
                f"{raw[i]:g} (it, or its reciprocal, overflows)"
            )
        ok = h.contains(at)
        if not ok.all():
            i = int(np.argmin(ok))
            shown = (
                f"{at[i]:g}" if at[i] == raw[i] else f"{at[i]:g} in {np_dtype.name} ({raw[i]:g} as computed)"
            )
            hint = ""
            if h.integer and at[i] != np.round(at[i]):
                hint = (
                    "; a count takes whole numbers only: wrap the schedule with "
                    "algorithms.schedules.rounded (nearest, halves to even) or round it in the schedule "
                    "(jnp.round, jnp.floor)"
                )
            raise ValueError(
                f"{rule.name}: the schedule for {name} must lie in {h.domain} at every step; at step "
                f"{counts[i]} it is {shown}{hint}"
            )
        values[name], scheds[name], along[name] = float(at[0]), sched, at
    if along and rule.check is not None:  # joint checks (eta * tau <= 1) at every step and grid point
        for row in _grid_rows(spec, values, along):
            first = _first_failure(rule.check, {**row, **along}, counts.size)
            if first is not None:
                raise ValueError(
                    f"{first[1]} (at step {counts[first[0]]} of the schedule of {', '.join(along)})"
                )
    return values, scheds, along, counts
