"""Learning from sampled preferences: each rule's closed form against its loss, minimised by an optimizer over
a parameterized policy, with the exact population loss or K judged pairs per iteration.

For every combination of

* rule: iterative IPO, SPPO, INPO, Nash-MD, EGPO and COMAL(INPO), each as its closed form (exact feedback) and
  as :func:`algorithms.loss_based` on its loss (IPO, SPPO's (4.6), INPO, Nash-MD, EGPO; COMAL re-centres the
  reference of loss-based INPO every ``--comal-every`` iterations);
* feedback: the population loss (every pair of every prompt, exactly weighted: deterministic) and K = 16, 256,
  4096 judged pairs per iteration (hard labels: one Bernoulli draw per pair); on the contextual game
  ``--prompts-per-iteration`` B prompts are drawn by rho each iteration, with K / B pairs each;
* policy: tabular, log-linear and a (10, 10) tanh MLP over fixed random response features (the paper game:
  ``d = 2 = n - 1``, so the log-linear family holds every policy; the contextual game: ``d = 3 < n - 1 = 4``
  per prompt, ``theta`` shared by the 16 prompts, so no policy of the family is a Nash policy);
* game: the paper's 3x3 cycle and a contextual game (16 prompts x 5 responses, rho ∝ 0.8^c),

it records the last-iterate duality gap (and each prompt's gap on the contextual game) against iterations and
comparisons, over ``--seeds`` seeds (the K values and seeds of one rule are one compiled ``sweep``). It also
shows SPPO's (4.6) against (4.1): the loss replaces log Z by eta/2, so its population minimizer is not the MWU
step.

Writes ``trace.csv`` (tidy; ``policy``, ``feedback`` and ``pairs`` columns), ``summary.csv``, ``sampled.png``
(a panel per rule x game x policy; x: comparisons; the population loss and the closed form as horizontal
lines at their final gap) and ``metadata.json`` to ``results/sampled/`` (``--quick``: ``results/sampled-quick/``).
The printed table gives the gap reached (mean over the last 10 % of the records, median over seeds) and the
iterations and comparisons after which the gap stays below 1e-2 and 1e-4 (median over seeds).

    python -m experiments.sampled           # full: 2 games x 3 policies x 6 rules, 1000 / 500 iterations, 2 seeds
    python -m experiments.sampled --quick   # the paper game, tabular, K = 16, 256, 200 iterations, 1 seed
"""

from __future__ import annotations

import os
import sys
import time
from typing import NamedTuple

import numpy as np

from .common import cli, figures, metadata, output, progress, tables

STUDY = "sampled"
ETA, TAU = 0.5, 0.1
#: label -> (closed-form factory name, loss name): the loss whose population minimizer the closed form is
RULES = {
    "iterative_ipo": ("iterative_ipo", "ipo"),
    "sppo": ("sppo", "sppo"),
    "inpo": ("inpo", "inpo"),
    "nash_md": ("nash_md", "nash_md"),
    "egpo": ("egpo", "egpo"),
    "comal(inpo)": ("inpo", "inpo"),
}
POLICIES = ("tabular", "loglinear", "mlp")
GAMES = ("paper", "contextual")
PAIRS = (16, 256, 4096)
LEVELS = (1e-2, 1e-4)
STEPS = {"paper": 1000, "contextual": 500}  # iterations per run (the full run's defaults)


def hparams(label: str) -> dict[str, float]:
    """The study's hyperparameters of a rule (iterative IPO's tau is 1/eta: the same step as the others)."""
    if label == "iterative_ipo":
        return {"tau": 1 / ETA}
    if label == "sppo":
        return {"eta": ETA}
    return {"eta": ETA, "tau": TAU}


def rule_for(label: str, feedback: str, policy, comal_every: int, prompts: int | None, pairs=PAIRS):
    """The closed form (``feedback == "closed form"``) or the loss-based rule of ``label`` (drawing
    ``max(pairs) / B`` pairs per prompt; the ``pairs`` hyperparameter says how many are judged)."""
    import algorithms

    closed, loss = RULES[label]
    if feedback == "closed form":
        rule = algorithms.get(closed)
    else:
        k = None if feedback == "population" else max(pairs) // (prompts or 1)
        rule = algorithms.loss_based(loss, policy, pairs=k, prompts=prompts)
    return algorithms.comal(rule, comal_every) if label.startswith("comal") else rule


