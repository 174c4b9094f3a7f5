"""The paper's synthetic study (Liu et al., arXiv 2410.23223, Sec. 5) in one command.

Every rule of ``algorithms.RULES`` on the 3x3 non-transitive game ``comal_cycle()`` (float64, uniform start and
reference), defaults: ``eta = 0.5``, ``tau = 0.1`` (iterative IPO/DPO: ``tau = 1/eta``), COMAL = INPO inner with
100 inner steps, MPO resets every 100 steps, 5000 steps, metrics recorded every 10 steps. Writes
``trace.csv``, ``policies.csv``, ``summary.csv``, ``metadata.json``, ``gap.png``/``gap.pdf`` and ``simplex.png``
to ``results/paper/`` (``results/paper-quick/`` with ``--quick``) and prints the summary table and the pairwise
win rates of the final policies. ``--rules`` and ``--game`` take your own rules and games.

    python -m experiments.paper            # the full study
    python -m experiments.paper --quick    # a few seconds
"""

from __future__ import annotations

import sys
import time

import numpy as np

from .common import cli, figures, gamespec, metadata, output, progress, rules, tables

STUDY = "paper"
#: A reference level only float64 can resolve (float32 stalls near 2e-7).
DEEP_LEVEL = 1e-11


def main(argv=None) -> int:
    p = cli.parser(STUDY, __doc__.splitlines()[0])
    cli.add_count(p, "--steps", "steps per rule (default 5000; --quick 1000)")
    cli.add_rules(p, "every registered rule")
    gamespec.add_game(p, "comal_cycle")
    cli.add_eta_tau(p)
    cli.add_start_noise(p)
    cli.add_record_every(p, 10)
    cli.add_level(p)
    cli.add_x(p, "oracle_calls")
    cli.add_feedback(p)
    cli.add_hp(p)
    args = p.parse_args(argv)
    cli.setup(args)

    import algorithms

    specs = rules.resolve_rules(p, args.rules, list(algorithms.RULES))
    gs = gamespec.resolve_game(p, args.game, args.game_kind, "comal_cycle", args.dtype, args.seed)
    steps = args.steps or (1000 if args.quick else 5000)
    cli.check_schedule(p, steps, args.record_every)
    cli.check_x(p, args.x, args.feedback)
    specs, hps = rules.study_hparams(p, specs, gs.game, args)
    cli.check_level(args.level, args.dtype)
    with output.Output(p, cli.default_out(args)) as out:
        run_study(args, specs, gs, steps, hps, out.path)
    print(f"wrote {out.out}/")
    return 0


