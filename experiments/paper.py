"""The paper's synthetic study (Liu et al., arXiv 2410.23223, Sec. 5) in one command.

Every rule of ``algorithms.RULES`` on ``comal_cycle()`` at the rules' declared defaults, 5000 steps, metrics
recorded every 10 steps (the design: ``docs/studies/paper.md``). Writes ``trace.csv``, ``policies.csv``,
``summary.csv``, ``gap.png``/``gap.pdf`` and ``simplex.png`` (one each per game); prints the summary and the
pairwise win rates of the final policies.

    python -m experiments paper [--quick]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .common import cli, figures, gamespec, output, results, study, tables

STUDY = "paper"
#: A reference level only float64 can resolve (float32 stalls near 2e-7).
DEEP_LEVEL = 1e-11


@dataclass(frozen=True)
class Config(study.Runs):
    steps: int = study.steps(5000, quick=1000)
    x: str = study.x_axis("oracle_calls")
    record_every: int = study.option(
        10, "record the metrics every this many steps, and at step 0 (default 10)"
    )
    level: float = study.option(1e-6, "gap threshold for 'steps to level' (default 1e-6)")
    tau_line: float = study.option(0.1, "tau of the regularized-equilibrium reference line (default 0.1)")


def simulate(c: Config, item: str, source: str) -> dict:
    import algorithms
    import games

    gs, rule = study.load_game(item, c.dtype, c.seed), study.load_rule(source)
    fb, nash = cli.feedback_type(c.feedback), gamespec.solved(games.solve, gs.game)
    run = dict(steps=c.steps, record_every=c.record_every, key=c.seed, feedback=fb, record_policy=True)
    trace = algorithms.run(rule, gs.game, **run, nash=nash, **study.hparams(c, source))
    m, pol = tables.tidy(trace, experiment=STUDY, game=gs.label, rule=rule.name, seed=c.seed)
    return {"trace": m, "policies": pol}


def report(c: Config, t: dict, folder) -> dict:
    import games

    df, policies = t["trace"], t["policies"]
    if nonfinite := sorted(df.loc[~df["finite"], "rule"].unique()):
        cli.note(f"non-finite values in: {', '.join(nonfinite)} (see the finite column of trace.csv)")
    rows, reg_gaps = [], {}
    for _, gs, tag in study.each_game(c):
        game, d, pol = gs.game, df[df["game"] == gs.label], policies[policies["game"] == gs.label]
        miss = f"{gs.label}: no exact equilibrium, kl_to_nash is not recorded"
        nash = gamespec.solved(games.solve, game, note=miss)
        miss = f"{gs.label}: regularized-equilibrium line (tau={c.tau_line:g}) skipped"
        reg = gamespec.solved(games.regularized_equilibrium, game, c.tau_line, note=miss)
        summary, header = summarize(d, c.level)
        rows += [(gs.label, *r) for r in summary]
        reg_gap = reg_gaps[gs.label] = None if reg is None else reg.gap
        lines = dict(reg_gap=reg_gap, tau=c.tau_line, dtype=c.dtype, game=gs.label, level=c.level)
        fig = gap_figure(d, x=c.x, **lines)
        output.save_figure(fig, folder / f"gap{tag}.png", drawn_by=figures.drawn_by(gap_figure))
        output.save_figure(fig, folder / f"gap{tag}.pdf")
        if nash is not None and game.shape == (3, 3) and not game.contextual:
            fig = simplex_figure(d, pol, nash, reg, level=c.level)
            output.save_figure(fig, folder / f"simplex{tag}.png", drawn_by=figures.drawn_by(simplex_figure))
        else:
            cli.note(f"{gs.label}: simplex.png is drawn for 3x3 single-prompt games only; skipped")
        tail = "" if reg is None else f"; regularized-equilibrium gap at tau={c.tau_line:g}: {reg.gap:.4g}"
        print(f"{gs.label}, {c.steps} steps, {c.dtype}, {c.feedback} feedback{tail}")
        print(tables.table(summary, header))
        if game.preference and not game.contextual:
            print(f"\n{win_rate_table(pol, game)}")
    study.write_summary(folder, rows, header, len(study.game_items(c)))
    finite = {k: bool(g["finite"].all()) for k, g in df.groupby("rule", sort=False)}
    return {"finite": finite, "regularized_gap": reg_gaps}  # per game label, at --tau-line


def summarize(d, level: float):
    """One row per rule of a one-seed tidy trace frame: hyperparameters, final gap and worst-case win rate,
    steps to ``level``, final KL to the Nash policy."""
    header = ("rule", "hparams", "final gap", "worst-case win rate", f"steps to gap {level:g}", "KL(pi*||pi)")
    rows = []
    for rule, g in d.groupby("rule", sort=False):
        steps, gap = tables.curve(g, "gap", "step")
        win, kl = (
            format(tables.curve(g, m, "step")[1][-1], f) if (g["metric"] == m).any() else ""
            for m, f in (("win_rate", ".6f"), ("kl_to_nash", ".3e"))
        )
        to_level = tables.steps_to(steps, gap, level)
        rows.append((rule, tables.hparams_of(g), f"{gap[-1]:.3e}", win, to_level, kl))
    return rows, header


def _trajectories(pol) -> dict:
    """``rule -> [R + 1, n]`` row-policy probabilities of a one-seed policies frame."""
    x = pol[pol["player"] == "x"].sort_values(["step", "action"], kind="stable")
    return {
        r: g["probability"].to_numpy().reshape(-1, g["action"].nunique())
        for r, g in x.groupby("rule", sort=False)
    }


def win_rate_table(pol, game) -> str:
    from games import metrics

    traj = _trajectories(pol)
    labels = list(traj)
    W = 100 * np.asarray(metrics.pairwise_win_rates(game, np.stack([p[-1] for p in traj.values()])))
    rows = [[f"{i + 1} {lab}", *(f"{w:.1f}" for w in W[i])] for i, lab in enumerate(labels)]
    head = "pairwise win rates of the final policies (row beats column, %; columns numbered as rows):\n"
    return head + tables.table(rows, ["", *(str(i + 1) for i in range(len(labels)))])


def gap_figure(df, *, x="oracle_calls", reg_gap=None, tau=None, dtype="float64", game="", level=1e-6):
    """The last-iterate gap of every rule in ``df`` (a tidy trace): :func:`experiments.common.results.gap_figure`
    with the paper's reference lines: ``level``, the regularized equilibrium's gap (where the regularized rules
    end) and, in float64 only, 1e-11. Curves equal to round-off are drawn once, named together."""
    refs = [dict(y=level, color="tab:green", ls=(0, (1, 3)), lw=1.2, label=f"level {level:g} (--level)")]
    if reg_gap is not None:
        label = f"gap of the regularized equilibrium (τ={tau:g})"
        refs.append(dict(y=reg_gap, color="0.45", ls=(0, (6, 3)), label=label))
    if dtype == "float64":
        refs.append(
            dict(y=DEEP_LEVEL, color="black", label="gap 1e-11 (float64 only; float32 stalls near 2e-7)")
        )
    title = f"{game}: last-iterate duality gap (exact zeros drawn at {figures.PLOT_FLOOR:g})"
    return results.gap_figure(df, x="step" if x == "steps" else x, level=level, refs=refs, title=title)


def _tri(p):
    p = np.asarray(p)
    return p[..., 1] + 0.5 * p[..., 2], (np.sqrt(3) / 2) * p[..., 2]


def simplex_figure(d, pol, nash, reg, *, level: float = 1e-6, ncols: int = 6):
    """Every rule's row-policy trajectory on the simplex, one panel per rule in the gap figure's order, zoomed to
    the trajectory, the Nash and the regularized policy (the panel prints the window's width), coloured by time
    from an open circle to a red dot; rules with equal trajectories (to round-off) share a panel."""
    import matplotlib as mpl
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure

    gaps = {r: tables.curve(g, "gap", "step")[1] for r, g in d.groupby("rule", sort=False)}
    order = [lab for labs in figures.by_behaviour(gaps, level).values() for lab in labs]
    traj = _trajectories(pol)
    pols = {lab: traj[lab] for lab in order}
    panels = figures.coincident({lab: (np.arange(len(p)), p.ravel()) for lab, p in pols.items()})
    kind = {lab: figures.behaviour(gaps[lab], level) for lab in order}
    ncols = min(ncols, len(panels))
    nrows = -(-len(panels) // ncols)
    fig = Figure(figsize=(2.35 * ncols + 0.9, 2.45 * nrows + 0.7), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    cmap = mpl.colormaps["viridis"]
    corners = np.vstack([np.eye(3), np.eye(3)[:1]])
    nx, ny = _tri(nash.x)
    for ax in axes.ravel()[len(panels) :]:
        ax.axis("off")
    for ax, grp in zip(axes.ravel(), panels):
        px, py = _tri(pols[grp[0]])
        ax.plot(*_tri(corners), color="black", lw=0.8)
        seg = np.stack([np.column_stack([px[:-1], py[:-1]]), np.column_stack([px[1:], py[1:]])], axis=1)
        ax.add_collection(LineCollection(seg, cmap=cmap, array=np.linspace(0, 1, len(seg)), lw=1.1))
        ax.plot(px[0], py[0], "o", ms=7, mfc="none", mec="black", mew=1.2)
        ax.plot(px[-1], py[-1], "o", ms=9, color="tab:red", mec="black", mew=0.6, zorder=4)
        ax.plot(nx, ny, "*", ms=11, color="black", mec="white", mew=0.6, zorder=5)
        if reg is not None:
            ax.plot(*_tri(reg.x), "kx", ms=8, zorder=4)
        marks = [(nx, ny)] + ([_tri(reg.x)] if reg is not None else [])
        xs, ys = np.append(px, [m[0] for m in marks]), np.append(py, [m[1] for m in marks])
        half = max(xs.max() - xs.min(), ys.max() - ys.min(), 0.01) / 2 * 1.15
        cx, cy = (xs.max() + xs.min()) / 2, (ys.max() + ys.min()) / 2
        ax.set_xlim(cx - half, cx + half)
        ax.set_ylim(cy - half, cy + half)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(" = ".join(grp), fontsize=9)
        text = f"window {2 * half:.2g}\n{kind[grp[0]].split(' (')[0]}"
        ax.text(0.02, 0.02, text, transform=ax.transAxes, fontsize=6.5, va="bottom", color="0.3")
    keys = [
        dict(marker="o", ms=7, mfc="none", mec="black", label="start"),
        dict(marker="o", ms=8, color="tab:red", mec="black", label="end"),
        dict(marker="*", ms=11, color="black", mec="white", label="Nash policy"),
    ] + (
        [dict(marker="x", ms=8, color="black", label=f"regularized eq. (τ={reg.tau:g})")]
        if reg is not None
        else []
    )
    handles = [mpl.lines.Line2D([], [], ls="none", **k) for k in keys]
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles) + 1, fontsize=8, frameon=False)
    sm = mpl.cm.ScalarMappable(cmap=cmap, norm=mpl.colors.Normalize(0, 1))
    fig.colorbar(sm, ax=axes, shrink=0.5, label="fraction of the run", pad=0.01)
    fig.suptitle(
        "row-policy trajectories on the probability simplex, each panel zoomed to its trajectory "
        "(corners: actions 0, 1, 2 at lower left, lower right, top)",
        fontsize=10,
    )
    return fig


REFUSES = {
    "schedules": "the paper's rules run at constant step sizes",
    "seeds": "the paper's runs are deterministic (one run per rule from --seed)",
    "jobs": "the rules run one after the other in one process (seconds each)",
}
STUDY_DECL, main = study.declare(globals(), refuses=REFUSES)
