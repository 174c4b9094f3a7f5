"""The paper's synthetic study (Liu et al., arXiv 2410.23223, Sec. 5) in one command.

Every rule of ``algorithms.RULES`` on the 3x3 non-transitive game ``comal_cycle()`` (float64, uniform start and
reference), defaults: ``eta = 0.5``, ``tau = 0.1`` (iterative IPO/DPO: ``tau = 1/eta``), COMAL = INPO inner with
100 inner steps, MPO resets every 100 steps, 5000 steps, metrics recorded every 10 steps. Writes
``trace.csv``, ``metadata.json``, ``summary.csv``, ``gap.png``/``gap.pdf`` and ``simplex.png`` to
``results/paper/`` and prints the summary table and the pairwise win rates of the final policies.

    python -m experiments.paper            # the full study (< 60 s on a 2-core CPU, compilation included)
    python -m experiments.paper --quick    # a few seconds
"""

from __future__ import annotations

import sys
import time

import numpy as np

from . import common

STUDY = "paper"
GAP_TARGET = 1e-6
#: Rules drawn on the probability simplex.
SIMPLEX_RULES = ("mwu", "inpo", "nash_md", "omwu", "extragradient", "comal")


def main(argv=None) -> int:
    p = common.parser(STUDY, __doc__.splitlines()[0])
    p.add_argument(
        "--steps", type=common.positive_int("--steps"), default=None, help="default 5000 (--quick: 1000)"
    )
    p.add_argument("--rules", default=None, help="comma-separated registry names (default: all)")
    p.add_argument("--eta", type=common.positive("--eta"), default=0.5, help="step size (default 0.5)")
    p.add_argument("--tau", type=common.positive("--tau"), default=0.1, help="KL weight (default 0.1)")
    p.add_argument(
        "--noise", type=float, default=0.0, help="log-perturbation of the start, drawn from --seed"
    )
    p.add_argument("--record-every", type=common.positive_int("--record-every"), default=10)
    args = p.parse_args(argv)
    common.setup(args)

    import algorithms
    import games

    names = common.rule_names(p, args.rules, list(algorithms.RULES))
    steps = args.steps or (1000 if args.quick else 5000)
    common.check_schedule(p, steps, args.record_every)
    if args.noise < 0 or not np.isfinite(args.noise):
        common.fail(p, f"--noise must be a finite number >= 0, got {args.noise}")

    t0 = time.perf_counter()
    game = games.comal_cycle(dtype="float64" if args.dtype == "float64" else "float32")
    nash = games.solve(game)
    reg = games.regularized_equilibrium(game, args.tau)
    results = {}
    for name in names:
        rule = algorithms.get(name)
        hp = common.rule_hparams(rule, args.eta, args.tau)
        tic = time.perf_counter()
        try:
            trace = algorithms.run(
                rule,
                game,
                steps=steps,
                record_every=args.record_every,
                key=args.seed,
                nash=nash,
                record_policy=True,
                noise=args.noise,
                **hp,
            )
        except ValueError as err:
            common.fail(p, str(err))
        results[rule.name] = (hp, trace)
        common.progress(f"  {rule.name:<18} {steps} steps in {time.perf_counter() - tic:5.2f} s")

    out = args.out
    rows = [
        r
        for label, (hp, tr) in results.items()
        for r in common.tidy_rows(STUDY, "comal_cycle", label, hp, args.seed, tr.steps, tr.metrics)
    ]
    common.write_csv(out / "trace.csv", rows)
    summary, header = summarize(results, game)
    common.write_csv(out / "summary.csv", summary, header)
    plot_gap(results, reg, out, args)
    plot_simplex(results, nash, reg, out)
    common.write_metadata(
        out,
        {
            "study": STUDY,
            "steps": steps,
            "eta": args.eta,
            "tau": args.tau,
            "regularized_gap": reg.gap,
            "seconds": time.perf_counter() - t0,
        },
    )

    print(
        f"comal_cycle, {steps} steps, eta={args.eta:g}, tau={args.tau:g}, {args.dtype}; NE = (4/11, 3/11, 4/11); "
        f"regularized-equilibrium gap at tau={args.tau:g}: {reg.gap:.4g}"
    )
    print(common.table(summary, header))
    print()
    print(win_rate_table(results, game))
    print(
        f"\nwrote {out}/ (trace.csv, summary.csv, metadata.json, gap.png, gap.pdf, simplex.png) "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    return 0


def summarize(results, game):
    header = (
        "rule",
        "hparams",
        "final gap",
        "worst-case win rate",
        f"steps to gap {GAP_TARGET:g}",
        "KL(pi*||pi)",
    )
    rows = []
    for label, (hp, tr) in results.items():
        m = tr.metrics
        rows.append(
            (
                label,
                common.format_hparams(hp),
                f"{float(m['gap'][-1]):.3e}",
                f"{float(m['win_rate'][-1]):.6f}",
                common.steps_to(tr.steps, m["gap"], GAP_TARGET),
                f"{float(m['kl_to_nash'][-1]):.3e}",
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
        + common.table(rows, ["", *[str(i + 1) for i in range(len(labels))]])
    )


def plot_gap(results, reg, out, args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    cmap = plt.get_cmap("tab20")
    for i, (label, (_, tr)) in enumerate(results.items()):
        lw = 2.4 if label.startswith("comal") else 1.3
        ls = ("-", "--", ":", "-.")[i % 4]  # rules that coincide (sppo = mwu, mmd = inpo limit) stay visible
        ax.plot(tr.steps, common.plot_floor(tr.metrics["gap"]), label=label, color=cmap(i % 20), lw=lw, ls=ls)
    ax.axhline(reg.gap, color="gray", ls="--", lw=1)
    ax.text(tr.steps[-1], reg.gap * 1.3, f"regularized equilibrium, tau={args.tau:g}", ha="right", fontsize=8)
    ax.axhline(1e-11, color="black", ls=":", lw=1)
    ax.text(tr.steps[-1], 1e-11 * 1.6, "1e-11", ha="right", fontsize=8)
    ax.set_yscale("log")
    ax.set_ylim(1e-17, 2)
    ax.set_xlabel("step")
    ax.set_ylabel("last-iterate duality gap")
    ax.set_title("comal_cycle: last-iterate duality gap (exact zeros drawn at 1e-17)")
    ax.legend(fontsize=7, ncol=2, loc="lower left")
    common.save_figure(fig, out / "gap.png")
    common.save_figure(fig, out / "gap.pdf")
    plt.close(fig)


def _tri(p):
    p = np.asarray(p)
    return p[..., 1] + 0.5 * p[..., 2], (np.sqrt(3) / 2) * p[..., 2]


def plot_simplex(results, nash, reg, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5.4))
    corners = np.eye(3)
    cx, cy = _tri(np.vstack([corners, corners[:1]]))
    ax.plot(cx, cy, color="black", lw=1)
    for i, (x, y) in enumerate(zip(*_tri(corners))):
        ax.text(x, y + (0.03 if i == 2 else -0.05), f"action {i}", ha="center", fontsize=9)
    # the converging rules meet in a small region around the Nash policy: an inset magnifies it
    zoom = ax.inset_axes([0.02, 0.52, 0.40, 0.40])
    nx, ny = _tri(nash.x)
    for label, (_, tr) in results.items():
        if label.split("(")[0] not in SIMPLEX_RULES:
            continue
        px, py = _tri(tr.policies.x)
        line = ax.plot(px, py, lw=1, label=label, alpha=0.85)[0]
        ax.plot(px[-1], py[-1], "o", ms=4, color=line.get_color())
        zoom.plot(px, py, lw=1, alpha=0.85, color=line.get_color())
        zoom.plot(px[-1], py[-1], "o", ms=4, color=line.get_color())
    for target in (ax, zoom):
        target.plot(nx, ny, "k*", ms=14, label="Nash (4/11, 3/11, 4/11)" if target is ax else None)
        target.plot(
            *_tri(reg.x), "kx", ms=10, label=f"regularized eq. (tau={reg.tau:g})" if target is ax else None
        )
    half = 0.04
    zoom.set_xlim(nx - half, nx + half)
    zoom.set_ylim(ny - half, ny + half)
    zoom.set_xticks([])
    zoom.set_yticks([])
    zoom.set_aspect("equal")
    ax.indicate_inset_zoom(zoom, edgecolor="gray")
    ax.set_aspect("equal")
    ax.axis("off")
    ax.legend(fontsize=7, loc="upper right")
    ax.set_title("trajectories on the probability simplex")
    common.save_figure(fig, out / "simplex.png")
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