def run_study(args, specs, gs, steps, hps, folder) -> None:
    import algorithms
    import games

    t0 = time.perf_counter()
    game = gs.game
    try:
        nash = games.solve(game)
    except games.SolverError as err:
        cli.note(f"no exact equilibrium ({err}); kl_to_nash is not recorded")
        nash = None
    try:
        reg = games.regularized_equilibrium(game, args.tau)
    except games.SolverError as err:
        cli.note(f"regularized-equilibrium line (tau={args.tau:g}) skipped: {err}")
        reg = None
    timer, results, frames, pframes = progress.Timer(), {}, [], []
    with progress.progress(args, len(specs), "paper: rules", "rule") as bar:
        for s in specs:
            bar.set_postfix_str(f"{s.name}, {steps} steps")
            with timer(s.name):
                trace = algorithms.run(
                    s.rule,
                    game,
                    steps=steps,
                    record_every=args.record_every,
                    key=args.seed,
                    nash=nash,
                    record_policy=True,
                    feedback=args.feedback,
                    **hps[s.name],
                )
                trace.metrics["gap"].block_until_ready()
            results[s.name] = (hps[s.name], trace)
            m, pol = tables.tidy(
                trace,
                experiment=STUDY,
                game=gs.label,
                rule=s.name,
                seed=args.seed,
            )
            frames.append(m)
            pframes.append(pol)
            bar.update()
    df, policies = tables.combine(frames), tables.combine(pframes)
    nonfinite = sorted(df.loc[~df["finite"], "rule"].unique())
    if nonfinite:
        cli.note(f"non-finite values in: {', '.join(nonfinite)} (see the finite column of trace.csv)")
    output.write_frame(folder / "trace.csv", df)
    output.write_frame(folder / "policies.csv", policies)
    summary, header = summarize(results, args.level)
    output.write_csv(folder / "summary.csv", summary, header)
    fig = gap_figure(
        df,
        x=args.x,
        reg_gap=None if reg is None else reg.gap,
        tau=args.tau,
        dtype=args.dtype,
        game=gs.label,
        level=args.level,
    )
    output.save_figure(fig, folder / "gap.png", drawn_by=figures.drawn_by(gap_figure))
    output.save_figure(fig, folder / "gap.pdf")
    figure_files = ["gap.png", "gap.pdf"]
    if nash is not None and game.shape == (3, 3) and not game.contextual:
        fig = simplex_figure(results, nash, reg, level=args.level)
        output.save_figure(fig, folder / "simplex.png", drawn_by=figures.drawn_by(simplex_figure))
        figure_files.append("simplex.png")
    else:
        cli.note("simplex.png is drawn for 3x3 single-prompt games only; skipped")
    meta = metadata.metadata(
        args,
        rules=metadata.rules_meta(specs),
        hyperparameters={
            "eta": args.eta,
            "tau": args.tau,
            "start_noise": args.start_noise,
            "per_rule": {k: rules.effective_hparams(s.rule, hps[k]) for s, k in zip(specs, hps)},
        },
        steps=steps,
        record_every=args.record_every,
        level=args.level,
        x_axis=args.x,
        game=gs.meta,
        regularized_gap=None if reg is None else reg.gap,
        finite={k: bool(df.loc[df["rule"] == k, "finite"].all()) for k in results},
        wall_time_s={**timer.seconds, "total": round(time.perf_counter() - t0, 3)},
        files=["trace.csv", "policies.csv", "summary.csv", *figure_files],
    )
    metadata.write_metadata(folder, meta)

    tail = f"; regularized-equilibrium gap at tau={args.tau:g}: {reg.gap:.4g}" if reg is not None else ""
    print(
        f"{gs.label}, {steps} steps, eta={args.eta:g}, tau={args.tau:g}, {args.dtype}, "
        f"{args.feedback.name} feedback{tail}"
    )
    print(tables.table(summary, header))
    if game.preference and not game.contextual:
        print()
        print(win_rate_table(results, game))


def summarize(results, level: float):
    header = (
        "rule",
        "hparams",
        "final gap",
        "worst-case win rate",
        f"steps to gap {level:g}",
        "KL(pi*||pi)",
    )
    rows = []
    for label, (hp, tr) in results.items():
        m = tr.metrics
        rows.append(
            (
                label,
                rules.format_hparams(hp),
                f"{float(m['gap'][-1]):.3e}",
                f"{float(m['win_rate'][-1]):.6f}" if "win_rate" in m else "",
                tables.steps_to(tr.steps, m["gap"], level),
                f"{float(m['kl_to_nash'][-1]):.3e}" if "kl_to_nash" in m else "",
            )
        )
    return rows, header


def win_rate_table(results, game) -> str:
    from games import metrics

    labels = list(results)
    pols = np.stack([np.asarray(tr.policy[0]) for _, tr in results.values()])
    W = 100 * np.asarray(metrics.pairwise_win_rates(game, pols))
    rows = [
        [f"{i + 1} {labels[i]}"] + [f"{W[i, j]:.1f}" for j in range(len(labels))] for i in range(len(labels))
    ]
    return (
        "pairwise win rates of the final policies (row beats column, %; columns numbered as rows):\n"
        + tables.table(rows, ["", *[str(i + 1) for i in range(len(labels))]])
    )


