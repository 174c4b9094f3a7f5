"""Many games at once: every rule on B games of a random family (default 256 cyclic 5x5), vmapped.

For each rule: the median and inter-quartile band of the last-iterate gap curves, and the share of games where
it reaches gap ``--level`` (and stays there). Exact equilibria by LP give ``kl_to_nash`` per game. A fixed
``--game`` (a file, or a library game without a random key) gives an ensemble of B random starts instead
(``--start-noise`` > 0 required).

    python -m experiments.ensemble [--quick] [--games 256] [--n 5] [--kind cyclic] [--rules mwu,comal]
"""

from __future__ import annotations

import inspect
import sys
import time

import numpy as np

from .common import cli, figures, gamespec, metadata, output, progress, rules, tables

STUDY = "ensemble"


def main(argv=None) -> int:
    p = cli.parser(STUDY, __doc__.splitlines()[0])
    cli.add_count(p, "--games", "ensemble size B (default 256; --quick 16)")
    cli.add_count(p, "--n", "actions per random game (default 5)")
    p.add_argument(
        "--kind",
        default=None,
        help="random family: uniform, cyclic or mixed (default cyclic); see games.random_preference",
    )
    gamespec.add_game(p, "random_preference:n=5,kind=cyclic (one draw per game from --seed)")
    cli.add_rules(p, "every registered rule")
    cli.add_count(p, "--steps", "steps per run (default 5000; --quick 500)")
    cli.add_record_every(p, 50)
    cli.add_eta_tau(p)
    cli.add_start_noise(p)
    cli.add_level(p)
    cli.add_x(p, "oracle_calls")
    cli.add_feedback(p)
    cli.add_hp(p)
    args = p.parse_args(argv)
    cli.setup(args)
    import algorithms
    import games

    if args.game is not None and (args.n is not None or args.kind is not None):
        cli.fail(p, "--n/--kind describe the default random family; with --game give them there")
    kind = args.kind or "cyclic"
    if kind not in games.library.RANDOM_KINDS:
        cli.fail(p, f"unknown --kind {kind!r}; valid: {', '.join(games.library.RANDOM_KINDS)}")
    n = args.n or 5
    if n < 2:
        cli.fail(p, "--n must be >= 2")
    spec = args.game or f"random_preference:n={n},kind={kind}"
    B = args.games or (16 if args.quick else 256)
    random_family = _is_random_family(spec)
    gs = gamespec.resolve_game(p, spec, args.game_kind, spec, args.dtype, args.seed)
    if random_family:  # one draw per game, keys from --seed's SeedSequence
        gs.label, gs.meta = (
            spec,
            {"name": spec.partition(":")[0], "spec": spec, "keys": "numpy SeedSequence(--seed)"},
        )
    if not random_family and args.start_noise == 0:
        cli.fail(
            p, f"--game {spec} is one fixed game: give --start-noise > 0 for an ensemble of random starts"
        )
    specs = rules.resolve_rules(p, args.rules, list(algorithms.RULES))
    steps = args.steps or (500 if args.quick else 5000)
    cli.check_schedule(p, steps, args.record_every)
    cli.check_x(p, args.x, args.feedback)
    specs, hps = rules.study_hparams(p, specs, gs.game, args)
    cli.check_level(args.level, args.dtype)
    with output.Output(p, cli.default_out(args)) as out:
        run_study(args, specs, spec, gs, random_family, B, steps, hps, out.path)
    print(f"wrote {out.out}/")
    return 0


def _is_random_family(spec: str) -> bool:
    import games

    name = spec.partition(":")[0]
    fn = getattr(games.library, name, None)
    return callable(fn) and "key" in inspect.signature(fn).parameters and "key=" not in spec


