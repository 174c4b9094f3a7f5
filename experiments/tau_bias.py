"""Why regularized methods lose the 50 % guarantee, and how COMAL escapes it.

For a grid of KL weights ``tau``: the duality gap of the regularized equilibrium (exact, ``games``), the final
last-iterate gap of INPO, MMD and Nash-MD (one vmapped sweep over ``tau`` each) and of COMAL (INPO inner).
Where they converge, the regularized rules land on the regularized equilibrium's gap (Nash-MD near it), which
shrinks only as ``tau -> 0``; COMAL's gap reaches round-off. Both have limits the figure shows honestly: at a
fixed ``eta`` INPO/MMD stop converging once ``tau`` is too small (on this game ``eta = 0.5`` fails at
``tau = 0.01``, ``eta = 0.2`` works), and COMAL inherits that; at large ``tau`` each of COMAL's outer steps
moves little, so it needs more steps.

    python -m experiments.tau_bias [--quick] [--eta 0.5] [--steps 20000] [--rules inpo,comal] [--game ...]
"""

from __future__ import annotations

import sys
import time

import numpy as np

from .common import cli, figures, gamespec, metadata, output, progress, rules, tables

STUDY = "tau_bias"
RULES = ("inpo", "mmd", "nash_md", "comal")


def main(argv=None) -> int:
    p = cli.parser(STUDY, __doc__.splitlines()[0])
    cli.add_eta_tau(p, tau=None)
    cli.add_count(p, "--steps", "steps per run (default 20000; --quick 2000)")
    cli.add_rules(p, ",".join(RULES) + "; each must take tau")
    gamespec.add_game(p, "comal_cycle")
    cli.add_x(
        p,
        "steps",
        what="unit of what each run spent, a column per rule in the summary (all run --steps steps)",
    )
    cli.add_feedback(p)
    cli.add_hp(p, "tau is the grid axis; overrides --eta")
    args = p.parse_args(argv)
    cli.setup(args)

    specs = rules.resolve_rules(p, args.rules, RULES, need=("tau",))
    gs = gamespec.resolve_game(p, args.game, args.game_kind, "comal_cycle", args.dtype, args.seed)
    steps = args.steps or (2000 if args.quick else 20000)
    cli.check_x(p, args.x, args.feedback)
    taus = np.geomspace(0.03, 1.0, 4) if args.quick else np.geomspace(0.01, 1.0, 9)
    specs, hps = rules.study_hparams(p, specs, gs.game, args, grid={"tau": [taus[0], taus[-1]]})
    for hp in hps.values():
        hp.pop("tau", None)  # iterative IPO/DPO: tau is the grid here too, not 1/eta
    with output.Output(p, cli.default_out(args)) as out:
        run_study(args, specs, gs, steps, taus, out.path, hps)
    print(f"wrote {out.out}/")
    return 0


def _reg_gaps(game, taus, bar) -> np.ndarray:
    """The regularized equilibrium's gap per tau (NaN, with one note, where the solver fails)."""
    import games

    out, failed = [], []
    for t in taus:
        try:
            out.append(games.regularized_equilibrium(game, float(t)).gap)
        except games.SolverError:
            out.append(np.nan)
            failed.append(f"{t:.3g}")
        bar.update()
    if failed:
        cli.note(f"regularized equilibrium not solved at tau = {', '.join(failed)}; those points are skipped")
    return np.array(out)


