"""The shared summary and gap-against-cost figure of the studies, read from a tidy trace table
(``trace.csv``): per curve, the median over seeds with a 95 % percentile-bootstrap band. Runs are told apart
by every identifying column but ``seed``; a curve's label is its ``by`` columns joined by ``", "``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import figures, tables
from .tables import median_band


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


def bands(df, metric: str = "gap", x: str = "step", by: Sequence[str] = ("rule",)) -> dict:
    """``label -> (x, median, lo, hi)`` of ``metric`` against ``x`` (see :func:`median_band`)."""
    return {lab: (xs, *median_band(v)) for lab, (xs, v) in runs(df, metric, x, by).items()}


def summary(df, *, by: Sequence[str] = ("rule",), level: float, x: str = "step", metric: str = "gap"):
    """A DataFrame, one row per curve: its ``by`` columns, ``curve`` (their label), ``final`` (the median
    over seeds; ``final_lo``, ``final_hi``: its band), ``<x>_to_level`` (the cost from which the value stays
    at or below ``level``, inf for a seed that never gets there; with its band), ``reached`` (the share of
    seeds that get there), ``seeds``."""
    import pandas as pd

    rows = []
    keys = df[df["metric"] == metric].groupby(list(by), sort=False, dropna=False).groups  # in runs' order
    for key, (lab, (xs, v)) in zip(keys, runs(df, metric, x, by).items()):
        row = {**dict(zip(by, key if isinstance(key, tuple) else (key,))), "curve": lab}
        first = tables.first_below(xs, v, level)
        cost = np.where(np.isnan(first), np.inf, first)
        for name, values in (("final", v[:, -1]), (f"{x}_to_level", cost)):
            band = median_band(values[:, None])
            row |= {name + end: float(b[0]) for end, b in zip(("", "_lo", "_hi"), band)}
        rows.append({**row, "reached": float(np.mean(~np.isnan(first))), "seeds": int(v.shape[0])})
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
    """A :class:`matplotlib.figure.Figure` (global backend untouched): each curve's median against ``x`` with
    its 95 % bootstrap band over seeds; a panel per value of the column ``panel`` (the legends leave it out
    when it is ``by[0]``) or (None) per behaviour of the median curve at ``level``, each its own x-range.
    ``refs``: horizontal lines ``{"y": value, "label": text, **style}``, in every panel or (``"panel":
    name``) in that one."""
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
