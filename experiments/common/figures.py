"""What every study figure shares: log-scale floors, rule families and their panels, styles, legends."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .cli import X_AXES

PLOT_FLOOR = 1e-17


def plot_floor(values, floor: float = PLOT_FLOOR):
    """Values for a log-scale axis: exact zeros (and round-off negatives) drawn at ``floor``; data untouched."""
    return np.maximum(np.asarray(values, dtype=np.float64), floor)


#: Families for the figures: (title, how rule labels start). A user's rule that matches none is "other".
FAMILIES = (
    ("no last-iterate convergence", ("mwu", "sppo", "iterative_ipo", "iterative_dpo", "averaged")),
    ("regularized: converge to the τ-equilibrium", ("inpo", "mmd", "nash_md", "egpo")),
    ("exact: last iterate → Nash", ("comal", "mpo", "omwu", "extragradient", "comal_exact")),
)
OTHER = "other rules (yours)"
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)))


def family(label: str) -> str:
    base = label.split("(")[0]
    for title, members in FAMILIES:
        if base in members:
            return title
    return OTHER


def by_family(labels: Sequence[str]) -> dict[str, list[str]]:
    """Labels grouped by family, in the order of :data:`FAMILIES` (then yours), each in the given order."""
    order = [t for t, _ in FAMILIES] + [OTHER]
    groups = {t: [lab for lab in labels if family(lab) == t] for t in order}
    return {t: labs for t, labs in groups.items() if labs}


def styles(labels: Sequence[str]) -> dict[str, dict]:
    """A distinct colour (tab10) and line style per label within its family panel; COMAL drawn thicker."""
    import matplotlib as mpl

    cmap = mpl.colormaps["tab10"]
    out = {}
    for labs in by_family(labels).values():
        for i, lab in enumerate(labs):
            out[lab] = {
                "color": cmap(i % 10),
                "ls": LINESTYLES[i % len(LINESTYLES)],
                "lw": 2.4 if lab.startswith("comal") else 1.5,
            }
    return out


def family_figure(
    labels: Sequence[str], *, width: float = 4.3, height: float = 3.6, suptitle: str = "", sharey: bool = True
):
    """A :class:`matplotlib.figure.Figure` with one panel per family present (shared axes); never touches the
    global backend. Returns ``(fig, {family: ax})``."""
    from matplotlib.figure import Figure

    groups = by_family(labels)
    k = len(groups)
    fig = Figure(figsize=(width * k, height + 1.6), layout="constrained")
    axes = fig.subplots(1, k, sharex=True, sharey=sharey, squeeze=False)[0]
    for ax, title in zip(axes, groups):
        ax.set_title(title, fontsize=10)
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    return fig, dict(zip(groups, axes))


def legend_below(ax, ncol: int = 1, **kw) -> None:
    """The panel's legend under its x-axis label, outside the data."""
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=ncol, fontsize=8, frameon=False, **kw)


def label_x(axes, x: str) -> None:
    for ax in axes:
        ax.set_xlabel(X_AXES[x], fontsize=9)


def reference_legend(fig, handles) -> None:
    """The reference lines' labels, once, under the panels."""
    if handles:
        leg = fig.legend(
            handles=handles, loc="outside lower center", ncol=len(handles), fontsize=8, frameon=False
        )
        leg.set_in_layout(True)
