"""A contextual game: several prompts, each with its own preference matrix, and non-uniform prompt weights.

One policy per prompt (``[C, n]``); every metric is the rho-weighted sum over prompts. Reports the aggregate
last-iterate gap and each prompt's own gap for MWU, INPO, OMWU and COMAL, and plots both. ``--game`` takes a
contextual game file instead (a .json with weights, or a 3-D .npy).

    python -m experiments.contextual [--quick] [--prompts 4] [--n 3]
"""

from __future__ import annotations

import sys
import time

import numpy as np

from .common import cli, figures, gamespec, metadata, output, progress, rules, tables

STUDY = "contextual"
RULES = ("mwu", "inpo", "omwu", "comal")


def main(argv=None) -> int:
    p = cli.parser(STUDY, __doc__.splitlines()[0])
    cli.add_count(p, "--prompts", "number of prompts C (default 4)")
    cli.add_count(p, "--n", "responses per prompt, >= 3 (default 3)")
    gamespec.add_game(p, "--prompts random prompts, prompt 0 the paper's cycle when --n 3; weights 0.6^c")
    cli.add_count(p, "--steps", "steps per rule (default 10000; --quick 1000)")
    cli.add_rules(p, ",".join(RULES))
    cli.add_eta_tau(p)
    cli.add_start_noise(p)
    cli.add_x(p, "oracle_calls")
    cli.add_feedback(p)
    cli.add_hp(p)
    args = p.parse_args(argv)
    cli.setup(args)
    import games

    specs = rules.resolve_rules(p, args.rules, RULES)
    if args.game is not None:
        if args.prompts is not None or args.n is not None:
            cli.fail(p, "--prompts/--n describe the built-in game; --game replaces it")
        gs = gamespec.resolve_game(p, args.game, args.game_kind, args.game, args.dtype, args.seed)
        if not gs.game.contextual:
            cli.fail(
                p, f"--game {args.game} is not contextual (give a [C, n, n] matrix, with weights in .json)"
            )
        if not gs.game.preference:
            cli.fail(p, f"--game {args.game}: the per-prompt gaps need a preference game")
    else:
        prompts, n = args.prompts or 4, args.n or 3
        if n < 3:
            cli.fail(p, "--n must be >= 3 (cyclic prompts)")
        game = games.library.contextual_cycles(args.seed, prompts, n, dtype=args.dtype)
        gs = gamespec.GameSpec(
            game,
            f"contextual{prompts}x{n}",
            {"name": "games.library.contextual_cycles", "prompts": prompts, "n": n, "seed": args.seed},
        )
    steps = args.steps or (1000 if args.quick else 10000)
    every = max(1, steps // 200)
    if steps % every:
        cli.fail(p, f"--steps ({steps}) must be a multiple of {every}")
    cli.check_x(p, args.x, args.feedback)
    specs, hps = rules.study_hparams(p, specs, gs.game, args)
    del games
    with output.Output(p, cli.default_out(args)) as out:
        run_study(args, specs, gs, steps, every, hps, out.path)
    print(f"wrote {out.out}/")
    return 0


def run_study(args, specs, gs, steps, every, hps, folder) -> None:
    import algorithms
    import games

    t0 = time.perf_counter()
    game = gs.game
    eq = games.solve(game)
    rho = np.asarray(game.weights)
    C = rho.size
    timer, frames, pframes, summary = progress.Timer(), [], [], []
    with progress.progress(args, len(specs), "contextual: rules", "rule") as bar:
        for s in specs:
            bar.set_postfix_str(f"{s.name}, {steps} steps")
            with timer(s.name):
                tr = algorithms.run(
                    s.rule,
                    game,
                    steps=steps,
                    record_every=every,
                    key=args.seed,
                    nash=eq,
                    record_policy=True,
                    feedback=args.feedback,
                    **hps[s.name],
                )
            # each prompt's own gap, recorded by the runner on the prompt's game: [R+1, C]
            prompt_gap = np.asarray(tr.metrics["gap_by_context"])
            tr = tr._replace(metrics={k: v for k, v in tr.metrics.items() if not k.endswith("_by_context")})
            assert np.allclose(prompt_gap @ rho, tr.metrics["gap"], rtol=1e-6, atol=1e-12)
            m, pol = tables.tidy(
                tr,
                experiment=STUDY,
                game=gs.label,
                rule=s.name,
                seed=args.seed,
                extra={"prompt_gap": prompt_gap},
            )
            frames.append(m)
            pframes.append(pol)
            summary.append(
                (
                    s.name,
                    f"{float(tr.metrics['gap'][-1]):.3e}",
                    *[f"{prompt_gap[-1, c]:.2e}" for c in range(C)],
                )
            )
            bar.update()
    header = ("rule", "aggregate gap", *[f"prompt {c} (rho={rho[c]:.2f})" for c in range(C)])
    df = tables.combine(frames)
    output.write_frame(folder / "trace.csv", df)
    output.write_frame(folder / "policies.csv", tables.combine(pframes))
    output.write_csv(folder / "summary.csv", summary, header)
    output.save_figure(prompt_figure(df, rho, args.x, gs.label), folder / "contextual.png")
    meta = metadata.metadata(
        args,
        rules=metadata.rules_meta(specs),
        hyperparameters={"eta": args.eta, "tau": args.tau, "start_noise": args.start_noise},
        steps=steps,
        record_every=every,
        x_axis=args.x,
        game={**gs.meta, "weights": rho.tolist()},
        wall_time_s={**timer.seconds, "total": round(time.perf_counter() - t0, 3)},
        files=["trace.csv", "policies.csv", "summary.csv", "contextual.png"],
    )
    metadata.write_metadata(folder, meta)
    print(f"{gs.label}: {C} prompts, rho = {np.round(rho, 3).tolist()}, {steps} steps")
    print(tables.table(summary, header))


def prompt_figure(df, rho, x: str, game: str):
    """One panel per rule: each prompt's gap (distinct colours) and the rho-weighted aggregate (black)."""
    import matplotlib as mpl
    from matplotlib.figure import Figure

    labels = list(dict.fromkeys(df["rule"]))
    k = len(labels)
    fig = Figure(figsize=(3.6 * k, 4.6), layout="constrained")
    axes = fig.subplots(1, k, sharey=True, sharex=True, squeeze=False)[0]
    cmap = mpl.colormaps["tab10"]
    for ax, lab in zip(axes, labels):
        part = df[(df["rule"] == lab) & (df["metric"] == "prompt_gap")]
        for c in range(rho.size):
            pc = part[part["prompt"] == c].sort_values("step")
            ax.plot(
                pc[x],
                figures.plot_floor(pc["value"]),
                lw=1,
                color=cmap(c % 10),
                label=f"prompt {c} (ρ={rho[c]:.2f})",
            )
        xs, ys = tables.curve(df, "gap", x, rule=lab)
        ax.plot(xs, figures.plot_floor(ys), "k", lw=2, label="aggregate (ρ-weighted)")
        ax.set_yscale("log")
        ax.set_title(lab, fontsize=10)
        ax.grid(alpha=0.25)
    axes[0].set_ylabel(f"last-iterate duality gap (zeros at {figures.PLOT_FLOOR:g})")
    figures.label_x(axes, x)
    handles, _ = axes[0].get_legend_handles_labels()
    fig.legend(handles=handles, loc="outside right center", fontsize=8, frameon=False)
    fig.suptitle(f"{game}: each prompt's gap and the aggregate", fontsize=11)
    return fig


if __name__ == "__main__":
    sys.exit(cli.entry(main))
