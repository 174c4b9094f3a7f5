"""Many random games at once: every rule on B games of a family (default 256 cyclic 5x5), vmapped.

For each rule: the median and inter-quartile band of the last-iterate gap curves, and the share of games where
it reaches gap 1e-6 (and stays there). Exact equilibria by LP give ``kl_to_nash`` per game.

    python -m experiments.ensemble [--quick] [--games 256] [--n 5] [--kind cyclic] [--rules mwu,comal]
"""

from __future__ import annotations

import sys
import time

import numpy as np

from . import common

STUDY = "ensemble"
LEVEL = 1e-6


def main(argv=None) -> int:
    p = common.parser(STUDY, __doc__.splitlines()[0])
    p.add_argument(
        "--games", type=common.positive_int("--games"), default=None, help="default 256 (--quick 16)"
    )
    p.add_argument("--n", type=common.positive_int("--n"), default=5, help="actions per game (default 5)")
    p.add_argument(
        "--kind", default="cyclic", help="random family: uniform, cyclic or mixed (default cyclic)"
    )
    p.add_argument("--rules", default=None, help="comma-separated registry names (default: all)")
    p.add_argument(
        "--steps", type=common.positive_int("--steps"), default=None, help="default 5000 (--quick 500)"
    )
    p.add_argument("--record-every", type=common.positive_int("--record-every"), default=50)
    p.add_argument("--eta", type=common.positive("--eta"), default=0.5)
    p.add_argument("--tau", type=common.positive("--tau"), default=0.1)
    args = p.parse_args(argv)
    common.setup(args)
    import algorithms
    import games

    if args.kind not in games.library.RANDOM_KINDS:
        common.fail(p, f"unknown --kind {args.kind!r}; valid: {', '.join(games.library.RANDOM_KINDS)}")
    if args.n < 2:
        common.fail(p, "--n must be >= 2")
    names = common.rule_names(p, args.rules, list(algorithms.RULES))
    B = args.games or (16 if args.quick else 256)
    steps = args.steps or (500 if args.quick else 5000)
    common.check_schedule(p, steps, args.record_every)
    t0 = time.perf_counter()
    ss = np.random.SeedSequence(args.seed).generate_state(B)
    game_list = [games.random_preference(int(s), args.n, args.kind, dtype=args.dtype) for s in ss]
    eqs = [games.solve(g) for g in game_list]
    common.progress(
        f"  {B} {args.kind} {args.n}x{args.n} games solved by LP in {time.perf_counter() - t0:.2f} s"
    )
    rows, curves, summary = [], {}, []
    for name in names:
        rule = algorithms.get(name)
        hp = common.rule_hparams(rule, args.eta, args.tau)
        tic = time.perf_counter()
        tr = algorithms.sweep(rule, game_list, steps=steps, record_every=args.record_every, nash=eqs, **hp)
        gaps = np.asarray(tr.metrics["gap"])  # [B, R+1]
        q = np.quantile(gaps, [0.25, 0.5, 0.75], axis=0)
        curves[rule.name] = q
        reached = (gaps <= LEVEL)[:, -1]
        summary.append(
            (
                rule.name,
                common.format_hparams(hp),
                f"{q[1, -1]:.3e}",
                f"{q[0, -1]:.2e} .. {q[2, -1]:.2e}",
                f"{reached.mean():.1%}",
            )
        )
        common.progress(f"  {rule.name:<18} {B} games x {steps} steps in {time.perf_counter() - tic:5.2f} s")
        for qi, qname in enumerate(("q25", "median", "q75")):
            rows += [
                (
                    STUDY,
                    f"{args.kind}{args.n}x{B}",
                    rule.name,
                    common.format_hparams(hp),
                    args.seed,
                    int(s),
                    f"gap_{qname}",
                    repr(float(v)),
                )
                for s, v in zip(tr.steps, q[qi])
            ]
        rows += [
            (
                STUDY,
                f"{args.kind}{args.n}#{b}",
                rule.name,
                common.format_hparams(hp),
                args.seed,
                steps,
                "final_gap",
                repr(float(gaps[b, -1])),
            )
            for b in range(B)
        ]
    header = ("rule", "hparams", "median final gap", "IQR", f"share reaching {LEVEL:g}")
    out = args.out
    common.write_csv(out / "trace.csv", rows)
    common.write_csv(out / "summary.csv", summary, header)
    plot(curves, tr.steps, out, args, B)
    common.write_metadata(out, {"study": STUDY, "games": B, "n": args.n, "kind": args.kind, "steps": steps})
    print(f"{B} random {args.kind} {args.n}x{args.n} preference games, {steps} steps:")
    print(common.table(summary, header))
    print(f"\nwrote {out}/ in {time.perf_counter() - t0:.1f} s")
    return 0


def plot(curves, steps, out, args, B):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    cmap = plt.get_cmap("tab20")
    for i, (label, q) in enumerate(curves.items()):
        c = cmap(i % 20)
        ax.plot(
            steps, common.plot_floor(q[1]), color=c, label=label, lw=2 if label.startswith("comal") else 1.2
        )
        ax.fill_between(steps, common.plot_floor(q[0]), common.plot_floor(q[2]), color=c, alpha=0.15)
    ax.set_yscale("log")
    ax.set_ylim(1e-17, 2)
    ax.set_xlabel("step")
    ax.set_ylabel("last-iterate duality gap (median, IQR band)")
    ax.set_title(f"{B} random {args.kind} {args.n}x{args.n} games")
    ax.legend(fontsize=7, ncol=2, loc="lower left")
    common.save_figure(fig, out / "ensemble.png")
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
