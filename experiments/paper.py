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
#: Rules drawn on the probability simplex (and every rule of yours).
SIMPLEX_RULES = ("mwu", "inpo", "nash_md", "omwu", "extragradient", "comal")
#: A reference level only float64 can resolve (float32 stalls near 2e-7).
DEEP_LEVEL = 1e-11


def main(argv=None) -> int:
    p = cli.parser(STUDY, __doc__.splitlines()[0])
    cli.add_count(p, "--steps", "steps per rule (default 5000; --quick 1000)")
    cli.add_rules(p, "every registered rule")
    cli.add_game(p, "comal_cycle")
    cli.add_eta_tau(p)
    cli.add_start_noise(p)
    cli.add_record_every(p, 10)
    cli.add_level(p)
    cli.add_x(p, "oracle_calls")
    args = p.parse_args(argv)
    cli.setup(args)

    import algorithms

    specs = rules.resolve_rules(p, args.rules, list(algorithms.RULES))
    gs = gamespec.resolve_game(p, args.game, args.game_kind, "comal_cycle", args.dtype, args.seed)
    steps = args.steps or (1000 if args.quick else 5000)
    cli.check_schedule(p, steps, args.record_every)
    cli.check_x(p, args.x)
    hps = {s.name: rules.rule_hparams(s.rule, args.eta, args.tau, args.start_noise) for s in specs}
    for s in specs:  # every rule's hyperparameters and game checks, before anything runs
        try:
            s.rule.init(gs.game, args.seed, **hps[s.name])
        except (ValueError, TypeError) as err:
            cli.fail(p, str(err))
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
        df, x=args.x, reg_gap=None if reg is None else reg.gap, tau=args.tau, dtype=args.dtype, game=gs.label
    )
    output.save_figure(fig, folder / "gap.png")
    output.save_figure(fig, folder / "gap.pdf")
    figure_files = ["gap.png", "gap.pdf"]
    if nash is not None and game.shape == (3, 3) and not game.contextual:
        output.save_figure(simplex_figure(results, nash, reg), folder / "simplex.png")
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
    print(f"{gs.label}, {steps} steps, eta={args.eta:g}, tau={args.tau:g}, {args.dtype}{tail}")
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
    df, *, x: str = "oracle_calls", reg_gap=None, tau=None, dtype: str = "float64", game: str = ""
):
    """The last-iterate gap of every rule in ``df`` (a tidy trace), one panel per family of rules.

    Reference lines, labelled in every panel: the regularized equilibrium's gap (where the regularized rules
    end) and, in float64 only, 1e-11. Returns a :class:`matplotlib.figure.Figure`; the global backend is not
    touched (the notebook displays the same figure)."""
    labels = list(dict.fromkeys(df["rule"]))
    style = figures.styles(labels)
    fig, panels = figures.family_figure(
        labels, suptitle=f"{game}: last-iterate duality gap (exact zeros drawn at {figures.PLOT_FLOOR:g})"
    )
    refs = []
    for fam, ax in panels.items():
        for lab in figures.by_family(labels)[fam]:
            xs, ys = tables.curve(df, "gap", x, rule=lab)
            ax.plot(xs, figures.plot_floor(ys), label=lab, **style[lab])
        refs = []
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
        figures.legend_below(ax, handles=ax.get_lines()[: len(ax.get_lines()) - len(refs)])
    next(iter(panels.values())).set_ylabel("last-iterate duality gap")
    figures.label_x(panels.values(), x)
    figures.reference_legend(fig, refs)
    return fig


def _tri(p):
    p = np.asarray(p)
    return p[..., 1] + 0.5 * p[..., 2], (np.sqrt(3) / 2) * p[..., 2]


def simplex_figure(results, nash, reg):
    """Trajectories on the probability simplex (row policy), with an inset around the Nash policy."""
    from matplotlib.figure import Figure

    labels = [
        lab for lab in results if lab.split("(")[0] in SIMPLEX_RULES or figures.family(lab) == figures.OTHER
    ]
    fig = Figure(figsize=(7.6, 5.4), layout="constrained")
    ax = fig.subplots()
    corners = np.eye(3)
    cx, cy = _tri(np.vstack([corners, corners[:1]]))
    ax.plot(cx, cy, color="black", lw=1)
    for i, (x, y) in enumerate(zip(*_tri(corners))):
        ax.text(x, y + (0.03 if i == 2 else -0.06), f"action {i}", ha="center", fontsize=9)
    zoom = ax.inset_axes([1.08, 0.02, 0.42, 0.42])  # outside the triangle, under the legend
    nx, ny = _tri(nash.x)
    colors = figures.styles(labels)  # one colour per drawn rule (tab10 over all of them)
    import matplotlib as mpl

    cmap = mpl.colormaps["tab10"]
    for i, lab in enumerate(labels):
        tr = results[lab][1]
        pol = tr.policies.x
        px, py = _tri(pol)
        c, ls = cmap(i % 10), colors[lab]["ls"]
        ax.plot(px, py, lw=1.1, ls=ls, color=c, label=lab, alpha=0.9)
        ax.plot(px[-1], py[-1], "o", ms=4, color=c)
        zoom.plot(px, py, lw=1.1, ls=ls, color=c, alpha=0.9)
        zoom.plot(px[-1], py[-1], "o", ms=4, color=c)
    for target in (ax, zoom):
        target.plot(nx, ny, "k*", ms=14, label="Nash policy" if target is ax else None)
        if reg is not None:
            target.plot(
                *_tri(reg.x),
                "kx",
                ms=10,
                label=f"regularized equilibrium (τ={reg.tau:g})" if target is ax else None,
            )
    half = 0.04
    zoom.set_xlim(nx - half, nx + half)
    zoom.set_ylim(ny - half, ny + half)
    zoom.set_xticks([])
    zoom.set_yticks([])
    zoom.set_aspect("equal")
    zoom.set_title("around the Nash policy", fontsize=8)
    ax.indicate_inset_zoom(zoom, edgecolor="gray")
    ax.set_aspect("equal")
    ax.axis("off")
    ax.legend(
        fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, title="row policy; dot = end"
    )
    ax.set_title("trajectories on the probability simplex", pad=18)
    return fig


if __name__ == "__main__":
    sys.exit(cli.entry(main))
