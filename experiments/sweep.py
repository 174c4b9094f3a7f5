"""Hyperparameter sensitivity: an ``eta x tau`` grid per rule (one vmapped sweep each), and COMAL's inner steps.

Heatmaps of the final last-iterate gap and of the steps to reach gap ``--level`` (1e-6; recorded every
``--record-every`` steps) for INPO, MMD, Nash-MD, EGPO and COMAL on ``comal_cycle()``; then COMAL with ``K``
inner steps per outer step for several ``K`` (a structural option: one compilation per ``K``).

    python -m experiments.sweep [--quick] [--rules inpo,comal] [--steps 5000] [--game condorcet_cycle:n=5,p=0.8]
"""

from __future__ import annotations

import sys
import time

import numpy as np

from .common import cli, figures, gamespec, metadata, output, progress, rules, tables

STUDY = "sweep"
RULES = ("inpo", "mmd", "nash_md", "egpo", "comal")
#: ``--x`` as the printed cost unit.
UNITS = {"steps": "steps", "oracle_calls": "oracle calls", "comparisons": "comparisons"}


def main(argv=None) -> int:
    p = cli.parser(STUDY, __doc__.splitlines()[0])
    cli.add_rules(p, ",".join(RULES) + "; each must take eta and tau")
    gamespec.add_game(p, "comal_cycle")
    cli.add_count(p, "--steps", "steps per run (default 5000; --quick 1000)")
    cli.add_record_every(p, 50)
    cli.add_level(p)
    cli.add_x(
        p,
        "steps",
        what="unit of the cost to --level in the summary table (the heatmaps count steps)",
    )
    cli.add_feedback(p)
    cli.add_hp(p, "eta and tau are the grid axes; the K runs take --feedback, not --hp")
    args = p.parse_args(argv)
    cli.setup(args)
    import algorithms

    specs = rules.resolve_rules(p, args.rules, RULES, need=("eta", "tau"))
    gs = gamespec.resolve_game(p, args.game, args.game_kind, "comal_cycle", args.dtype, args.seed)
    steps = args.steps or (1000 if args.quick else 5000)
    cli.check_schedule(p, steps, args.record_every)
    cli.check_x(p, args.x, args.feedback)
    n = 4 if args.quick else 8
    etas, taus = np.geomspace(0.05, 1.0, n), np.geomspace(0.01, 1.0, n)  # eta tau <= 1
    grid = {"eta": [etas[0], etas[-1], 0.5], "tau": [taus[0], taus[-1], 0.1]}
    specs, hps = rules.study_hparams(p, specs, gs.game, args, grid=grid)
    ks = (10, 100) if args.quick else (10, 30, 100, 300, 1000)
    k_rules = [algorithms.comal(algorithms.inpo(), k) for k in ks]
    for rule in k_rules:
        try:
            rule.init(gs.game, args.seed, eta=0.5, tau=0.1)
        except (ValueError, TypeError) as err:
            cli.fail(p, str(err))
    cli.check_level(args.level, args.dtype)
    with output.Output(p, cli.default_out(args)) as out:
        run_study(args, specs, gs, steps, etas, taus, k_rules, out.path, hps)
    print(f"wrote {out.out}/")
    return 0


def _squeeze_seed(tr, args):
    """The sweep's one-seed axis (stochastic feedback runs at ``--seed``) dropped from the arrays read here."""
    return (lambda a: np.asarray(a)[0]) if args.feedback.stochastic else np.asarray


