"""The one gap-against-cost figure of the studies, read from a tidy trace table
(``trace.csv``: one row per run, record and metric).

* :func:`bands`: per curve, the median over seeds at each record with a 95 % percentile-bootstrap band;
* :func:`gap_figure`: the curves' medians and bands against cost, one panel per group (by default the
  measured behaviour of the median curve), each panel its own x-range, a shared log y-axis.

Runs are told apart by every identifying column but ``seed`` (``experiment, game, rule``, the hyperparameter
columns, ``feedback`` ...); a curve's label is the ``by`` columns joined by ``", "``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import figures, tables

#: Resamples of every bootstrap here (fixed, and drawn from a fixed seed: a report is a function of its CSV).
RESAMPLES = 2000


def runs(df, metric: str, x: str, by: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``label -> (x [R + 1], values [S, R + 1])``: each curve's seeds on a common record grid (``x`` from the
    first seed: costs are equal across seeds unless a study says otherwise)."""
    d = df[df["metric"] == metric]
    if "seed" not in d.columns:  # a table of one run per curve
        d = d.assign(seed=0)
    out = {}
    for key, g in d.groupby(list(by), sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        label = ", ".join(map(str, key))
        g = g.sort_values(["seed", "step"], kind="stable")
        seeds = g["seed"].unique()
        values = g["value"].to_numpy(np.float64).reshape(len(seeds), -1)
        xs = g[x].to_numpy(np.float64).reshape(len(seeds), -1)[0]
        out[label] = (xs, values)
    return out


def median_band(values, resamples: int = RESAMPLES, seed: int = 0):
    """``(median, lo, hi)`` over the first axis (seeds) of ``values [S, ...]``: the median and its 95 %
    percentile-bootstrap interval (seeds resampled with replacement); with one seed the band is the value."""
    v = np.asarray(values, np.float64)
    med = np.median(v, axis=0)
    if v.shape[0] < 2:
        return med, med, med
    idx = np.random.default_rng(seed).integers(0, v.shape[0], size=(resamples, v.shape[0]))
    meds = np.median(v[idx], axis=1)
    with np.errstate(invalid="ignore"):  # inf (a cost never paid) on both sides of a quantile: inf - inf
        lo, hi = np.quantile(meds, [0.025, 0.975], axis=0)
    return med, *(np.where(np.isnan(q) & ~np.isnan(meds).any(axis=0), np.inf, q) for q in (lo, hi))


def bands(df, metric: str = "gap", x: str = "step", by: Sequence[str] = ("rule",)) -> dict:
    """``label -> (x, median, lo, hi)`` of ``metric`` against ``x`` (see :func:`median_band`)."""
    return {lab: (xs, *median_band(v)) for lab, (xs, v) in runs(df, metric, x, by).items()}


def summary(df, *, by: Sequence[str] = ("rule",), level: float, x: str = "step", metric: str = "gap"):
    """One row per curve: its ``by`` columns and ``curve`` (their label); ``final`` (median over seeds) with
    ``[final_lo, final_hi]``; the cost in ``x`` from which the value stays at or below ``level`` (``inf`` for a
    seed that never gets there), median and interval; ``reached``, the share of seeds that get there; ``seeds``.
    Returns a DataFrame."""
    import pandas as pd

    rows = []
    keys = df[df["metric"] == metric].groupby(list(by), sort=False, dropna=False).groups  # in runs' order
    for key, (lab, (xs, v)) in zip(keys, runs(df, metric, x, by).items()):
        final = median_band(v[:, -1:])
        first = tables.first_below(xs, v, level)
        cost = median_band(np.where(np.isnan(first), np.inf, first)[:, None])
        rows.append(
            {
                **dict(zip(by, key if isinstance(key, tuple) else (key,))),
                "curve": lab,
                "final": float(final[0][0]),
                "final_lo": float(final[1][0]),
                "final_hi": float(final[2][0]),
                f"{x}_to_level": float(cost[0][0]),
                f"{x}_to_level_lo": float(cost[1][0]),
                f"{x}_to_level_hi": float(cost[2][0]),
                "reached": float(np.mean(~np.isnan(first))),
                "seeds": int(v.shape[0]),
            }
        )
    return pd.DataFrame(rows)


def gap_figure(
    df,
    *,
    x: str = "step",
    level: float = 1e-6,
    by: Sequence[str] = ("rule",),
    panel: str | None = None,
    metric: str = "gap",
    title: str = "",
    refs: Sequence[dict] = (),
    ylabel: str = "last-iterate duality gap",
):
    """The median of each curve against ``x`` with its 95 % bootstrap band over seeds (none with one seed).

    Panels: one per value of the column ``panel`` (when it is ``by[0]``, the legends leave it out), or
    (``None``) one per measured behaviour of the median curve (:func:`experiments.common.figures.behaviour` at
    ``level``). Each panel has its own x-range: linear, or
    symmetric-log when the curves' ends differ by more than 3x, so the first record (x = 0) is drawn where it
    is; the y-axis (log) is shared by all panels, which the title says. ``refs``: horizontal reference lines,
    ``{"y": value, "label": text, **line style}``, drawn in every panel (or, with ``"panel": name``, in that
    one) and named once. More than :data:`experiments.common.figures.PANELS_PER_ROW` panels wrap into rows.
    Returns a :class:`matplotlib.figure.Figure` (the global backend is not touched)."""
    curves = bands(df, metric, x, by)
    seeded = "seed" in df.columns and df["seed"].nunique() > 1
    if panel is None:
        groups = figures.by_behaviour({lab: c[1] for lab, c in curves.items()}, level)
        titles = {g: figures.panel_title(g, level) for g in groups}
    else:
        groups = {}
        for key, g in df[df["metric"] == metric].groupby(panel, sort=False):
            groups[str(key)] = list(
                dict.fromkeys(", ".join(str(r[c]) for c in by) for _, r in g[list(by)].iterrows())
            )
        titles = {g: f"{panel} = {g}" for g in groups}
    style, short = figures.styles(groups), by[0] == panel and len(by) > 1  # legends without the panel's name
    fig, axes = figures.panel_figure(
        [titles[g] for g in groups],
        suptitle=(title + "; " if title else "")
        + ("median over seeds with a 95 % bootstrap band; " if seeded else "")
        + "y shared by all panels, each panel its own x-range",
    )
    if (axis := "steps" if x == "step" else x) in figures.X_AXES:
        figures.label_x(axes.values(), axis)
    handles = {}
    for g, labs in groups.items():
        ax = axes[titles[g]]
        lines = []
        for same in figures.coincident({lab: curves[lab][:2] for lab in labs}):  # equal curves: drawn once
            xs, med, lo, hi = curves[same[0]]
            st = style[same[0]]
            name = " = ".join(lab[len(g) + 2 :] if short else lab for lab in same)
            lines += ax.plot(xs, figures.plot_floor(med), label=name, **st)
            if not np.array_equal(lo, hi):
                ax.fill_between(
                    xs, figures.plot_floor(lo), figures.plot_floor(hi), color=st["color"], alpha=0.18, lw=0
                )
        for r in [r for r in refs if r.get("panel", g) == g]:
            kw = {
                "lw": 1,
                "color": "0.4",
                "ls": ":",
                **{k: v for k, v in r.items() if k not in ("y", "panel")},
            }
            h = ax.axhline(float(figures.plot_floor(r["y"])), **kw)
            handles.setdefault(h.get_label(), h)
        ax.set_yscale("log")
        ax.grid(alpha=0.25)
        figures.legend_below(ax, handles=lines)
        figures.set_x_range(ax, [curves[lab][0] for lab in labs])
    for ax in list(axes.values())[:: figures.PANELS_PER_ROW]:
        ax.set_ylabel(ylabel)
    figures.reference_legend(fig, list(handles.values()))
    return fig
