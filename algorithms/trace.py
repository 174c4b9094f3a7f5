"""What a run records and returns: the metrics as data, the :class:`Trace` and its tidy table.

Recording is data: ``metrics=`` is a sequence of registered names (:data:`METRICS`) or ``(name, fn)`` pairs
with ``fn(game, x, y) -> scalar`` (``x``, ``y`` the probabilities; in self-play ``y = x``). The default is
``gap``, ``win_rate`` (preference games), ``kl_to_nash`` (when a unique ``nash`` is given) and
``regularized_gap`` (regularized rules). On a contextual game every metric is also recorded per prompt as
``<name>_by_context`` (last axis ``C``) beside its rho-weighted aggregate. A run that went NaN/inf is reported
by a :class:`NonFiniteWarning` naming the first step where it did, and ``Trace.finite`` says where.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import games
from games import Profile
from games import metrics as M

from . import shapes
from .base import UpdateRule

__all__ = ["Trace", "METRICS", "NonFiniteWarning"]


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
