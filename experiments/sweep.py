"""Hyperparameter sensitivity: an ``eta x tau`` grid per rule (one vmapped sweep each), and COMAL's inner steps.

Heatmaps of the final last-iterate gap and of the steps to reach gap 1e-6 (recorded every ``--record-every``
steps) for INPO, MMD, Nash-MD, EGPO and COMAL on ``comal_cycle()``; then COMAL with ``K`` inner steps per outer
step for several ``K`` (a structural option: one compilation per ``K``).

    python -m experiments.sweep [--quick] [--rules inpo,comal] [--steps 5000]
"""

from __future__ import annotations

import sys
import time

import numpy as np

from . import common

STUDY = "sweep"
RULES = ("inpo", "mmd", "nash_md", "egpo", "comal")
LEVEL = 1e-6


def main(argv=None) -> int:
    p = common.parser(STUDY, __doc__.splitlines()[0])
    p.add_argument("--rules", default=None, help=f"comma-separated (default: {','.join(RULES)})")
    p.add_argument(
        "--steps", type=common.positive_int("--steps"), default=None, help="default 5000 (--quick 1000)"
    )
    p.add_argument("--record-every", type=common.positive_int("--record-every"), default=50)
    args = p.parse_args(argv)
    common.setup(args)
    import algorithms
    import games

    names = common.rule_names(p, args.rules, RULES)
    steps = args.steps or (1000 if args.quick else 5000)
    common.check_schedule(p, steps, args.record_every)
    n = 4 if args.quick else 8
    etas, taus = np.geomspace(0.05, 1.0, n), np.geomspace(0.01, 1.0, n)  # eta tau <= 1
    game = games.comal_cycle(dtype=args.dtype)
    t0 = time.perf_counter()
    rows, results = [], {}
    for name in names:
        rule = algorithms.get(name)
        names_hp = [h.name for h in rule.hparams]
        if "eta" not in names_hp or "tau" not in names_hp:
            common.fail(p, f"rule {name} has no eta x tau grid (hyperparameters: {', '.join(names_hp)})")
        tic = time.perf_counter()
        tr = algorithms.sweep(rule, game, steps=steps, record_every=args.record_every, eta=etas, tau=taus)
        gaps = np.asarray(tr.metrics["gap"])  # [eta, tau, R+1]
        results[rule.name] = (gaps[..., -1], common.first_below(tr.steps, gaps, LEVEL))
        common.progress(
            f"  {rule.name:<18} {n}x{n} grid x {steps} steps in {time.perf_counter() - tic:5.2f} s"
        )
        for i, e in enumerate(etas):
            for j, t in enumerate(taus):
                rows += [
                    (
                        STUDY,
                        "comal_cycle",
                        rule.name,
                        f"eta={e:g};tau={t:g}",
                        args.seed,
                        int(s),
                        "gap",
                        repr(float(v)),
                    )
                    for s, v in zip(tr.steps, gaps[i, j])
                ]
    ks = (10, 100) if args.quick else (10, 30, 100, 300, 1000)
    k_rows = []
    for k in ks:
        rule = algorithms.comal(algorithms.inpo(), k)
        tr = algorithms.run(rule, game, steps=steps, record_every=args.record_every, eta=0.5, tau=0.1)
        gaps = np.asarray(tr.metrics["gap"])
        first = common.first_below(tr.steps, gaps, LEVEL)
        k_rows.append((k, f"{gaps[-1]:.3e}", "never" if np.isnan(first) else int(first)))
        rows += [
            (STUDY, "comal_cycle", rule.name, "eta=0.5;tau=0.1", args.seed, int(s), "gap", repr(float(v)))
            for s, v in zip(tr.steps, gaps)
        ]
    out = args.out
    common.write_csv(out / "trace.csv", rows)
    summary = []
    for label, (final, first) in results.items():
        b = (
            np.unravel_index(np.nanargmin(np.where(np.isnan(first), np.inf, first)), first.shape)
            if np.isfinite(first).any()
            else np.unravel_index(np.argmin(final), final.shape)
        )
        summary.append(
            (
                label,
                f"{np.mean(final <= LEVEL):.0%}",
                f"{etas[b[0]]:.3g}",
                f"{taus[b[1]]:.3g}",
                f"{final[b]:.3e}",
                "never" if np.isnan(first[b]) else int(first[b]),
            )
        )
    header = (
        "rule",
        f"grid share with gap <= {LEVEL:g}",
        "best eta",
        "best tau",
        "its final gap",
        "its steps to 1e-6",
    )
    common.write_csv(out / "summary.csv", summary, header)
    plot(results, etas, taus, out, steps)
    common.write_metadata(out, {"study": STUDY, "steps": steps, "etas": etas.tolist(), "taus": taus.tolist()})
    print(common.table(summary, header))
    print("\nCOMAL (INPO inner, eta=0.5, tau=0.1) by inner steps K:")
    print(common.table(k_rows, ("K", "final gap", "steps to 1e-6")))
    print(f"\nwrote {out}/ in {time.perf_counter() - t0:.1f} s")
    return 0


def plot(results, etas, taus, out, steps):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(results)
    fig, axes = plt.subplots(2, k, figsize=(3.2 * k, 6), squeeze=False)
    for c, (label, (final, first)) in enumerate(results.items()):
        im = axes[0, c].imshow(
            np.log10(common.plot_floor(final)), origin="lower", cmap="viridis", vmin=-17, vmax=0
        )
        axes[0, c].set_title(f"{label}\nlog10 final gap", fontsize=9)
        im2 = axes[1, c].imshow(
            np.where(np.isnan(first), steps * 1.05, first),
            origin="lower",
            cmap="magma_r",
            vmin=0,
            vmax=steps * 1.05,
        )
        axes[1, c].set_title("steps to 1e-6 (top = never)", fontsize=9)
        for ax in axes[:, c]:
            ax.set_xticks(range(len(taus)), [f"{t:.2g}" for t in taus], rotation=90, fontsize=7)
            ax.set_yticks(range(len(etas)), [f"{e:.2g}" for e in etas], fontsize=7)
            ax.set_xlabel("tau", fontsize=8)
        axes[0, c].set_ylabel("eta", fontsize=8)
        axes[1, c].set_ylabel("eta", fontsize=8)
    fig.colorbar(im, ax=axes[0, :].tolist(), shrink=0.8)
    fig.colorbar(im2, ax=axes[1, :].tolist(), shrink=0.8)
    common.save_figure(fig, out / "sweep.png")
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
