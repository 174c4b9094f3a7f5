"""A contextual game: several prompts, each with its own preference matrix, and non-uniform prompt weights.

One policy per prompt (``[C, n]``); every metric is the rho-weighted sum over prompts. Reports the aggregate
last-iterate gap and each prompt's own gap for MWU, INPO, OMWU and COMAL, and plots both.

    python -m experiments.contextual [--quick] [--prompts 4] [--n 4]
"""

from __future__ import annotations

import sys
import time

import numpy as np

from . import common

STUDY = "contextual"
RULES = ("mwu", "inpo", "omwu", "comal")


def build_game(seed: int, prompts: int, n: int, dtype: str):
    """Prompt 0 is the paper's cycle when ``n = 3``; the others (all when ``n > 3``) random cyclic games.
    Weights ``rho`` decay geometrically (prompt 0 is the most common)."""
    import games

    rng = np.random.default_rng(seed)
    Ps = []
    for c in range(prompts):
        if c == 0 and n == 3:
            Ps.append(np.asarray(games.comal_cycle().P))
        else:
            Ps.append(np.asarray(games.random_preference(int(rng.integers(2**31)), n, "cyclic").P))
    rho = 0.6 ** np.arange(prompts)
    return games.preference_game(np.stack(Ps), rho / rho.sum(), dtype=dtype)


def main(argv=None) -> int:
    p = common.parser(STUDY, __doc__.splitlines()[0])
    p.add_argument("--prompts", type=common.positive_int("--prompts"), default=4)
    p.add_argument("--n", type=common.positive_int("--n"), default=3)
    p.add_argument(
        "--steps", type=common.positive_int("--steps"), default=None, help="default 10000 (--quick 1000)"
    )
    p.add_argument("--rules", default=None, help=f"comma-separated (default: {','.join(RULES)})")
    p.add_argument("--eta", type=common.positive("--eta"), default=0.5)
    p.add_argument("--tau", type=common.positive("--tau"), default=0.1)
    args = p.parse_args(argv)
    common.setup(args)
    import algorithms
    import games

    if args.n < 3:
        common.fail(p, "--n must be >= 3 (cyclic prompts)")
    names = common.rule_names(p, args.rules, RULES)
    steps = args.steps or (1000 if args.quick else 10000)
    every = max(1, steps // 200)
    if steps % every:
        common.fail(p, f"--steps ({steps}) must be a multiple of {every}")
    t0 = time.perf_counter()
    game = build_game(args.seed, args.prompts, args.n, args.dtype)
    eq = games.solve(game)
    rho = np.asarray(game.weights)
    rows, per_prompt, summary = [], {}, []
    for name in names:
        rule = algorithms.get(name)
        hp = common.rule_hparams(rule, args.eta, args.tau)
        tr = algorithms.run(rule, game, steps=steps, record_every=every, nash=eq, record_policy=True, **hp)
        prompt_gap = np.asarray(tr.metrics.pop("gap_by_context"))  # [R+1, C]: each prompt's own gap
        for name in [m for m in tr.metrics if m.endswith("_by_context")]:
            tr.metrics.pop(name)
        per_prompt[rule.name] = (np.asarray(tr.metrics["gap"]), prompt_gap)
        rows += list(
            common.tidy_rows(
                STUDY,
                f"contextual{args.prompts}x{args.n}",
                rule.name,
                hp,
                args.seed,
                tr.steps,
                {**tr.metrics, "prompt_gap": prompt_gap},
            )
        )
        summary.append(
            (
                rule.name,
                f"{float(tr.metrics['gap'][-1]):.3e}",
                *[f"{prompt_gap[-1, c]:.2e}" for c in range(args.prompts)],
            )
        )
        assert np.allclose(prompt_gap @ rho, tr.metrics["gap"], rtol=1e-9, atol=1e-12)
    header = ("rule", "aggregate gap", *[f"prompt {c} (rho={rho[c]:.2f})" for c in range(args.prompts)])
    out = args.out
    common.write_csv(out / "trace.csv", rows)
    common.write_csv(out / "summary.csv", summary, header)
    plot(per_prompt, tr.steps, rho, out)
    common.write_metadata(
        out, {"study": STUDY, "prompts": args.prompts, "n": args.n, "weights": rho.tolist()}
    )
    print(
        f"contextual game: {args.prompts} prompts x {args.n} responses, rho = {np.round(rho, 3).tolist()}, "
        f"{steps} steps"
    )
    print(common.table(summary, header))
    print(f"\nwrote {out}/ in {time.perf_counter() - t0:.1f} s")
    return 0


def plot(per_prompt, steps, rho, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(per_prompt)
    fig, axes = plt.subplots(1, k, figsize=(3.6 * k, 3.6), sharey=True, squeeze=False)
    for ax, (label, (agg, prompt)) in zip(axes[0], per_prompt.items()):
        for c in range(prompt.shape[1]):
            ax.plot(steps, common.plot_floor(prompt[:, c]), lw=1, label=f"prompt {c} (rho={rho[c]:.2f})")
        ax.plot(steps, common.plot_floor(agg), "k", lw=2, label="aggregate")
        ax.set_yscale("log")
        ax.set_ylim(1e-17, 2)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("step")
    axes[0, 0].set_ylabel("last-iterate duality gap")
    axes[0, 0].legend(fontsize=7)
    common.save_figure(fig, out / "contextual.png")
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