def run_study(args, specs, gs, steps, etas, taus, k_rules, folder, hps=None) -> None:
    import algorithms

    t0 = time.perf_counter()
    hps = hps or {s.name: {} for s in specs}
    fb = args.feedback
    seeds = {"seeds": [args.seed]} if fb.stochastic else {}  # exact feedback: no key, no seed axis
    timer, frames, results = progress.Timer(), [], {}
    with progress.progress(args, len(specs) + len(k_rules), "sweep: grids and K", "run") as bar:
        for s in specs:
            bar.set_postfix_str(f"{s.name}: {len(etas)}x{len(taus)} grid x {steps} steps")
            with timer(s.name):
                tr = algorithms.sweep(
                    s.rule,
                    gs.game,
                    steps=steps,
                    record_every=args.record_every,
                    feedback=fb,
                    **seeds,
                    **hps[s.name],
                    eta=etas,
                    tau=taus,
                )
                one = _squeeze_seed(tr, args)
                gaps = one(tr.metrics["gap"])  # [eta, tau, R+1]
            x = tables.cost(tr, args.x)
            results[s.name] = (
                gaps[..., -1],
                tables.first_below(x if x.ndim == 1 else one(x), gaps, args.level),
                tables.first_below(tr.steps, gaps, args.level),
            )
            frames.append(tables.tidy(tr, experiment=STUDY, game=gs.label, rule=s.name, seed=args.seed)[0])
            bar.update()
        k_rows = []
        for rule in k_rules:
            bar.set_postfix_str(f"{rule.name}, {steps} steps")
            with timer(rule.name):
                tr = algorithms.run(
                    rule,
                    gs.game,
                    steps=steps,
                    record_every=args.record_every,
                    key=args.seed,
                    feedback=fb,
                    eta=0.5,
                    tau=0.1,
                )
                gaps = np.asarray(tr.metrics["gap"])
            first = tables.first_below(tables.cost(tr, args.x), gaps, args.level)
            k_rows.append((rule.name, f"{gaps[-1]:.3e}", "never" if np.isnan(first) else int(first)))
            frames.append(tables.tidy(tr, experiment=STUDY, game=gs.label, rule=rule.name, seed=args.seed)[0])
            bar.update()
    output.write_frame(folder / "trace.csv", tables.combine(frames))
    summary = []
    for label, (final, first, _) in results.items():
        b = (
            np.unravel_index(np.nanargmin(np.where(np.isnan(first), np.inf, first)), first.shape)
            if np.isfinite(first).any()
            else np.unravel_index(np.argmin(final), final.shape)
        )
        summary.append(
            (
                label,
                f"{np.mean(final <= args.level):.0%}",
                f"{etas[b[0]]:.3g}",
                f"{taus[b[1]]:.3g}",
                f"{final[b]:.3e}",
                "never" if np.isnan(first[b]) else int(first[b]),
            )
        )
    header = (
        "rule",
        f"grid share with gap <= {args.level:g}",
        "best eta",
        "best tau",
        "its final gap",
        f"its {UNITS[args.x]} to {args.level:g}",
    )
    output.write_csv(folder / "summary.csv", summary, header)
    steps_first = {k: (v[0], v[2]) for k, v in results.items()}  # the heatmaps count steps
    output.save_figure(heatmaps(steps_first, etas, taus, steps, args.level, gs.label), folder / "sweep.png")
    meta = metadata.metadata(
        args,
        rules=metadata.rules_meta(specs)
        + [{"name": r.name, "source": "algorithms.comal(algorithms.inpo(), K)"} for r in k_rules],
        hyperparameters={
            "eta": etas.tolist(),
            "tau": taus.tolist(),
            "start_noise": 0.0,
            "K_runs": {"eta": 0.5, "tau": 0.1},
            "per_rule": {s.name: hps[s.name] for s in specs},
        },
        feedback=args.feedback.name,
        x_axis=args.x,
        steps=steps,
        record_every=args.record_every,
        level=args.level,
        game=gs.meta,
        wall_time_s={**timer.seconds, "total": round(time.perf_counter() - t0, 3)},
        files=["trace.csv", "summary.csv", "sweep.png"],
    )
    metadata.write_metadata(folder, meta)
    print(f"{gs.label}: eta x tau grids, {steps} steps, {args.dtype}, {args.feedback.name} feedback")
    print(tables.table(summary, header))
    print("\nCOMAL (INPO inner, eta=0.5, tau=0.1) by inner steps K:")
    print(tables.table(k_rows, ("rule", "final gap", f"{UNITS[args.x]} to {args.level:g}")))


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
    for c, (label, (final, first)) in enumerate(results.items()):
        im = axes[0, c].imshow(logs[label], origin="lower", cmap=gap_cmap, vmin=vmin, vmax=0, aspect="auto")
        for (i, j), v in np.ndenumerate(final):
            dark = (logs[label][i, j] - vmin) / (0 - vmin) < 0.5
            axes[0, c].text(
                j, i, f"{v:.0e}", ha="center", va="center", fontsize=6, color="white" if dark else "black"
            )
        axes[0, c].set_title(label, fontsize=10)
        im2 = axes[1, c].imshow(
            np.ma.masked_invalid(first), origin="lower", cmap=step_cmap, vmin=0, vmax=steps, aspect="auto"
        )
        for (i, j), v in np.ndenumerate(first):
            if np.isnan(v):
                axes[1, c].text(j, i, "never", ha="center", va="center", fontsize=6, color="0.35")
        for ax in axes[:, c]:
            ax.set_xticks(range(len(taus)), [f"{t:.2g}" for t in taus], rotation=45, ha="right", fontsize=7)
            ax.set_yticks(range(len(etas)), [f"{e:.2g}" for e in etas], fontsize=7)
        axes[1, c].set_xlabel("τ (KL weight)", fontsize=9)
    axes[0, 0].set_ylabel("η (step size)\n\nlog10 final gap", fontsize=9)
    axes[1, 0].set_ylabel(f"η (step size)\n\nsteps to gap ≤ {level:g}", fontsize=9)
    fig.colorbar(im, ax=axes[0, :].tolist(), shrink=0.9, label="log10 final gap (exact zeros at -17)")
    fig.colorbar(im2, ax=axes[1, :].tolist(), shrink=0.9, label=f"first step with gap ≤ {level:g} to the end")
    fig.legend(
        handles=[
            Patch(facecolor="0.82", edgecolor="0.5", label=f"never reached {level:g} within {steps} steps")
        ],
        loc="outside lower center",
        fontsize=8,
        frameon=False,
    )
    fig.suptitle(f"{game}: final last-iterate gap and steps to {level:g} over the η × τ grid", fontsize=11)
    return fig


if __name__ == "__main__":
    sys.exit(cli.entry(main))
