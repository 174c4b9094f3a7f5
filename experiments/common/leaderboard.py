"""The suite's report from its tables: the Markdown leaderboard and two figures.

``cells``: one row per (rule, column) with the median final gap, its interval and its rank (``suite.summarize``);
``pairs``: the paired comparisons of every two rules per column (:func:`experiments.common.compare.compare`).
"""

from __future__ import annotations

import io

import numpy as np

from . import compare, output, tables

#: The scopes ranked separately: (title, mask of pairs rows).
SCOPES = (
    ("all columns", lambda p: None),
    ("exact feedback", lambda p: p.feedback == "exact"),
    ("sampled and noisy feedback", lambda p: p.feedback != "exact"),
)


#: A rule-against-rule line names the columns of a verdict when there are at most this many.
NAMED = 3


def _x(effect) -> str:
    """A median log10 ratio as a factor on the gap: ``x0.0012``, ``x3.2``."""
    return f"x{10.0**effect:.2g}"


def rankings(pairs, order) -> dict:
    """``{scope title: ranking frame}`` over all columns, exact feedback, and sampled/noisy feedback."""
    out = {}
    for title, mask in SCOPES:
        m = mask(pairs)
        if m is None or m.any():
            out[title] = compare.ranking(pairs, order, m)
    return out


def versus(pairs, rule: str, other: str) -> str:
    """``rule`` against ``other``: where better and where worse, with the factors on the gap (the columns by name
    when at most :data:`NAMED`, else per feedback and the range), and how many columns cannot tell."""
    p = pairs[(pairs.rule == rule) & (pairs.other == other)]
    parts = []
    for v in ("better", "worse"):
        q = p[p.verdict == v].sort_values("effect")
        if 0 < len(q) <= NAMED:
            named = "; ".join(f"{c} {_x(e)}" for c, e in zip(q.column, q.effect))
            parts.append(f"{v} in {len(q)} ({named})")
        elif len(q):
            lo, hi = _x(q.effect.iloc[0]), _x(q.effect.iloc[-1])
            where = ", ".join(f"{f} {n}" for f, n in q.groupby("feedback", sort=False).size().items())
            parts.append(f"{v} in {len(q)} ({where}; {lo if lo == hi else f'{lo} to {hi}'})")
    parts.append(f"cannot tell in {int((p.verdict == 'cannot tell').sum())}")
    return ", ".join(parts)


def leaderboard(cells, pairs, order, focus: str | None = None) -> str:
    """The Markdown leaderboard: rankings by paired verdicts, the undecided columns, one line per rule against
    each other rule, ``focus`` against each rule per column (if given), per game the median final gaps."""
    lines = [
        "## Ranking by paired verdicts\n",
        "Per column (game, feedback [@budget]), every two rules are compared on paired runs (same seeds, starts "
        "and games): the Wilcoxon signed-rank test of log10(gap A / gap B), Holm-adjusted over the pair's "
        f"columns, alpha = {compare.ALPHA}. Score: significant wins minus losses over columns and opponents. "
        "Equal scores share a rank; rules that no column tells apart are one row (a = b).",
    ]
    for title, board in rankings(pairs, order).items():
        lines += [f"\n### {title}\n", tables.table(board.to_numpy().tolist(), list(board.columns))]
    floor = compare.undecided(pairs)
    listed = ", ".join(f"`{c}`" for c in floor) or "none"
    lines += [
        f"\n## Columns that decide nothing: {len(floor)} of {pairs.column.nunique()}\n",
        "No pair of rules is told apart there (every rule at the same floor, or the runs cannot tell): "
        f"{listed}.",
        "\n## Rule against rule\n\nFactors: median over runs of gap / the other's gap, per column.\n",
    ]
    for rule in [r for r in order if r in set(pairs.rule)]:
        others = [o for o in order if o != rule and o in set(pairs.other[pairs.rule == rule])]
        lines.append(f"- **{rule}**: " + "; ".join(f"vs {o}: {versus(pairs, rule, o)}" for o in others))
    if focus is not None and focus in set(pairs.rule):
        lines += [
            f"\n## {focus} against each rule, per column\n",
            "Effect: median of gap / the other's gap [95 % bootstrap interval]; P(better): share of paired runs "
            "with the smaller gap [interval]; p: Holm-adjusted Wilcoxon.\n",
        ]
        body = []
        for r in pairs[pairs.rule == focus].itertuples():
            effect = f"{_x(r.effect)} [{_x(r.effect_lo)}, {_x(r.effect_hi)}]"
            better = f"{r.p_improve:.2f} [{r.p_improve_lo:.2f}, {r.p_improve_hi:.2f}]"
            body.append((r.other, r.column, effect, better, f"{r.p_holm:.2g}", r.verdict))
        lines.append(tables.table(body, ["against", "column", "effect", "P(better)", "p", "verdict"]))
    for game in dict.fromkeys(cells.game):
        part = cells[cells.game == game]
        cols = list(dict.fromkeys(part.column))
        body = []
        for rule in order:
            by = part[part.rule == rule].set_index("column")
            if len(by):
                body.append([rule] + [_cell(by.loc[c]) if c in by.index else "n/a" for c in cols])
        lines.append(f"\n## {game}: final gap, median [95 % bootstrap interval] (rank of the median)\n")
        lines.append(tables.table(body, ["rule", *[c.split(", ", 1)[1] for c in cols]]))
    return "\n".join(lines)


