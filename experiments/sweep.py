"""Hyperparameter sensitivity: an ``eta x tau`` grid per rule (one vmapped sweep each), and COMAL's inner steps.

Heatmaps of the final last-iterate gap and of the steps to gap ``--level`` per rule, then COMAL(INPO) with ``K``
inner steps per outer step for several ``K`` at ``eta = 0.5, tau = 0.1``. Writes ``trace.csv``, ``summary.csv``,
``sweep.png``.

    python -m experiments sweep [--quick] [--rules inpo,comal] [--steps 5000] [--games condorcet_cycle:n=5,p=0.8]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .common import cli, figures, output, study, tables

STUDY = "sweep"
#: The K runs' point (the rules' declared defaults); no grid eta, 0.05 * 20^t, is 0.5: it tells them apart.
K_POINT = {"eta": 0.5, "tau": 0.1}


@dataclass(frozen=True)
class Config(study.Runs):
    rules: tuple = study.rules("inpo,mmd,nash_md,egpo,comal", "one grid each; each must take eta and tau")
    games: tuple = study.games("comal_cycle", "one heatmap figure each (default comal_cycle)")
    hp: tuple = study.hp("eta and tau are the grid axes; the K runs take --feedback, not --hp")
    steps: int = study.steps(5000, quick=1000)
    x: str = study.x_axis("steps", "unit of the cost to --level in the summary (the heatmaps count steps)")
    jobs: int = study.jobs()
    record_every: int = study.option(
        50, "record the metrics every this many steps and at step 0 (default 50)"
    )
    level: float = study.option(
        1e-6, "gap threshold for 'steps to level' and 'share reaching it' (default 1e-6)"
    )
    grid: int = study.option(8, "points per axis: eta in [0.05, 1], tau in [0.01, 1], log-spaced", quick=4)
    inner_steps: tuple = study.option(
        "10,30,100,300,1000",
        "the K of the COMAL(INPO, K) runs, comma-separated; empty: none",
        quick="10,100",
        parse=lambda text: tuple(cli.positive_int("--inner-steps")(t) for t in text.split(",") if t.strip()),
    )


def axes(c: Config):
    return np.geomspace(0.05, 1.0, c.grid), np.geomspace(0.01, 1.0, c.grid)  # eta * tau <= 1


def prepare(c: Config) -> Config:
    """:func:`~experiments.common.checks.check_grid` at the grid's corners and the K point; the K runs on every
    game."""
    import algorithms

    (etas, taus) = axes(c)
    corners = [{"eta": etas[i], "tau": taus[i]} for i in (0, -1)]
    c = study.check_grid(c, tuple(K_POINT), [*corners, K_POINT])
    for item in study.game_items(c):
        game = study.load_game(item, c.dtype, c.seed).game
        for k in c.inner_steps:
            algorithms.comal(algorithms.inpo(), k).init(game, c.seed, **K_POINT)
    return c


def units(c: Config):
    """Per game the grids, then the K runs (one run each: shorter than a grid)."""
    items = study.game_items(c)
    grids = [((i, t), ("grid", i, t)) for i in items for t in c.rules]
    return grids + [((i, f"K={k}"), ("K", i, k)) for i in items for k in c.inner_steps]


def simulate(c: Config, kind: str, item: str, what) -> dict:
    import algorithms

    gs, fb = study.load_game(item, c.dtype, c.seed), cli.feedback_type(c.feedback)
    run = dict(steps=c.steps, record_every=c.record_every, feedback=fb)
    if kind == "grid":
        rule, (etas, taus) = study.load_rule(what), axes(c)
        seeds = {"seeds": [c.seed]} if fb.stochastic else {}  # exact feedback: no key, no seed axis
        tr = algorithms.sweep(rule, gs.game, **run, **seeds, **study.hparams(c, rule), eta=etas, tau=taus)
    else:
        rule = algorithms.comal(algorithms.inpo(), what)
        tr = algorithms.run(rule, gs.game, **run, key=c.seed, **K_POINT)
    return {"trace": tables.tidy(tr, experiment=STUDY, game=gs.label, rule=rule.name, seed=c.seed)[0]}


def _runs(d, shape):
    """``(gaps, cost in --x, steps)``, each ``[*shape, R + 1]``, of one rule's runs (eta-major, as swept)."""
    d = d[d["metric"] == "gap"].sort_values(["eta", "tau", "step"], kind="stable")
    return (d[col].to_numpy(np.float64).reshape(*shape, -1) for col in ("value", "x", "step"))