def run_study(args, specs, spec, gs, random_family, B, steps, hps, folder) -> None:
    import algorithms
    import games

    t0 = time.perf_counter()
    timer = progress.Timer()
    if random_family:
        keys = cli.run_seeds(args.seed, B)
        with timer("games and LP"), progress.progress(args, B, "ensemble: games solved by LP", "game") as bar:
            game_list, eqs = [], []
            for k in keys:
                g, _, _ = gamespec.library_game(spec, args.dtype, k)
                game_list.append(g)
                eqs.append(games.solve(g))
                bar.update()
        where = dict(game=[f"{gs.label}#{i}" for i in range(B)], seed=args.seed)
        seeds = None
    else:
        game_list, eqs = gs.game, games.solve(gs.game)
        seeds = cli.run_seeds(args.seed, B)
        where = dict(game=gs.label, seed=seeds)
    label = f"{gs.label} x{B}"
    frames, curves, summary = [], {}, []
    with progress.progress(args, len(specs), f"ensemble: rules on {B} runs", "rule") as bar:
        for s in specs:
            bar.set_postfix_str(f"{s.name}, {B} x {steps} steps")
            with timer(s.name):
                tr = algorithms.sweep(
                    s.rule,
                    game_list,
                    steps=steps,
                    record_every=args.record_every,
                    nash=eqs,
                    seeds=seeds,
                    feedback=args.feedback,
                    **hps[s.name],
                )
                gaps = np.asarray(tr.metrics["gap"])  # [B, R+1]
            df, _ = tables.tidy(
                tr,
                experiment=STUDY,
                rule=s.name,
                **where,
            )
            frames.append(_reduce(df, steps, label))
            curves[s.name] = df[df["metric"] == "gap"]
            reached = (gaps <= args.level)[:, -1]
            q = np.quantile(gaps[:, -1], [0.25, 0.5, 0.75])
            summary.append(
                (
                    s.name,
                    rules.format_hparams(hps[s.name]),
                    f"{q[1]:.3e}",
                    f"{q[0]:.2e} .. {q[2]:.2e}",
                    f"{reached.mean():.1%}",
                )
            )
            bar.update()
    header = ("rule", "hparams", "median final gap", "IQR", f"share reaching {args.level:g}")
    output.write_frame(folder / "trace.csv", tables.combine(frames))
    output.write_csv(folder / "summary.csv", summary, header)
    what = f"{B} {'games: ' + gs.label if random_family else 'random starts on ' + gs.label}"
    output.save_figure(
        band_figure(curves, args.x, what, args.level),
        folder / "ensemble.png",
        drawn_by=figures.drawn_by(band_figure),
    )
    meta = metadata.metadata(
        args,
        rules=metadata.rules_meta(specs),
        hyperparameters={"eta": args.eta, "tau": args.tau, "start_noise": args.start_noise},
        steps=steps,
        record_every=args.record_every,
        level=args.level,
        x_axis=args.x,
        game={**gs.meta, "ensemble": "one draw per game" if random_family else "random starts", "size": B},
        wall_time_s={**timer.seconds, "total": round(time.perf_counter() - t0, 3)},
        files=["trace.csv", "summary.csv", "ensemble.png"],
    )
    metadata.write_metadata(folder, meta)
    print(f"{what}, {steps} steps:")
    print(tables.table(summary, header))


def _reduce(df, steps: int, label: str):
    """Per game/start: every metric at the last step; over the ensemble: gap quantiles per record."""
    import pandas as pd

    final = df[df["step"] == steps]
    gap = df[df["metric"] == "gap"]
    keys = [c for c in df.columns if c not in ("game", "seed", "value", "finite", "metric")]
    q = gap.groupby(keys, sort=False)["value"].quantile([0.25, 0.5, 0.75]).rename("value").reset_index()
    level = q.columns[len(keys)]
    q["metric"] = q[level].map({0.25: "gap_q25", 0.5: "gap_median", 0.75: "gap_q75"})
    fin = gap.groupby(keys, sort=False)["finite"].all().reset_index()
    q = q.drop(columns=level).merge(fin, on=keys)
    q["game"], q["seed"] = label, df["seed"].iloc[0] if df["seed"].nunique() == 1 else -1
    return pd.concat([final, q[df.columns]], ignore_index=True)


def band_figure(curves, x: str, what: str, level: float):
    """Median gap and inter-quartile band per rule, one panel per measured behaviour of the median
    (:func:`experiments.common.figures.behaviour` at ``level``), each panel its own x-range (log when one rule
    runs much further, e.g. ``comal_exact``) and y-range; medians equal to round-off drawn once, named together."""
    labels = list(curves)
    qs, meds = {}, {}
    for lab in labels:
        g = curves[lab].groupby("step")
        xs = g[x].median().to_numpy()
        qs[lab] = (xs, np.stack([g["value"].quantile(v).to_numpy() for v in (0.25, 0.5, 0.75)]))
        meds[lab] = (xs, qs[lab][1][1])
    groups = figures.by_behaviour({lab: m[1] for lab, m in meds.items()}, level)
    style = figures.styles(groups)
    fig, panels = figures.panel_figure(
        [figures.panel_title(g, level) for g in groups],
        suptitle=f"{what}: last-iterate gap, median and IQR band; panels by what the median does "
        "(own y-range per panel)",
        sharey=False,
    )
    figures.label_x(panels.values(), x)
    for labs, ax in zip(groups.values(), panels.values()):
        lo, hi = np.inf, 0.0
        lines = figures.draw_curves(ax, {lab: meds[lab] for lab in labs}, style)
        for line in lines:
            lab = line.get_label().split(" = ")[0]
            xs, q = qs[lab][0], figures.plot_floor(qs[lab][1])
            ax.fill_between(xs, q[0], q[2], color=style[lab]["color"], alpha=0.15, lw=0)
            lo, hi = min(lo, q[0].min(), q[1].min()), max(hi, q[2].max())
        ref = ax.axhline(
            level, color="0.45", ls=(0, (6, 3)), lw=1, label=f"gap {level:g} (the summary's level)"
        )
        ax.set_yscale("log")
        ax.grid(alpha=0.25)
        figures.legend_below(ax, handles=lines)
        ax.set_ylim(lo / 2, hi * 2)  # each panel's own range: bands a decade apart stay apart
        figures.set_x_range(ax, [qs[lab][0] for lab in labs])
    next(iter(panels.values())).set_ylabel("last-iterate duality gap")
    figures.reference_legend(fig, [ref])
    return fig


if __name__ == "__main__":
    sys.exit(cli.entry(main))