def main(argv=None) -> int:
    p = cli.parser(STUDY, __doc__.splitlines()[0])
    p.add_argument(
        "--rules",
        default=None,
        help=f"comma-separated subset of {', '.join(RULES)} (default: all)",
    )
    p.add_argument(
        "--policies", default=None, help=f"comma-separated subset of {', '.join(POLICIES)} (default: all)"
    )
    p.add_argument(
        "--games", default=None, help=f"comma-separated subset of {', '.join(GAMES)} (default: all)"
    )
    cli.add_count(
        p,
        "--steps",
        "iterations per run on every game, a multiple of 100 (default 1000 on the paper game, 500 on "
        "the contextual one, whose iterations cost 1.5-3x more; --quick 200)",
    )
    cli.add_count(p, "--seeds", "seeds per K (default 2; --quick 1)")
    p.add_argument(
        "--pairs",
        default=None,
        help="comma-separated K, judged pairs per iteration (default 16,256,4096; --quick 16,256)",
    )
    cli.add_count(
        p, "--comal-every", "COMAL's iterations between reference updates (default 100)", default=100
    )
    cli.add_count(
        p,
        "--prompts-per-iteration",
        "B, prompts drawn by rho per iteration on the contextual game (K / B pairs each; default 4)",
        default=4,
    )
    cli.add_count(
        p,
        "--jobs",
        "worker processes, each running whole sweeps (default: min(2, CPUs)); results do not depend on it",
        default=min(2, os.cpu_count() or 1),
    )
    cli.add_feedback(
        p,
        who="the closed-form rows (exact: deterministic; sampled:K / noisy:SIGMA: over --seeds seeds) "
        "- the loss-based rows keep this study's own feedback axis: the population loss and --pairs K",
    )
    cli.add_x(
        p,
        "comparisons",
        what="unit of the second cost-to-level column of the summary (the first counts iterations; "
        "the figure's x-axis is comparisons: this study is about comparison efficiency)",
    )
    cli.add_hp(p, "rule is a --rules label; applies to its closed form and its loss; pairs is --pairs")
    args = p.parse_args(argv)
    rules = cli.subset(p, "--rules", args.rules, tuple(RULES), RULES)
    pols = cli.subset(p, "--policies", args.policies, POLICIES if not args.quick else POLICIES[:1], POLICIES)
    gms = cli.subset(p, "--games", args.games, GAMES if not args.quick else GAMES[:1], GAMES)
    if args.steps is not None:
        steps = {g: args.steps for g in GAMES}
    else:
        steps = {"paper": 200, "contextual": 200} if args.quick else dict(STEPS)
    low = min(steps[g] for g in gms)
    if low % 100:
        cli.fail(p, f"--steps ({low}) must be a multiple of 100")
    if args.comal_every >= low:
        cli.fail(p, f"--comal-every ({args.comal_every}) must be below --steps ({low})")
    pairs = PAIRS[:2] if args.quick else PAIRS
    if args.pairs is not None:
        try:
            pairs = tuple(sorted({int(t) for t in args.pairs.split(",") if t.strip()}))
        except ValueError:
            cli.fail(p, f"--pairs must be comma-separated whole numbers, got {args.pairs!r}")
        if not pairs or pairs[0] < 1:
            cli.fail(p, f"--pairs must name at least one K >= 1, got {args.pairs!r}")
    bad = [k for k in pairs if k % args.prompts_per_iteration]
    if "contextual" in gms and bad:
        cli.fail(
            p, f"--pairs {bad[0]} is not a multiple of --prompts-per-iteration {args.prompts_per_iteration}"
        )
    if args.dtype != "float64":
        cli.fail(p, "--dtype: the sampled study runs in float64 only")
    seeds = args.seeds or (1 if args.quick else 2)
    cli.setup(args)
    check_hp(p, rules, gms, args)
    too_big = memory_check(gms, pairs, steps, seeds, args)
    if too_big:
        cli.fail(p, too_big)
    with output.Output(p, cli.default_out(args)) as out:
        run_study(args, rules, pols, gms, pairs, steps, seeds, out.path)
    print(f"wrote {out.out}/")
    return 0