def _cell(x) -> str:
    """A median final gap, its interval and rank: ``2.4e-02 [2.3e-02, 2.5e-02] (1.5)``; n/a if not finite."""
    med, lo, hi = ("n/a" if not np.isfinite(v) else f"{v:.1e}" for v in (x.gap_median, x.gap_lo, x.gap_hi))
    return f"{med} [{lo}, {hi}] ({x['rank']:g})"


def panels(cells) -> list[tuple[str, object]]:
    """``(title, cells of one feedback and budget)``: a game's column in each panel; several budgets of one
    feedback are told apart by their share of the largest."""
    share = cells.budget / cells.groupby(["game", "feedback"])["budget"].transform("max")
    label = [f if s == 1 else f"{f} at {s:.2g} of the budget" for f, s in zip(cells.feedback, share)]
    cells = cells.assign(panel=label)
    return [(p, cells[cells.panel == p]) for p in dict.fromkeys(label)]


def heatmap(cells, order):
    """A Figure of the median final gap, rules x games, one panel per feedback (and budget); colour: its log10
    over the data's whole decades."""
    from matplotlib.figure import Figure

    from . import figures

    rows = [r for r in order if r in set(cells.rule)]
    games = list(dict.fromkeys(cells.game))
    logs = np.log10(figures.plot_floor(cells.gap_median.to_numpy()))
    finite = logs[np.isfinite(logs)]
    vmin = np.floor(finite.min()) if finite.size else -16.0
    vmax = max(np.ceil(finite.max()), vmin + 1) if finite.size else 0.0
    parts = panels(cells)
    fig = Figure(
        figsize=(0.95 * len(games) + 3.2, len(parts) * (0.24 * len(rows) + 1.4)), layout="constrained"
    )
    axes = np.atleast_1d(fig.subplots(len(parts), 1))
    for ax, (title, part) in zip(axes, parts):
        M = np.full((len(rows), len(games)), np.nan)
        for r in part.itertuples():
            M[rows.index(r.rule), games.index(r.game)] = np.log10(figures.plot_floor(r.gap_median))
        im = ax.imshow(M, cmap="viridis_r", aspect="auto", vmin=vmin, vmax=vmax)
        for (i, j), v in np.ndenumerate(M):
            if np.isfinite(v):
                color = "w" if v > (vmin + vmax) / 2 else "k"  # viridis_r: high values are dark
                ax.text(j, i, f"{10**v:.1e}", ha="center", va="center", fontsize=7, color=color)
        ax.set_xticks(range(len(games)), games, rotation=30, ha="right", fontsize=8)
        ax.set_yticks(range(len(rows)), rows, fontsize=8)
        ax.set_facecolor("0.85")
        ax.set_title(title, fontsize=9)
    fig.suptitle("median final gap at equal budget (grey: the rule cannot run there)", fontsize=10)
    fig.colorbar(im, ax=list(axes), label="log10 median final gap", shrink=0.5)
    return fig


def improvement_figure(pairs, order):
    """A Figure of P(row's gap < column's gap), rule against rule (mean over the columns both run) with the
    row's significant wins/losses, one panel for exact and one for sampled and noisy feedback."""
    from matplotlib.figure import Figure

    rules = [r for r in order if r in set(pairs.rule)]
    scopes = [(t, m(pairs)) for t, m in SCOPES[1:] if len(pairs) and m(pairs).any()]
    n = len(rules)
    if not scopes or n < 2:
        fig = Figure(figsize=(5, 1.5), layout="constrained")
        fig.text(0.5, 0.5, "one rule: nothing to compare", ha="center", va="center")
        return fig
    fig = Figure(figsize=(0.5 * n + 3.5, len(scopes) * (0.42 * n + 1.5)), layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(scopes), 1))
    size = 7 if n <= 12 else 5
    for ax, (title, mask) in zip(axes, scopes):
        p = pairs[mask]
        mean = p.groupby(["rule", "other"]).p_improve.mean()
        won = p[p.verdict == "better"].groupby(["rule", "other"]).size()
        lost = p[p.verdict == "worse"].groupby(["rule", "other"]).size()
        M = np.full((n, n), np.nan)
        for (a, b), v in mean.items():
            M[rules.index(a), rules.index(b)] = v
        im = ax.imshow(M, cmap="RdBu", vmin=0, vmax=1, aspect="auto")
        for (i, j), v in np.ndenumerate(M):
            if np.isfinite(v):
                text = f"{v:.2f}\n{won.get((rules[i], rules[j]), 0)}/{lost.get((rules[i], rules[j]), 0)}"
                color = "w" if abs(v - 0.5) > 0.3 else "k"
                ax.text(j, i, text, ha="center", va="center", fontsize=size, color=color)
        ax.set_xticks(range(n), rules, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(n), rules, fontsize=8)
        ax.set_facecolor("0.85")
        ax.set_title(title, fontsize=9)
    fig.suptitle(
        "P(row's gap < column's gap), mean over columns\nbelow: the row's significant wins / losses",
        fontsize=10,
    )
    fig.colorbar(im, ax=list(axes), label="probability of improvement (blue: row better)", shrink=0.5)
    return fig


def save_png(fig, path) -> None:
    """``fig`` at 100 dpi, re-encoded in 256 colours: a full suite's panels stay legible and under ~250 KB."""
    from PIL import Image

    with Image.open(output.save_figure(fig, path, dpi=100)) as png:
        small = png.convert("RGB").quantize(256)
    buf = io.BytesIO()
    small.save(buf, format="png", optimize=True)
    output.atomic_write(path, buf.getvalue())