def report(c: Config, t: dict, folder) -> dict:
    import algorithms

    df = t["trace"].assign(x=lambda d: d[tables.x_column(c.x)])
    df["at_k"] = np.isclose(df[list(K_POINT)], list(K_POINT.values()), rtol=1e-6).all(axis=1)  # the K runs
    (etas, taus), unit, lv = axes(c), c.x.replace("_", " "), f"{c.level:g}"
    labels = [study.load_rule(r).name for r in c.rules]
    k_labels = [algorithms.comal(algorithms.inpo(), k).name for k in c.inner_steps]
    header = ("rule", f"grid share with gap <= {lv}", "best eta", "best tau", "its final gap")
    header += (f"its {unit} to {lv}",)
    rows = []
    for _, gs, tag in study.each_game(c):
        d, summary, heat = df[df["game"] == gs.label], [], {}
        for label in labels:
            gaps, x, steps = _runs(d[(d["rule"] == label) & ~d["at_k"]], (len(etas), len(taus)))
            final, first = gaps[..., -1], tables.first_below(x, gaps, c.level)
            heat[label] = (final, tables.first_below(steps, gaps, c.level))  # the heatmaps count steps
            # the best point: the cheapest to reach --level, else the lowest final gap
            score = np.where(np.isnan(first), np.inf, first) if np.isfinite(first).any() else final
            b = np.unravel_index(np.argmin(score), final.shape)
            cost = "never" if np.isnan(first[b]) else int(first[b])
            share = f"{np.mean(final <= c.level):.0%}"
            summary.append((label, share, f"{etas[b[0]]:.3g}", f"{taus[b[1]]:.3g}", f"{final[b]:.3e}", cost))
        rows += [(gs.label, *r) for r in summary]
        fig = heatmaps(heat, etas, taus, c.steps, c.level, gs.label)
        output.save_figure(fig, folder / f"sweep{tag}.png", drawn_by=figures.drawn_by(heatmaps))
        fb = cli.feedback_type(c.feedback).name
        print(f"{gs.label}: eta x tau grids, {c.steps} steps, {c.dtype}, {fb} feedback")
        print(tables.table(summary, header))
        k_runs = {label: _runs(d[(d["rule"] == label) & d["at_k"]], ()) for label in k_labels}
        k_rows = [(k, f"{g[-1]:.3e}", tables.steps_to(x, g, c.level)) for k, (g, x, _) in k_runs.items()]
        if k_rows:
            print("\nCOMAL (INPO inner, eta=0.5, tau=0.1) by inner steps K:")
            print(tables.table(k_rows, ("rule", "final gap", f"{unit} to {lv}")))
    study.write_summary(folder, rows, header, len(study.game_items(c)))
    grid = {"eta": etas.tolist(), "tau": taus.tolist()}
    return {"rules": [*labels, *k_labels], "grid": grid, "K_runs": K_POINT}


def heatmaps(results, etas, taus, steps, level, game):
    """Two rows of heatmaps per rule: log10 final gap, and steps to ``level`` with 'never reached' in its own
    named colour. Returns a :class:`matplotlib.figure.Figure`."""
    import matplotlib as mpl
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    k = len(results)
    fig = Figure(figsize=(2.9 * k + 1.6, 6.4), layout="constrained")
    axes = fig.subplots(2, k, squeeze=False, sharex=True, sharey=True)
    gap_cmap = mpl.colormaps["viridis"]
    step_cmap = mpl.colormaps["plasma_r"].copy()
    step_cmap.set_bad("0.82")  # never reached: light grey, named in the legend
    logs = {label: np.log10(figures.plot_floor(final)) for label, (final, _) in results.items()}
    vmin = max(-17.0, np.floor(min(v.min() for v in logs.values())))  # the colours span the data
    cell = dict(ha="center", va="center", fontsize=6)
    for c, (label, (final, first)) in enumerate(results.items()):
        im = axes[0, c].imshow(logs[label], origin="lower", cmap=gap_cmap, vmin=vmin, vmax=0, aspect="auto")
        for (i, j), v in np.ndenumerate(final):
            dark = (logs[label][i, j] - vmin) / (0 - vmin) < 0.5
            axes[0, c].text(j, i, f"{v:.0e}", color="white" if dark else "black", **cell)
        axes[0, c].set_title(label, fontsize=10)
        never = np.ma.masked_invalid(first)
        im2 = axes[1, c].imshow(never, origin="lower", cmap=step_cmap, vmin=0, vmax=steps, aspect="auto")
        for i, j in np.argwhere(np.isnan(first)):
            axes[1, c].text(j, i, "never", color="0.35", **cell)
        for ax in axes[:, c]:
            ax.set_xticks(range(len(taus)), [f"{t:.2g}" for t in taus], rotation=45, ha="right", fontsize=7)
            ax.set_yticks(range(len(etas)), [f"{e:.2g}" for e in etas], fontsize=7)
        axes[1, c].set_xlabel("τ (KL weight)", fontsize=9)
    axes[0, 0].set_ylabel("η (step size)\n\nlog10 final gap", fontsize=9)
    axes[1, 0].set_ylabel(f"η (step size)\n\nsteps to gap ≤ {level:g}", fontsize=9)
    fig.colorbar(im, ax=axes[0, :].tolist(), shrink=0.9, label="log10 final gap (exact zeros at -17)")
    fig.colorbar(im2, ax=axes[1, :].tolist(), shrink=0.9, label=f"first step with gap ≤ {level:g} to the end")
    grey = Patch(facecolor="0.82", edgecolor="0.5", label=f"never reached {level:g} within {steps} steps")
    fig.legend(handles=[grey], loc="outside lower center", fontsize=8, frameon=False)
    fig.suptitle(f"{game}: final last-iterate gap and steps to {level:g} over the η × τ grid", fontsize=11)
    return fig


REFUSES = {
    "schedules": "eta and tau are this study's grid axes: every run holds them constant",
    "seeds": "one run per grid point, at --seed (exact feedback is deterministic)",
}
STUDY_DECL, main = study.declare(globals(), refuses=REFUSES)