def check_hp(p, labels, gms, args) -> None:
    """``--hp`` against every rule it reaches (each label's closed form and tabular loss-based rule, on each
    game), before anything runs: :func:`experiments.common.rules.apply_hp`, then each rule's ``init``."""
    import games
    from algorithms import policies

    from .common import rules as rule_specs

    specs = []
    for g, (game, feats) in games.library.featured_games(args.seed, dtype=args.dtype).items():
        if g not in gms:
            continue
        b = args.prompts_per_iteration if game.contextual else None
        for label in labels:
            for fb in ("closed form", "sampled"):
                specs.append(
                    (
                        game,
                        rule_specs.RuleSpec(
                            rule_for(
                                label, fb, policies.by_name("tabular", game, feats), args.comal_every, b
                            ),
                            label,
                        ),
                    )
                )
    hps = {s.name: {} for _, s in specs}
    rule_specs.apply_hp(p, [s for _, s in specs], hps, args.hp, fixed=("pairs",))
    for game, s in specs:
        try:
            s.rule.init(game, args.seed, **{**hparams(s.source), **hps[s.name]})
        except (ValueError, TypeError) as err:
            cli.fail(p, str(err))


def _hp_for(rule, label: str, items) -> dict:
    """The ``--hp`` values (checked by :func:`check_hp`) that reach ``rule``, the closed form or loss of
    ``label``."""
    declared = {h.name for h in rule.hparams}
    return {n: v for scope, n, v in items if scope in (None, label, rule.name) and n in declared}


