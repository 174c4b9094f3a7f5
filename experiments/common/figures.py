"""What every study figure shares: log-scale floors, panels by measured behaviour, styles, legends, x-ranges,
coinciding curves, and the stamp that ties a saved figure to the code that drew it."""

from __future__ import annotations

import ast
import hashlib
import inspect
import math
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from .cli import X_AXES

PLOT_FLOOR = 1e-17

# What a gap trace does (see :func:`behaviour`), in the panels' order; the panels' titles.
REACHES = "reaches the level"
FALLING = "still falling, above the level"
PLATEAU = "plateaus above the level"
NO_CONVERGENCE = "does not converge (rises or oscillates)"
BEHAVIOURS = (REACHES, FALLING, PLATEAU, NO_CONVERGENCE)
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)))
#: The key under which a PNG written by :func:`experiments.common.output.save_figure` carries :func:`stamp`.
STAMP_KEY = "figure code"


def plot_floor(values, floor: float = PLOT_FLOOR):
    """Values for a log-scale axis: zeros (and round-off negatives) drawn at ``floor``; data untouched."""
    return np.maximum(np.asarray(values, dtype=np.float64), floor)


def behaviour(gap, level: float, *, tail: float = 1 / 3, slope: float = -0.25, flat: float = 0.1) -> str:
    """One of :data:`BEHAVIOURS`, read from a recorded gap trace (never from a rule's name); raises
    ``ValueError`` for an empty trace or a non-positive ``level``.

    :data:`REACHES`: the last gap is at or below ``level``. Otherwise, over the last ``tail`` of the records
    (at least 4), ``log10`` gap against ``log10`` record number, from the medians of the tail's two halves
    (robust to oscillation): :data:`FALLING` when that rate is below ``slope`` (averaged MWU's ``~t**-0.45``
    on the paper's game) and the second half's maximum is below the first's; :data:`PLATEAU` when the tail
    spans at most ``flat`` decades below the first record (flat above it is a policy stuck away from any
    equilibrium, e.g. iterative DPO at a vertex); :data:`NO_CONVERGENCE` otherwise, or if not finite."""
    g = np.asarray(gap, dtype=np.float64).ravel()
    if g.size == 0:
        raise ValueError("behaviour: the gap trace is empty")
    if not level > 0:
        raise ValueError(f"behaviour: level must be positive, got {level!r}")
    if not np.isfinite(g).all():
        return NO_CONVERGENCE
    if g[-1] <= level:
        return REACHES
    k = min(g.size, max(4, math.ceil(tail * g.size)))
    t = np.log10(plot_floor(g[-k:]))
    n, h = np.log10(np.arange(g.size - k, g.size) + 1.0), k // 2
    rate = (np.median(t[h:]) - np.median(t[:h])) / (np.median(n[h:]) - np.median(n[:h])) if h else 0.0
    if h and rate < slope and t[h:].max() < t[:h].max():
        return FALLING
    if t.max() - t.min() <= flat and t.max() < np.log10(plot_floor(g[0])):
        return PLATEAU
    return NO_CONVERGENCE


def by_behaviour(gaps: Mapping[str, np.ndarray], level: float) -> dict[str, list[str]]:
    """Labels grouped by :func:`behaviour` of their gap trace, in the order of :data:`BEHAVIOURS` (empty
    groups left out), each group in the given order."""
    kind = {lab: behaviour(g, level) for lab, g in gaps.items()}
    groups = {b: [lab for lab in gaps if kind[lab] == b] for b in BEHAVIOURS}
    return {b: labs for b, labs in groups.items() if labs}


def panel_title(group: str, level: float) -> str:
    """A behaviour group's panel title with its level written out."""
    return group.replace("the level", f"the level {level:g}") if group != NO_CONVERGENCE else group


def coincident(curves: Mapping[str, tuple], *, rtol: float = 1e-9, atol: float = 1e-13) -> list[list[str]]:
    """Groups (in the given order, singletons included) of labels whose ``(x, y)`` curves are equal: same x
    and ``|y_a - y_b| <= atol * max|y| + rtol * |y_b|`` (a gap at the float64 floor differs in round-off)."""
    groups: list[list[str]] = []
    for lab, (x, y) in curves.items():
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        for grp in groups:
            gx, gy = (np.asarray(v, dtype=np.float64) for v in curves[grp[0]])
            if x.shape == gx.shape and y.shape == gy.shape and np.array_equal(x, gx):
                scale = max(np.nanmax(np.abs(y), initial=0.0), np.nanmax(np.abs(gy), initial=0.0))
                if np.allclose(y, gy, rtol=rtol, atol=atol * scale, equal_nan=True):
                    grp.append(lab)
                    break
        else:
            groups.append([lab])
    return groups


def styles(groups: Mapping[str, Sequence[str]]) -> dict[str, dict]:
    """A distinct colour (tab10) and line style per label within its panel (``groups``: panel -> labels);
    COMAL drawn thicker, under the others."""
    import matplotlib as mpl

    cmap = mpl.colormaps["tab10"]
    out = {}
    for labs in groups.values():
        for i, lab in enumerate(labs):
            out[lab] = {
                "color": cmap(i % 10),
                "ls": LINESTYLES[i % len(LINESTYLES)],
                "lw": 2.4 if lab.startswith("comal") else 1.5,
                "zorder": 1.9 if lab.startswith("comal") else 2.0,  # thin lines over thick: both show
            }
    return out