def run_study(args, specs, gs, steps, taus, folder, hps=None) -> None:
    import pandas as pd

    import algorithms

    t0 = time.perf_counter()
    fine_taus = np.geomspace(1e-3, 1.0, 25)
    if hps is None:
        hps = {s.name: {"eta": args.eta} if "eta" in {h.name for h in s.rule.hparams} else {} for s in specs}
    fb = args.feedback
    seeds = {"seeds": [args.seed]} if fb.stochastic else {}  # exact feedback: no key, no seed axis
    timer, frames, finals, spent = progress.Timer(), [], {}, {}
    with progress.progress(
        args, len(fine_taus) + len(specs), "tau_bias: exact curve and rules", "unit"
    ) as bar:
        bar.set_postfix_str("regularized equilibria")
        with timer("regularized_equilibrium"):
            exact = _reg_gaps(gs.game, fine_taus, bar)
        for s in specs:
            bar.set_postfix_str(f"{s.name}: {len(taus)} taus x {steps} steps")
            with timer(s.name):
                tr = algorithms.sweep(
                    s.rule,
                    gs.game,
                    steps=steps,
                    record_every=steps,
                    feedback=fb,
                    **seeds,
                    **hps[s.name],
                    tau=taus,
                )
                one = (lambda a: np.asarray(a)[0]) if fb.stochastic else np.asarray  # the one seed axis
                finals[s.name] = one(tr.metrics["gap"])[:, -1]
                cost = tables.cost(tr, args.x)
                spent[s.name] = np.broadcast_to(cost if cost.ndim == 1 else one(cost), (len(taus), 2))[:, -1]
            frames.append(
                tables.tidy(
                    tr,
                    experiment=STUDY,
                    game=gs.label,
                    rule=s.name,
                    seed=args.seed,
                )[0]
            )
            bar.update()
    ok = np.isfinite(exact)
    frames.append(
        pd.DataFrame(
            {
                "experiment": STUDY,
                "game": gs.label,
                "rule": "regularized_equilibrium",
                "tau": fine_taus[ok],
                "start_noise": 0.0,
                "seed": args.seed,
                "step": 0,
                "oracle_calls": 0.0,
                "comparisons": 0.0,
                "finite": True,
                "metric": "gap",
                "value": exact[ok],
            }
        )
    )
    reg_at = _reg_gaps(gs.game, taus, _Null())
    unit = cli.X_AXES[args.x].split(" (")[0]
    costs = {} if args.x == "steps" else spent  # every run takes --steps steps
    summary = [
        [
            f"{t:.3g}",
            f"{reg_at[i]:.4e}",
            *[f"{finals[k][i]:.4e}" for k in finals],
            *[f"{costs[k][i]:.6g}" for k in costs],
        ]
        for i, t in enumerate(taus)
    ]
    header = ["tau", "regularized eq. gap", *finals, *[f"{k}: {unit}" for k in costs]]
    output.write_frame(folder / "trace.csv", tables.combine(frames))
    output.write_csv(folder / "summary.csv", summary, header)
    output.save_figure(
        figure(fine_taus[ok], exact[ok], taus, finals, args.eta, gs.label), folder / "tau_bias.png"
    )
    meta = metadata.metadata(
        args,
        rules=metadata.rules_meta(specs),
        hyperparameters={
            "eta": args.eta,
            "tau": taus.tolist(),
            "start_noise": 0.0,
            "exact_curve_tau": fine_taus.tolist(),
            "per_rule": hps,
        },
        feedback=fb.name,
        x_axis=args.x,
        steps=steps,
        record_every=steps,
        game=gs.meta,
        wall_time_s={**timer.seconds, "total": round(time.perf_counter() - t0, 3)},
        files=["trace.csv", "summary.csv", "tau_bias.png"],
    )
    metadata.write_metadata(folder, meta)
    print(
        f"final last-iterate gap after {steps} steps (eta={args.eta:g}, {fb.name} feedback) vs tau, {gs.label}:"
    )
    print(tables.table(summary, header))


class _Null:
    def update(self, *a):
        pass


def figure(fine_taus, exact, taus, finals, eta, game):
    import matplotlib as mpl
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.6, 4.8), layout="constrained")
    ax = fig.subplots()
    ax.loglog(fine_taus, exact, "k-", lw=2, label="gap of the regularized equilibrium (solved exactly)")
    cmap = mpl.colormaps["tab10"]
    for i, ((label, gaps), marker) in enumerate(zip(finals.items(), "osd^v<>ph")):
        ax.loglog(
            taus,
            figures.plot_floor(gaps),
            marker,
            ls="none",
            ms=7,
            mfc="none",
            mew=1.5,
            color=cmap(i % 10),
            label=label,
        )
    ax.set_xlabel("τ (KL weight)")
    ax.set_ylabel(f"final last-iterate duality gap\n(exact zeros drawn at {figures.PLOT_FLOOR:g})")
    ax.set_ylim(figures.PLOT_FLOOR / 3, 1)
    ax.grid(alpha=0.25, which="major")
    ax.set_title(f"regularization bias on {game} (η={eta:g})", fontsize=11)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


if __name__ == "__main__":
    sys.exit(cli.entry(main))