def memory_check(gms, pairs, steps: dict, seeds: int, args) -> str | None:
    """The largest sweep's memory check (:func:`algorithms.memory.check_sweep`), before anything is computed:
    the sampled loss with ``max(pairs)`` pairs per iteration, on each game; the message, or None."""
    import games
    from algorithms import memory, policies

    for g, (game, _) in games.library.featured_games(args.seed, dtype=args.dtype).items():
        if g not in gms:
            continue
        b = args.prompts_per_iteration if game.contextual else None
        rule = rule_for("egpo", "sampled", policies.tabular(game), args.comal_every, b, pairs)
        per_prompt = [k // (b or 1) for k in pairs]
        try:
            memory.check_sweep(
                rule,
                game,
                steps=steps[g],
                record_every=steps[g] // 100,
                seeds=seeds,
                metrics=("gap",),
                pairs=per_prompt,
            )
        except ValueError as err:
            return f"--pairs {max(pairs)}: {err}"
    return None


class Unit(NamedTuple):
    """One compiled sweep: a rule's closed form, or its loss with one feedback and policy, over seeds (x K)."""

    game: str
    rule: str
    feedback: str  # "closed form", "population" or "sampled"
    policy: str


def units(rules, pols, gms) -> list[Unit]:
    return [
        Unit(g, r, fb, kind)
        for g in gms
        for r in rules
        for fb in ("closed form", "population", "sampled")
        for kind in (pols if fb != "closed form" else ("exact",))
    ]


def simulate(
    unit: Unit,
    seed: int,
    dtype: str,
    pairs,
    steps: dict,
    seeds: int,
    comal_every: int,
    prompts: int,
    feedback=None,
    hp=(),
    x: str = "comparisons",
):
    """Run one unit (in a worker process): ``(tidy frame, summary rows, seconds)``."""
    import jax

    import algorithms
    import games
    from algorithms import policies

    jax.config.update("jax_enable_x64", dtype == "float64")
    tic = time.perf_counter()
    game, feats = games.library.featured_games(seed, dtype=dtype)[unit.game]
    b = prompts if game.contextual and unit.feedback == "sampled" else None  # the population: every prompt
    policy = None if unit.feedback == "closed form" else policies.by_name(unit.policy, game, feats)
    rule = rule_for(unit.rule, unit.feedback, policy, comal_every, b, pairs)
    grid = {**hparams(unit.rule), **_hp_for(rule, unit.rule, hp)}
    if unit.feedback == "sampled":
        grid["pairs"] = [k // (b or 1) for k in pairs]
    closed = unit.feedback == "closed form"
    fb = feedback if closed and feedback is not None else None  # --feedback: the closed forms' observation
    stochastic = unit.feedback == "sampled" or (fb is not None and fb.stochastic)
    n_seeds = seeds if stochastic else 1  # the exact closed forms and population losses are deterministic
    n = steps[unit.game]
    run_seeds = cli.run_seeds(seed, n_seeds)  # --seed moves the pairs drawn and the MLP's initialisation too
    tr = algorithms.sweep(
        rule, game, steps=n, record_every=n // 100, seeds=run_seeds, metrics=("gap",), feedback=fb, **grid
    )
    m = _frame(tr, unit.game, unit.rule, unit.feedback, unit.policy, seed, b)
    rows = _summary(
        m, unit.game, unit.rule, unit.feedback, unit.policy if unit.feedback != "closed form" else "—", x
    )
    return m, rows, time.perf_counter() - tic


def run_study(args, rules, pols, gms, pairs, steps, seeds, folder) -> None:
    import games

    t0 = time.perf_counter()
    todo = units(rules, pols, gms)
    timer, done = progress.Timer(), {}
    work = (
        args.seed,
        args.dtype,
        pairs,
        steps,
        seeds,
        args.comal_every,
        args.prompts_per_iteration,
        args.feedback,
        tuple(args.hp),
        args.x,
    )
    with progress.progress(
        args, len(todo), f"sampled: {len(todo)} sweeps on {args.jobs} process(es)", "sweep"
    ) as bar:

        def finished(u, result):
            done[u] = result
            timer.add(f"{u.game}/{u.feedback}", result[2])
            bar.set_postfix_str(f"{u.game}, {u.rule}, {u.feedback}, {u.policy}")
            bar.update()

        progress.run_all(args.jobs, [(u, simulate, (u, *work)) for u in todo], finished)
    built = {g: b for g, b in games.library.featured_games(args.seed, dtype=args.dtype).items() if g in gms}
    frames = [done[u][0] for u in todo]
    rows = [r for u in todo for r in done[u][1]]
    df = tables.combine(frames, hp_order=("policy", "feedback", "pairs", "eta", "tau", "start_noise"))
    header = ("game", "policy", "rule", "feedback", "gap reached", *_level_header(args.x))
    output.write_frame(folder / "trace.csv", df)
    output.write_csv(folder / "summary.csv", rows, header)
    output.save_figure(
        figure(df, gms, pols, rules, pairs), folder / "sampled.png", drawn_by=figures.drawn_by(figure)
    )
    with timer("sppo (4.6) vs (4.1)"):
        sppo_rows = sppo_difference()
    sppo_header = ("start", "eta", "max |pi_4.6 - pi_4.1| after one step")
    output.write_csv(folder / "sppo_46_vs_41.csv", sppo_rows, sppo_header)
    meta = metadata.metadata(
        args,
        feedback={
            "closed_form": cli.feedback_spec(args.feedback),
            "population": "exact expectation over pairs",
            "sampled": {"pairs": list(pairs), "labels": "hard"},
        },
        rules=[{"name": r, "closed_form": RULES[r][0], "loss": RULES[r][1], **hparams(r)} for r in rules],
        hp=[{"rule": scope, "name": n, "value": v} for scope, n, v in args.hp],
        x_axis=args.x,
        policies=list(pols),
        optimizer="optax.sgd(0.5), 10 steps per iteration (algorithms.loss_based defaults)",
        comal_every=args.comal_every,
        prompts_per_iteration=args.prompts_per_iteration,
        steps={g: steps[g] for g in gms},
        record_every={g: steps[g] // 100 for g in gms},
        seeds=seeds,
        games={
            g: {"shape": list(np.shape(b[0].P)), "features": list(np.shape(b[1]))} for g, b in built.items()
        },
        jobs=args.jobs,
        wall_time_s={**timer.seconds, "total": round(time.perf_counter() - t0, 3)},
        files=["trace.csv", "summary.csv", "sppo_46_vs_41.csv", "sampled.png"],
    )
    metadata.write_metadata(folder, meta)
    print(
        f"last-iterate gap reached (mean of the last 10% of {', '.join(f'{steps[g]} ({g})' for g in gms)} "
        f"iterations; sampled runs: median of {seeds} seed(s)) and "
        f"when it stays below {' / '.join(f'{v:g}' for v in LEVELS)} "
        f"({'; '.join(w for _, w in _cost_columns(args.x))}):"
    )
    print(tables.table(rows, header))
    print("SPPO's loss (4.6) against its exact update (4.1), population loss minimised, paper game:")
    print(tables.table(sppo_rows, sppo_header))
    print(
        f"wall time {time.perf_counter() - t0:.0f} s on {args.jobs} process(es); compile + run time per "
        "game/feedback (s, summed over sweeps): "
        + ", ".join(f"{k} {v:.1f}" for k, v in timer.seconds.items())
    )


def _frame(tr, gname, label, fb, kind, seed, prompts):
    m, _ = tables.tidy(tr, experiment=STUDY, game=gname, rule=label, seed=seed)
    m["policy"] = kind
    if fb == "sampled":
        m["feedback"] = "K=" + (m["pairs"] * (prompts or 1)).astype(int).astype(str)
        m["pairs"] = m["pairs"] * (prompts or 1)  # judged pairs per iteration, all prompts together
    else:
        m["feedback"] = fb
    return m


#: ``--x`` -> (tidy column, the summary's word for it)
COSTS = {
    "steps": ("step", "iterations"),
    "oracle_calls": ("oracle_calls", "oracle calls"),
    "comparisons": ("comparisons", "comparisons"),
}


def _cost_columns(x: str) -> tuple:
    """The summary's cost columns: iterations, and the ``--x`` unit when it is not iterations."""
    return tuple(dict.fromkeys([COSTS["steps"], COSTS[x]]))


def _level_header(x: str = "comparisons"):
    return [f"{what} to {v:g}" for v in LEVELS for _, what in _cost_columns(x)]


def _summary(m, gname, label, fb, kind, x: str = "comparisons"):
    rows = []
    agg = m[(m["metric"] == "gap") & m["prompt"].isna()] if "prompt" in m.columns else m[m["metric"] == "gap"]
    for feedback, part in agg.groupby("feedback", sort=False):
        runs = [r.sort_values("step") for _, r in part.groupby("seed")]
        gaps = np.stack([r["value"].to_numpy() for r in runs])  # [seeds, R + 1]
        tail = max(1, gaps.shape[1] // 10)
        reached = np.median(gaps[:, -tail:].mean(axis=1))
        cells = []
        for level in LEVELS:
            for col, _ in _cost_columns(x):
                first = [tables.first_below(r[col].to_numpy(), r["value"].to_numpy(), level) for r in runs]
                med = np.median(first) if not np.isnan(first).any() else np.nan
                exact = col != "step" and all((r[col] == 0).all() for r in runs)  # nothing of it counted
                cells.append(
                    "—" if exact and not np.isnan(med) else "never" if np.isnan(med) else f"{med:.3g}"
                )
        rows.append((gname, kind, label, feedback, f"{reached:.3e}", *cells))
    return rows


def sppo_difference():
    """Max |pi_(4.6) - pi_(4.1)| after one population-loss iteration minimised to convergence (paper game)."""
    import algorithms
    import games
    from algorithms import policies

    game = games.comal_cycle()
    rows = []
    for start in ((1 / 3, 1 / 3, 1 / 3), (0.2, 0.3, 0.5)):
        for eta in (0.5, 2.0):
            got = []
            for loss in ("sppo", "sppo_exact_z"):
                rule = algorithms.loss_based(loss, policies.tabular(game), optimizer_steps=2000)
                got.append(
                    np.asarray(algorithms.run(rule, game, steps=1, start=np.array(start), eta=eta).policy.x)
                )
            rows.append((str(tuple(round(s, 3) for s in start)), eta, f"{np.abs(got[0] - got[1]).max():.2e}"))
    return rows


def figure(df, gms, pols, rules, pairs):
    """One panel per rule x game x policy, rules in reading order, whole rules per row (a grid at least three
    panels wide: one game and policy do not make a tall column); x: comparisons (log); K curves (median over
    seeds, band min-max when there are several seeds), the population loss and the closed form as horizontal
    lines at their final gap (the closed form wide and pale under the population's dashes, so both show when they
    coincide); one legend under the panels."""
    import matplotlib as mpl
    from matplotlib.figure import Figure

    cols = [(g, k) for g in gms for k in pols]
    ncols = len(cols) * -(-3 // len(cols))
    nrows = -(-len(rules) * len(cols) // ncols)
    fig = Figure(figsize=(3.0 * ncols + 0.6, 2.5 * nrows + 1.2), layout="constrained")
    axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False)
    for ax in axes.ravel()[len(rules) * len(cols) :]:
        ax.axis("off")
    cmap = mpl.colormaps["viridis"]
    agg = df[(df["metric"] == "gap") & (df["prompt"].isna() if "prompt" in df.columns else True)]
    seeds = agg.loc[agg["feedback"].str.startswith("K="), "seed"].nunique()
    legend = {}
    for i, label in enumerate(rules):
        for j, (g, kind) in enumerate(cols):
            flat = i * len(cols) + j
            ax = axes[flat // ncols, flat % ncols]
            part = agg[(agg["rule"] == label) & (agg["game"] == g)]
            for c, k in enumerate(pairs):
                run = part[(part["feedback"] == f"K={k}") & (part["policy"] == kind)]
                if run.empty:
                    continue
                wide = run.pivot_table(index="comparisons", columns="seed", values="value")
                wide = wide[wide.index > 0]
                color = cmap(c / max(1, len(pairs) - 1) * 0.85)
                ax.plot(
                    wide.index, figures.plot_floor(wide.median(axis=1)), color=color, lw=1.3, label=f"K = {k}"
                )
                if wide.shape[1] > 1:
                    ax.fill_between(
                        wide.index,
                        figures.plot_floor(wide.min(axis=1)),
                        figures.plot_floor(wide.max(axis=1)),
                        color=color,
                        alpha=0.2,
                        lw=0,
                    )
            for fb, style in (
                ("closed form", dict(color="tab:red", ls="-", lw=3.5, alpha=0.35)),
                ("population", dict(color="k", ls="--", lw=1.2)),
            ):
                run = part[
                    (part["feedback"] == fb) & (part["policy"] == (kind if fb == "population" else "exact"))
                ]
                if not run.empty:
                    final = run[run["step"] == run["step"].max()]["value"].median()
                    ax.axhline(max(final, figures.PLOT_FLOOR), label=f"{fb} (final gap)", **style)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.grid(alpha=0.25)
            ax.set_title(f"{label}: {g}, {kind}", fontsize=9)
            if flat % ncols == 0:
                ax.set_ylabel("last-iterate gap", fontsize=9)
            if flat // ncols == nrows - 1 or flat + ncols >= len(rules) * len(cols):
                ax.set_xlabel("comparisons (judged pairs)", fontsize=8)
                ax.xaxis.set_tick_params(labelbottom=True)
            for h, lab in zip(*ax.get_legend_handles_labels()):
                legend.setdefault(lab, h)
    fig.legend(
        legend.values(),
        legend.keys(),
        loc="outside lower center",
        ncol=len(legend),
        fontsize=8,
        frameon=False,
    )
    bands = f"median over {seeds} seeds, band: min-max" if seeds > 1 else "one seed (no band)"
    fig.suptitle(
        f"last-iterate duality gap against comparisons (zeros drawn at {figures.PLOT_FLOOR:g}); K curves: {bands}",
        fontsize=10,
    )
    return fig


if __name__ == "__main__":
    sys.exit(cli.entry(main))
