"""Tidy tables of traces (``trace.csv``, ``policies.csv``), text tables, first crossings of a level, and the
median over seeds with its bootstrap band."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: The leading and trailing columns of every ``trace.csv``; hyperparameter columns go in between.
ID_COLUMNS = ("experiment", "game", "rule")
RUN_COLUMNS = ("seed", "step", "oracle_calls", "comparisons", "finite", "metric", "value")
#: Resamples of every bootstrap of the studies (fixed, as is the seed: a report is a function of its CSV).
RESAMPLES = 2000


def tidy(trace, *, experiment: str, game: str | Sequence[str], rule: str, seed, extra: dict | None = None):
    """``(metrics, policies)``: the tidy frames of a :func:`algorithms.run` / :func:`algorithms.sweep` trace,
    columns :data:`ID_COLUMNS`, one per hyperparameter, :data:`RUN_COLUMNS` (policies: ``player, [prompt,]
    action, probability`` for ``metric, value``; None without recorded policies). ``game``: a label or one
    per entry of a ``game`` axis; ``extra``: more metrics, ``[*axes, R+1]`` or ``[*axes, R+1, C]``."""
    import pandas as pd

    if extra:
        trace = trace._replace(metrics={**trace.metrics, **{k: np.asarray(v) for k, v in extra.items()}})
    df = trace.to_dataframe().drop(columns="feedback").rename(columns={"context": "prompt"})
    if "game" in trace.axes:
        df["game"] = np.asarray(list(game), dtype=object)[df["game"].to_numpy()]
    else:
        df.insert(0, "game", game)
    if "seed" not in trace.axes:
        df["seed"] = seed
    if df["prompt"].isna().all():
        df = df.drop(columns="prompt")
    df["rule"] = rule
    df.insert(0, "experiment", experiment)
    pol = getattr(trace, "policies", None)
    if pol is None:
        return df, None
    # one row per (run, step), in the C order of [*axes, R+1]: the rows of the first (aggregate) metric
    runs = df[df["metric"] == next(iter(trace.metrics))]
    runs = runs.drop(columns=["metric", "value", "prompt"], errors="ignore").reset_index(drop=True)
    frames = []
    for player, p in [("x", pol.x)] + ([] if pol.y is None else [("y", pol.y)]):
        p = np.asarray(p, dtype=np.float64)  # [*axes, R+1, (C,) n]
        tail = p.shape[len(trace.axes) + 1 :]
        idx = np.indices(tail).reshape(len(tail), -1)
        cols = runs.loc[runs.index.repeat(idx.shape[1])].reset_index(drop=True)
        cols["player"] = player
        if len(tail) == 2:
            cols["prompt"] = np.tile(idx[0], len(runs))
        cols["action"] = np.tile(idx[-1], len(runs))
        cols["probability"] = p.reshape(-1)
        frames.append(cols)
    return df, pd.concat(frames, ignore_index=True)


def combine(frames: Sequence, hp_order: Sequence[str] = ("eta", "tau", "start_noise")):
    """Concatenate tidy frames of several rules into one, hyperparameter columns between the ids and the
    run columns (known ones first, then any a user's rule adds); a rule without a hyperparameter gets NaN."""
    import pandas as pd

    frames = [f for f in frames if f is not None]
    if not frames:
        return None
    df = pd.concat(frames, ignore_index=True)
    fixed = set(ID_COLUMNS) | set(RUN_COLUMNS) | {"prompt", "player", "action", "probability"}
    hps = [c for c in hp_order if c in df.columns] + sorted(
        c for c in df.columns if c not in fixed and c not in hp_order
    )
    tail = [c for c in df.columns if c in fixed and c not in ID_COLUMNS]
    lead = ["prompt"] if "metric" in df.columns else []  # per-prompt metrics: prompt is part of the run's id
    order = [*lead, "seed", "step", "oracle_calls", "comparisons", "finite", "player", "prompt", "action"]
    order = list(dict.fromkeys(order))
    tail = [c for c in order if c in tail] + [c for c in ("metric", "value", "probability") if c in tail]
    return df[[*ID_COLUMNS, *hps, *tail]]


#: The known label and hyperparameter columns of the studies' traces, in the order the shell writes them.
STACK_ORDER = ("policy", "schedule", "feedback", "pairs", "K", "eta", "tau", "beta", "start_noise")


def stack(frames: Sequence):
    """One table of a study's units: tidy traces through :func:`combine` (hyperparameter columns in
    :data:`STACK_ORDER`), any other table concatenated as it is."""
    import pandas as pd

    frames = [f for f in frames if f is not None]
    if frames and all(set(ID_COLUMNS) <= set(f.columns) for f in frames):
        return combine(frames, hp_order=STACK_ORDER)
    return pd.concat(frames, ignore_index=True) if frames else None


def hparams_of(frame) -> str:
    """``k=v;...`` of the hyperparameter columns of a run's tidy rows (first row; NaN: the rule has none)."""
    first = frame.iloc[0]
    skip = (*ID_COLUMNS, *RUN_COLUMNS, "prompt")
    hp = {k: float(first[k]) for k in frame.columns if k not in skip and first[k] == first[k]}
    return ";".join(f"{k}={v:g}" for k, v in sorted(hp.items()) if k != "start_noise" or v)


def curve(frame, metric: str, x: str, **where):
    """``(x values, metric values)`` of one run from a tidy frame (selected by column values)."""
    sel = frame["metric"] == metric
    for k, v in where.items():
        sel &= frame[k] == v
    part = frame[sel].sort_values("step")
    return part[x].to_numpy(), part["value"].to_numpy()


def table(rows: Sequence[Sequence], header: Sequence[str]) -> str:
    """A plain aligned text table (also valid Markdown)."""
    cells = [list(map(str, header))] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"
    return "\n".join(
        [line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in cells[1:]]
    )


def first_below(steps, gaps, level: float) -> np.ndarray:
    """First recorded step from which ``gaps <= level`` holds to the end, along the last axis; NaN for never.
    ``steps``: the records' steps ``[R + 1]``, or any cost of the same shape as ``gaps`` (a trace's
    counters: :func:`cost`)."""
    ok = np.asarray(gaps) <= level
    stays = np.flip(np.cumprod(np.flip(ok, -1), -1), -1).astype(bool)
    x = np.broadcast_to(np.asarray(steps, np.float64), ok.shape)
    at = np.take_along_axis(x, np.argmax(stays, axis=-1)[..., None], -1)[..., 0]
    return np.where(stays[..., -1], at, np.nan)


def cost(trace, x: str) -> np.ndarray:
    """What a trace spent at each record in the unit ``x`` (``--x``): its steps ``[R + 1]``, or its
    ``oracle_calls`` / ``comparisons`` counters ``[*axes, R + 1]``."""
    return np.asarray(trace.steps) if x == "steps" else np.asarray(trace.counters[x], np.float64)


def x_column(x: str) -> str:
    """The trace column of a cost counted in ``x`` (``--x``): ``step`` for steps, else ``x``."""
    return "step" if x == "steps" else x


def steps_to(steps, gap, level: float) -> str:
    """:func:`first_below` of one curve as text: the step, or ``never``."""
    first = float(first_below(steps, gap, level))
    return "never" if np.isnan(first) else str(int(first))


def median_band(values, resamples: int = RESAMPLES, seed: int = 0):
    """``(median, lo, hi)`` over the first axis (seeds) of ``values [S, ...]``: the median and its 95 %
    percentile-bootstrap interval (seeds resampled with replacement, drawn from ``seed``: an int or a NumPy
    ``Generator``); with one seed the band is the value."""
    v = np.asarray(values, np.float64)
    med = np.median(v, axis=0)
    if v.shape[0] < 2:
        return med, med, med
    idx = np.random.default_rng(seed).integers(0, v.shape[0], size=(resamples, v.shape[0]))
    meds = np.median(v[idx], axis=1)
    with np.errstate(invalid="ignore"):  # inf (a cost never paid) on both sides of a quantile: inf - inf
        lo, hi = np.quantile(meds, [0.025, 0.975], axis=0)
    return med, *(np.where(np.isnan(q) & ~np.isnan(meds).any(axis=0), np.inf, q) for q in (lo, hi))


def bootstrap_median(values, rng, resamples: int = RESAMPLES) -> tuple[float, float, float]:
    """``(median, lo, hi)``: :func:`median_band` of ``values`` (flattened), resampled from ``rng``; NaNs for
    no values. Infinite values (a level never reached) take part as themselves."""
    v = np.asarray(values, np.float64).ravel()
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    med, lo, hi = median_band(v[:, None], resamples, seed=rng)
    return float(med[0]), float(lo[0]), float(hi[0])