def gap_figure(
    df,
    *,
    x: str = "oracle_calls",
    reg_gap=None,
    tau=None,
    dtype: str = "float64",
    game: str = "",
    level: float = 1e-6,
):
    """The last-iterate gap of every rule in ``df`` (a tidy trace), one panel per measured behaviour
    (:func:`experiments.common.figures.behaviour` at ``level``: reaches it, still falling, plateaus, does not
    converge), each panel its own x-range (log when one rule runs much further, e.g. ``comal_exact``).

    Reference lines, labelled once: ``level``, the regularized equilibrium's gap (where the regularized rules
    end) and, in float64 only, 1e-11. Curves equal to round-off are drawn once, named together in the legend.
    Returns a :class:`matplotlib.figure.Figure`; the global backend is not touched (the notebook displays the
    same figure)."""
    labels = list(dict.fromkeys(df["rule"]))
    curves = {lab: tables.curve(df, "gap", x, rule=lab) for lab in labels}
    groups = figures.by_behaviour({lab: c[1] for lab, c in curves.items()}, level)
    style = figures.styles(groups)
    fig, panels = figures.panel_figure(
        [figures.panel_title(g, level) for g in groups],
        suptitle=f"{game}: last-iterate duality gap (exact zeros drawn at {figures.PLOT_FLOOR:g}); "
        f"panels by what the trace does",
    )
    figures.label_x(panels.values(), x)
    refs = []
    for labs, ax in zip(groups.values(), panels.values()):
        lines = figures.draw_curves(ax, {lab: curves[lab] for lab in labs}, style)
        refs = [
            ax.axhline(level, color="tab:green", ls=(0, (1, 3)), lw=1.2, label=f"level {level:g} (--level)")
        ]
        if reg_gap is not None:
            refs.append(
                ax.axhline(
                    reg_gap,
                    color="0.45",
                    ls=(0, (6, 3)),
                    lw=1,
                    label=f"gap of the regularized equilibrium (τ={tau:g})",
                )
            )
        if dtype == "float64":
            refs.append(
                ax.axhline(
                    DEEP_LEVEL,
                    color="black",
                    ls=":",
                    lw=1,
                    label="gap 1e-11 (float64 only; float32 stalls near 2e-7)",
                )
            )
        ax.set_yscale("log")
        ax.set_ylim(figures.PLOT_FLOOR / 3, 3)
        ax.grid(alpha=0.25)
        figures.legend_below(ax, handles=lines)
        figures.set_x_range(ax, [curves[lab][0] for lab in labs])
    next(iter(panels.values())).set_ylabel("last-iterate duality gap")
    figures.reference_legend(fig, refs)
    return fig


def _tri(p):
    p = np.asarray(p)
    return p[..., 1] + 0.5 * p[..., 2], (np.sqrt(3) / 2) * p[..., 2]


def simplex_figure(results, nash, reg, *, level: float = 1e-6, ncols: int = 6):
    """Every rule's row-policy trajectory on the probability simplex, one small panel per rule (in the gap
    figure's order: by measured behaviour), each zoomed to its trajectory, the Nash policy and the regularized
    one (the window's width is printed in the panel; 1 is the whole simplex). The line is coloured by time; an
    open circle marks the start and a large red dot the end (a star on a red dot: it ended at the Nash policy).
    Rules with equal trajectories (to round-off) share a panel."""
    import matplotlib as mpl
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure

    gaps = {lab: np.asarray(tr.metrics["gap"]) for lab, (_, tr) in results.items()}
    order = [lab for labs in figures.by_behaviour(gaps, level).values() for lab in labs]
    pols = {lab: np.asarray(results[lab][1].policies.x) for lab in order}
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
        ax.text(
            0.02,
            0.02,
            f"window {2 * half:.2g}\n{kind[grp[0]].split(' (')[0]}",
            transform=ax.transAxes,
            fontsize=6.5,
            va="bottom",
            color="0.3",
        )
    handles = [
        mpl.lines.Line2D([], [], ls="none", marker="o", ms=7, mfc="none", mec="black", label="start"),
        mpl.lines.Line2D([], [], ls="none", marker="o", ms=8, color="tab:red", mec="black", label="end"),
        mpl.lines.Line2D(
            [], [], ls="none", marker="*", ms=11, color="black", mec="white", label="Nash policy"
        ),
    ]
    if reg is not None:
        handles.append(
            mpl.lines.Line2D(
                [], [], ls="none", marker="x", ms=8, color="black", label=f"regularized eq. (τ={reg.tau:g})"
            )
        )
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles) + 1, fontsize=8, frameon=False)
    sm = mpl.cm.ScalarMappable(cmap=cmap, norm=mpl.colors.Normalize(0, 1))
    fig.colorbar(sm, ax=axes, shrink=0.5, label="fraction of the run", pad=0.01)
    fig.suptitle(
        "row-policy trajectories on the probability simplex, each panel zoomed to its trajectory "
        "(corners: actions 0, 1, 2 at lower left, lower right, top)",
        fontsize=10,
    )
    return fig


if __name__ == "__main__":
    sys.exit(cli.entry(main))