#: Panels in one row of :func:`panel_figure`; more wrap into further rows.
PANELS_PER_ROW = 4


def panel_figure(
    titles: Sequence[str], *, width: float = 4.3, height: float = 3.6, suptitle: str = "", sharey: bool = True
):
    """``(fig, {title: ax})``: a :class:`matplotlib.figure.Figure` (the global backend untouched) with one
    panel per title, :data:`PANELS_PER_ROW` to a row."""
    from matplotlib.figure import Figure

    k = len(titles)
    cols, rows = min(k, PANELS_PER_ROW), -(-k // PANELS_PER_ROW)
    fig = Figure(figsize=(width * cols, (height + 1.2) * rows + 0.4), layout="constrained")
    axes = fig.subplots(rows, cols, sharey=sharey, squeeze=False).ravel()
    for ax in axes[k:]:
        ax.axis("off")
    for ax, title in zip(axes, titles):
        ax.set_title(title, fontsize=10)
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    return fig, dict(zip(titles, axes))


def draw_curves(ax, curves: Mapping[str, tuple], style: Mapping[str, dict], **kw) -> list:
    """Each curve ``label -> (x, y)`` on ``ax`` (y at :func:`plot_floor`); curves equal to round-off
    (:func:`coincident`) drawn once, under one legend entry ``"a = b"``. Returns the drawn lines."""
    lines = []
    for grp in coincident(curves):
        x, y = curves[grp[0]]
        lines += ax.plot(x, plot_floor(y), label=" = ".join(grp), **{**style[grp[0]], **kw})
    return lines


def set_x_range(ax, xs: Sequence, *, ratio: float = 3.0) -> None:
    """The panel's own x-range over the x of its curves; symmetric-log when the curves' ends differ by more
    than ``ratio`` (one long run, e.g. ``comal_exact``'s inner solves, would squeeze the others)."""
    ends = [float(np.max(x)) for x in xs if np.size(x) and np.max(x) > 0]
    if not ends:
        return
    if max(ends) > ratio * min(ends):
        firsts = [float(np.min(np.asarray(x)[np.asarray(x) > 0])) for x in xs if np.any(np.asarray(x) > 0)]
        # symmetric log: linear below the first positive record, so a record at x = 0 is drawn where it is
        # (a log axis would drop it and turn a first drop into a flat line)
        ax.set_xscale("symlog", linthresh=min(firsts))
        ax.set_xlim(0, max(ends) * 1.2)
        ax.set_xlabel(ax.get_xlabel() + " (log beyond the first record)", fontsize=9)
    else:
        ax.set_xlim(-0.02 * max(ends), max(ends) * 1.02)


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


def _module(name: str) -> str:
    """A module's importable name: ``python -m experiments.paper`` runs it as ``__main__``."""
    spec = getattr(sys.modules.get(name), "__spec__", None) if name == "__main__" else None
    return spec.name if spec is not None else name


def _strip(tree) -> str:
    """A syntax tree without docstrings, positions or comments: what a reformatting leaves unchanged."""
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            if isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, annotate_fields=False)


def _drawing_code(functions) -> set[str]:
    """``"name\ncode"`` (:func:`_strip`) of ``functions`` and of the functions they name here, in their own
    module or in the experiments modules it imports, followed through the helpers, and ``"name=value"`` of the
    constants they name. By name, not module: a helper moved to another module, or a reformatted docstring, is
    the same drawing code."""
    out, seen, todo = set(), set(), list(functions)
    while todo:
        fn = todo.pop()
        if fn in seen:
            continue
        seen.add(fn)
        out.add(f"{fn.__qualname__}\n{_strip(ast.parse(textwrap.dedent(inspect.getsource(fn))))}")
        names, codes = set(), [fn.__code__]
        while codes:
            code = codes.pop()
            names |= set(code.co_names)
            codes += [c for c in code.co_consts if inspect.iscode(c)]
        modules = [
            m for m in fn.__globals__.values() if inspect.ismodule(m) and m.__name__.startswith("experiments")
        ]
        for name in sorted(names):
            for space in (fn.__globals__, globals(), *map(vars, modules)):  # results.gap_figure too
                v = space.get(name)
                if inspect.isfunction(v) and v.__module__.startswith("experiments"):
                    todo.append(v)
                elif isinstance(v, (str, int, float, tuple, dict)) and not name.startswith("__"):
                    out.add(f"{name}={v!r}")
    return out


def stamp(*functions: Callable) -> str:
    """``"sha256:<hex>"`` of :func:`_drawing_code` (followed by name: a same-named helper counts too, erring
    towards "changed"): what a PNG records under :data:`STAMP_KEY`, so a figure older than its code shows."""
    return "sha256:" + hashlib.sha256("\n".join(sorted(_drawing_code(functions))).encode()).hexdigest()


def drawn_by(*functions: Callable) -> dict[str, str]:
    """The PNG text fields (``drawn_by=`` of :func:`experiments.common.output.save_figure`) of a figure drawn
    by ``functions``: their ``"module:qualname ..."`` under ``"figure functions"``, and :func:`stamp`."""
    names = " ".join(f"{_module(fn.__module__)}:{fn.__qualname__}" for fn in functions)
    return {"figure functions": names, STAMP_KEY: stamp(*functions)}


def read_stamp(path) -> dict[str, str]:
    """The text fields of a PNG (``{}`` when it has none): what :func:`drawn_by` wrote."""
    from PIL import Image

    with Image.open(path) as im:
        return dict(getattr(im, "text", {}) or {})
