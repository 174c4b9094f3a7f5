"""What makes sampled COMAL converge, and at what cost: sample-size schedules and adaptive re-centring.

With a fixed number K of judged pairs per iteration, COMAL's last iterate stalls at a noise floor: the
reference is re-centred on a noisy iterate and carries that noise into the next prox problem. The approximate
proximal point needs an inner error that shrinks over rounds. This study compares, on cumulative comparisons,

* sample sizes: fixed ``K`` in {16, 256, 4096} (on the contextual game 256 and 4096 only, unless
  ``--schedules`` asks: 16 pairs over 4 prompts is the floor the paper game already shows); a geometric
  ``K_t = 16 * 1.003^t`` and a polynomial ``K_t = 16 (t + 1)^0.75`` (:class:`algorithms.schedules.growth`;
  capped at 2^16, which no run reaches: a capped K_t ends at the cap's fixed-K floor); and adaptive
  re-centring (``comal(..., until=eps_k)``, ``eps_k = 0.02 * 0.8^k``, at most 400 inner steps, with the
  geometric ``K_t``; the gap test is the analysis oracle, see :func:`algorithms.comal`; not for M2WU, whose
  mutation declares no KL weight, so it has no regularized gap to test);
* the reference-reset rules COMAL(INPO) (loss-based INPO, re-centred every 100 iterations), Nash-Prox and M2WU
  (re-centred every 100 steps), against INPO, EGPO (loss-based) and OMWU, which never re-centre.

Loss-based rules (INPO, COMAL(INPO), EGPO) judge ``K_t`` pairs drawn from the current policy per iteration
(hard labels: one Bernoulli draw per pair; :func:`algorithms.loss_based`, SGD 0.5, 10 steps) with a tabular or
a log-linear policy; the closed-form rules (Nash-MP inside Nash-Prox, mutation MWU inside M2WU, OMWU) estimate
every gradient from ``K_t`` duels per action (:func:`algorithms.duels`). ``K`` is therefore pairs per iteration
for the first and duels per action per gradient for the second; every curve is drawn against the comparisons
it judged, which is the cost they share. Both draw their data as counts (``counts=True``: one multinomial over
the judged (winner, loser) cells, one binomial of wins per action; the same distribution as drawing pairs and
duels one by one, at a cost that does not grow with ``K``), which is what makes a budget of 1e7 comparisons
affordable. Each run lasts until it has judged ``--budget`` comparisons (at most ``--max-steps`` iterations).

Games: the paper's 3x3 cycle and the sampled study's contextual game (16 prompts x 5 responses, rho ∝ 0.8^c,
4 prompts drawn per iteration, K / 4 pairs each; the closed-form rules need every prompt's duels per gradient,
so they run on the paper game unless ``--games``/``--rules`` ask). Policies: tabular and log-linear (the
closed forms are tabular by construction). ``--seeds`` seeds (default 16) per configuration; figures draw the
median over seeds with a 95 % bootstrap band of the median.

Writes ``trace.csv`` (tidy; ``policy``, ``schedule`` and ``pairs``/``samples`` columns: the K in force),
``summary.csv``, ``schedules.png`` (rows: game x policy; columns: rules; x: comparisons) and
``metadata.json`` to ``results/schedules/`` (``--quick``: ``results/schedules-quick/``). The printed table
gives, per configuration, the comparisons after which the gap stays below 1e-2 and 1e-3, the final gap at the
budget, and the slope of log gap against log comparisons over the last decade of comparisons (medians over
seeds, 95 % bootstrap intervals).

    python -m experiments.schedules           # full: 2 games x 2 policies, 6 rules, 6 schedules, 16 seeds
    python -m experiments.schedules --quick   # the paper game, tabular, 2 rules, 2 schedules, 4 seeds
"""

from __future__ import annotations

import os
import sys
import time
from typing import NamedTuple

import numpy as np

from .common import cli, figures, metadata, output, progress, rules, tables

STUDY = "schedules"
ETA, TAU, MU = 0.5, 0.1, 0.1
EVERY = 100  # iterations between re-centrings
UNTIL_CAP = 400  # at most this many inner steps per round with until
CAP = 2**16  # the growing K_t: no cap within the budgets here (a run draws the largest K_t it reaches)
#: label -> (kind, what): "loss" rules take a policy and judge pairs; "duels" rules estimate gradients
RULES = {
    "comal(inpo)": ("loss", "inpo"),
    "nash_prox": ("duels", "nash_mp"),
    "m2wu": ("duels", "mutation_mwu"),
    "inpo": ("loss", "inpo"),
    "egpo": ("loss", "egpo"),
    "omwu": ("duels", "omwu"),
}
RESETTING = ("comal(inpo)", "nash_prox", "m2wu")
#: schedule label -> (start, rate, power, cap) of algorithms.schedules.growth, and whether it re-centres with until
SCHEDULES = {
    "K=16": ((16, 1.0, 0.0, 16), False),
    "K=256": ((256, 1.0, 0.0, 256), False),
    "K=4096": ((4096, 1.0, 0.0, 4096), False),
    "geometric": ((16, 1.003, 0.0, CAP), False),
    "polynomial": ((16, 1.0, 0.75, CAP), False),
    "until": ((16, 1.003, 0.0, CAP), True),
}
UNTIL = (0.02, 0.8)  # eps_k = 0.02 * 0.8^k
POLICIES = ("tabular", "loglinear")
GAMES = ("paper", "contextual")
LEVELS = (1e-2, 1e-3)
PROMPTS_PER_ITERATION = 4
RECORDS = 100


def schedule(label: str, prompts: int = 1):
    """The growth schedule of ``label`` in the unit the rule counts (per prompt on the contextual game)."""
    from algorithms import schedules

    (start, rate, power, cap), _ = SCHEDULES[label]
    return schedules.growth(start / prompts, rate, power, cap / prompts)


def steps_for(label: str, per_k: float, budget: float, max_steps: int, prompts: int = 1) -> int:
    """Iterations until the schedule has judged ``budget`` comparisons (``per_k`` comparisons per unit of K
    per iteration), a multiple of :data:`RECORDS`, at most ``max_steps``."""
    t = np.arange(max_steps)
    k = np.asarray(schedule(label, prompts)(t)) * prompts
    reached = np.nonzero(np.cumsum(k * per_k) >= budget)[0]
    n = int(reached[0]) + 1 if reached.size else max_steps
    return max(RECORDS, -(-n // RECORDS) * RECORDS)


def cost(unit: Unit, budget: float, max_steps: int) -> float:
    """A unit's relative cost, for scheduling only: iterations, times 4 on the contextual game."""
    per_k = 1.0 if unit.rule not in RULES or RULES[unit.rule][0] == "loss" else 3.0
    return steps_for(unit.schedule, per_k, budget, max_steps) * (4 if unit.game == "contextual" else 1)


class Unit(NamedTuple):
    """One compiled sweep over seeds: a rule, a policy and a schedule on a game."""

    game: str
    rule: str  # a label of RULES, or a user rule's module:attribute
    policy: str
    schedule: str


def wraps(user_rule, no_wrap: bool = False) -> bool:
    """Whether the study re-centres a user's rule with COMAL: a regularized rule (it declares a reference), unless
    it is itself a COMAL-style wrapper (it declares outer ``rounds``: its own re-centring, which a second COMAL's
    hard reset would override) or ``--no-wrap`` is given."""
    return not no_wrap and user_rule.regularized and user_rule.rounds is None


def label(text: str, user_rule=None, no_wrap: bool = False) -> str:
    """The ``rule`` column: a study label as it is; a user rule says how the study wraps it."""
    if user_rule is None:
        return text
    return f"comal(duels({text}))" if wraps(user_rule, no_wrap) else f"duels({text})"


def units(rule_labels, pols, gms, user: dict, no_wrap: bool = False) -> list[Unit]:
    out = []
    for g in gms:
        for r in rule_labels:
            kind = "duels" if r in user else RULES[r][0]
            for pol in pols if kind == "loss" else ("tabular",) if "tabular" in pols else ():
                for s, (_, adaptive) in SCHEDULES.items():
                    resets = r in RESETTING or (r in user and wraps(user[r], no_wrap))
                    has_tau = r != "m2wu" and (r not in user or user[r].tau is not None)
                    if adaptive and not (resets and has_tau):
                        continue  # until tests the regularized gap: it needs a reference and a KL weight
                    if r not in RESETTING and s == "polynomial":
                        continue  # the baselines: fixed K and one growing K show whether growth helps them
                    out.append(Unit(g, r, pol, s))
    return out


def build_rule(unit: Unit, policy, kmax: int, user_rule=None, no_wrap: bool = False):
    """The rule of ``unit`` drawing (or dueling) ``kmax`` per iteration; its ``pairs``/``samples``
    hyperparameter says how many are judged."""
    import algorithms

    kind, what = ("duels", None) if user_rule is not None else RULES[unit.rule]
    adaptive = SCHEDULES[unit.schedule][1]
    if kind == "loss":
        prompts = PROMPTS_PER_ITERATION if unit.game == "contextual" else None
        inner = algorithms.loss_based(
            what, policy, pairs=kmax // (prompts or 1), prompts=prompts, counts=True
        )
    else:
        rule = user_rule if user_rule is not None else getattr(algorithms, what)()
        inner = algorithms.duels(rule, kmax, counts=True)
    resets = unit.rule in RESETTING or (user_rule is not None and wraps(user_rule, no_wrap))
    if not resets:
        return inner
    if adaptive:
        return algorithms.comal(inner, UNTIL_CAP, until=UNTIL[0])
    return algorithms.comal(inner, EVERY)


def hparams(unit: Unit, rule, prompts: int) -> dict:
    """The study's hyperparameters of ``rule`` (those it declares: OMWU has no ``tau``, M2WU's weight is
    ``mu``); a user rule keeps its own defaults."""
    from algorithms import schedules

    kind = "pairs" if "pairs" in {h.name for h in rule.hparams} else "samples"
    hp = {kind: schedule(unit.schedule, prompts)}
    if unit.rule in RULES:
        declared = {h.name for h in rule.hparams}
        hp.update({n: v for n, v in (("eta", ETA), ("tau", TAU), ("mu", MU)) if n in declared})
    if SCHEDULES[unit.schedule][1]:
        hp["until"] = schedules.exponential(*UNTIL)
    return hp


def simulate(
    unit: Unit, user_spec: str | None, seed: int, seeds: int, budget: float, max_steps: int, no_wrap=False
):
    """Run one unit (in a worker process): ``(tidy frame, seconds, steps)``."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import algorithms
    import games
    from algorithms import policies

    tic = time.perf_counter()
    game, feats = games.library.featured_games(seed, dtype="float64")[unit.game]
    user_rule = rules.resolve_rules(cli.parser(STUDY, ""), user_spec, ())[0].rule if user_spec else None
    kind = "duels" if user_rule is not None else RULES[unit.rule][0]
    prompts = PROMPTS_PER_ITERATION if (kind == "loss" and game.contextual) else 1
    if kind == "loss":
        per_k = 1.0  # pairs judged per unit of K per iteration (all prompts together)
    else:
        calls = 2 if RULES.get(unit.rule, ("", ""))[1] == "nash_mp" else 1
        per_k = calls * game.shape[0] * (game.A.shape[0] if game.contextual else 1)
    steps = steps_for(unit.schedule, per_k, budget, max_steps, prompts)
    kmax = int(np.asarray(schedule(unit.schedule, prompts)(np.arange(steps))).max()) * prompts
    policy = policies.by_name(unit.policy, game, feats) if kind == "loss" else None
    rule = build_rule(unit, policy, kmax, user_rule, no_wrap)
    hp = hparams(unit, rule, prompts)
    tr = algorithms.sweep(
        rule,
        game,
        steps=steps,
        record_every=steps // RECORDS,
        seeds=cli.run_seeds(seed, seeds),
        metrics=("gap",),
        **hp,
    )
    m, _ = tables.tidy(
        tr, experiment=STUDY, game=unit.game, rule=label(unit.rule, user_rule, no_wrap), seed=seed
    )
    m = m[m["prompt"].isna()].drop(columns="prompt") if "prompt" in m.columns else m
    m["policy"] = unit.policy if kind == "loss" else "tabular (duels)"
    m["schedule"] = unit.schedule
    count = "pairs" if kind == "loss" else "samples"
    m["K"] = m.pop(count) * prompts  # the K in force: pairs per iteration, or duels per action per gradient
    for name in ("until", "inner_steps"):
        if name in m.columns:
            m = m.drop(columns=name)
    return m, time.perf_counter() - tic, steps


def main(argv=None) -> int:
    p = cli.parser(STUDY, __doc__.splitlines()[0])
    p.add_argument(
        "--rules",
        default=None,
        help=f"comma-separated subset of {', '.join(RULES)}, or module:attribute for your own closed-form "
        "rule (it learns from algorithms.duels: duels(NAME) in the tables; a rule that declares a reference "
        "and no outer rounds of its own is also re-centred, every 100 steps and with until: "
        "comal(duels(NAME))) (default: all)",
    )
    p.add_argument(
        "--no-wrap",
        action="store_true",
        help="do not re-centre your module:attribute rules with COMAL (they still learn from duels)",
    )
    p.add_argument(
        "--schedules",
        default=None,
        help=f"comma-separated subset of {', '.join(SCHEDULES)} (default: all)",
    )
    p.add_argument(
        "--policies", default=None, help=f"comma-separated subset of {', '.join(POLICIES)} (default: all)"
    )
    p.add_argument(
        "--games", default=None, help=f"comma-separated subset of {', '.join(GAMES)} (default: all)"
    )
    p.add_argument(
        "--budget",
        type=cli.positive("--budget"),
        default=None,
        help="comparisons each run judges (default 1e7; --quick 2e5)",
    )
    cli.add_count(p, "--max-steps", "at most this many iterations per run (default 10000; --quick 2000)")
    cli.add_count(p, "--seeds", "seeds per configuration (default 16; --quick 4)")
    cli.add_count(
        p,
        "--jobs",
        "worker processes, each running whole sweeps (default: min(2, CPUs)); results do not depend on it",
        default=min(2, os.cpu_count() or 1),
    )
    args = p.parse_args(argv)
    if args.dtype != "float64":
        cli.fail(p, "--dtype: the schedules study runs in float64 only")
    names = [t.strip() for t in (args.rules or "").split(",") if t.strip()]
    user = {}
    for t in [t for t in names if ":" in t]:
        spec = rules.resolve_rules(p, t, ())[0]
        if spec.rule.exact_only or spec.rule.own_comparisons:
            cli.fail(
                p,
                f"--rules {t}: {spec.name} does not ask the oracle for gradients; it cannot learn from duels",
            )
        user[t] = spec.rule
    quick_rules = ("comal(inpo)", "inpo")
    default_rules = quick_rules if args.quick else tuple(RULES)
    known = cli.subset(p, "--rules", ",".join(n for n in names if ":" not in n) or None, default_rules, RULES)
    if names and not [n for n in names if ":" not in n]:
        known = ()
    rule_labels = (*known, *user)
    quick_scheds = ("K=256", "geometric")
    scheds = cli.subset(
        p, "--schedules", args.schedules, quick_scheds if args.quick else tuple(SCHEDULES), SCHEDULES
    )
    pols = cli.subset(p, "--policies", args.policies, POLICIES[:1] if args.quick else POLICIES, POLICIES)
    gms = cli.subset(p, "--games", args.games, GAMES[:1] if args.quick else GAMES, GAMES)
    budget = {g: args.budget or (2e5 if args.quick else 1e7) for g in GAMES}
    max_steps = args.max_steps or (2000 if args.quick else 10000)
    if max_steps < RECORDS:
        cli.fail(p, f"--max-steps ({max_steps}) must be at least {RECORDS}")
    seeds = args.seeds or (4 if args.quick else 16)
    todo = [u for u in units(rule_labels, pols, gms, user, args.no_wrap) if u.schedule in scheds]
    if args.games is None and not args.quick:  # the closed forms duel every prompt: the paper game only
        todo = [u for u in todo if u.game == "paper" or (u.rule in RULES and RULES[u.rule][0] == "loss")]
        if args.schedules is None:  # K=16 over 4 prompts is 4 pairs each: the floor the paper game shows
            todo = [u for u in todo if not (u.game == "contextual" and u.schedule == "K=16")]
    if not todo:
        cli.fail(p, "--rules/--schedules/--policies/--games select no configuration")
    cli.setup(args)
    with output.Output(p, cli.default_out(args)) as out:
        run_study(args, todo, user, seeds, budget, max_steps, out.path)
    print(f"wrote {out.out}/")
    return 0


def run_study(args, todo, user, seeds, budget, max_steps, folder) -> None:
    t0 = time.perf_counter()
    timer, done = progress.Timer(), {}
    with progress.progress(args, len(todo), f"schedules: {len(todo)} sweeps", "sweep") as bar:

        def finished(u, result):
            done[u] = result
            timer.add(f"{u.game}/{u.rule}", result[1])
            bar.set_postfix_str(f"{u.game}, {u.rule}, {u.policy}, {u.schedule}")
            bar.update()

        # longest first, so that no long sweep starts last and runs alone
        longest_first = sorted(todo, key=lambda u: -cost(u, budget[u.game], max_steps))
        spec = lambda u: u.rule if u.rule in user else None  # a user rule is re-resolved in the worker
        tasks = [
            (u, simulate, (u, spec(u), args.seed, seeds, budget[u.game], max_steps, args.no_wrap))
            for u in longest_first
        ]
        progress.run_all(args.jobs, tasks, finished)
    df = tables.combine([done[u][0] for u in todo], hp_order=("policy", "schedule", "K", "eta", "tau", "mu"))
    rows = summary(df, budget, np.random.default_rng(args.seed))
    header = SUMMARY_HEADER
    output.write_frame(folder / "trace.csv", df)
    output.write_csv(folder / "summary.csv", rows, header)
    output.save_figure(figure(df, seeds), folder / "schedules.png")
    gms = list(dict.fromkeys(u.game for u in todo))
    meta = metadata.metadata(
        args,
        rules={
            label(r, user.get(r), args.no_wrap): RULES.get(r, ("duels", r))
            for r in dict.fromkeys(u.rule for u in todo)
        },
        schedules={
            s: {"growth": SCHEDULES[s][0], "until": SCHEDULES[s][1]}
            for s in dict.fromkeys(u.schedule for u in todo)
        },
        until={"eps_k": f"{UNTIL[0]} * {UNTIL[1]}^k", "max_inner_steps": UNTIL_CAP},
        recentre_every=EVERY,
        hparams={"eta": ETA, "tau": TAU, "mu (m2wu)": MU},
        optimizer="optax.sgd(0.5), 10 steps per iteration (algorithms.loss_based defaults)",
        prompts_per_iteration=PROMPTS_PER_ITERATION,
        budget={g: budget[g] for g in gms},
        max_steps=max_steps,
        steps={f"{u.game}/{u.rule}/{u.policy}/{u.schedule}": done[u][2] for u in todo},
        seeds=seeds,
        jobs=args.jobs,
        wall_time_s={**timer.seconds, "total": round(time.perf_counter() - t0, 3)},
        files=["trace.csv", "summary.csv", "schedules.png"],
    )
    metadata.write_metadata(folder, meta)
    print(
        f"last-iterate gap against judged comparisons, median over {seeds} seeds [95% bootstrap interval]; "
        "'never': some seed's gap does not stay below the level by the end; slope: log gap against log "
        "comparisons over the last decade of comparisons:"
    )
    print(tables.table(rows, header))
    print(
        f"wall time {time.perf_counter() - t0:.0f} s on {args.jobs} process(es); compile + run time per "
        "game/rule (s, summed over sweeps): " + ", ".join(f"{k} {v:.1f}" for k, v in timer.seconds.items())
    )


SUMMARY_HEADER = (
    "game",
    "policy",
    "rule",
    "schedule",
    "comparisons to 1e-2",
    "comparisons to 1e-3",
    "budget",
    "gap at budget",
    "slope",
)


def _interval(values, rng, fmt) -> str:
    """Median and 95 % bootstrap interval over seeds as text; infinite values (never) print as 'never'."""
    med, lo, hi = tables.bootstrap_median(values, rng)
    show = lambda v: "never" if not np.isfinite(v) else fmt(v)  # noqa: E731
    return f"{show(med)} [{show(lo)}, {show(hi)}]"


def slope(comparisons: np.ndarray, gaps: np.ndarray) -> float:
    """Least-squares slope of ``log gap`` against ``log comparisons`` over the records of the last decade of
    comparisons (``c >= c_end / 10``, gaps > 0): -1/2 is the Monte-Carlo rate, 0 a plateau."""
    c, g = np.asarray(comparisons, float), np.asarray(gaps, float)
    keep = (c >= c[-1] / 10) & (c > 0) & (g > 0)
    if keep.sum() < 3:
        return float("nan")
    return float(np.polyfit(np.log10(c[keep]), np.log10(g[keep]), 1)[0])


def summary(df, budget: dict, rng) -> list[tuple]:
    rows = []
    gap = df[df["metric"] == "gap"]
    for (g, pol, r, s), part in gap.groupby(["game", "policy", "rule", "schedule"], sort=False):
        runs = [run.sort_values("step") for _, run in part.groupby("seed")]
        c = [run["comparisons"].to_numpy(float) for run in runs]
        v = [run["value"].to_numpy(float) for run in runs]
        cells = []
        for level in LEVELS:
            first = np.array([tables.first_below(ci, vi, level) for ci, vi in zip(c, v)], float)
            cells.append(_interval(np.where(np.isnan(first), np.inf, first), rng, lambda x: f"{x:.2g}"))
        b = budget[g]
        at = [vi[np.searchsorted(ci, b, side="right") - 1] if ci[-1] >= b else np.nan for ci, vi in zip(c, v)]
        reached = f"{b:.0e}" if not np.isnan(at).any() else f"{c[0][-1]:.1e} (run end)"
        at = at if not np.isnan(at).any() else [vi[-1] for vi in v]
        cells += [reached, _interval(at, rng, lambda x: f"{x:.2e}")]
        cells.append(_interval([slope(ci, vi) for ci, vi in zip(c, v)], rng, lambda x: f"{x:.2f}"))
        rows.append((g, pol, r, s, *cells))
    return rows


def figure(df, seeds: int):
    """Rows: game x policy; columns: rules; lines: schedules (median over seeds, 95 % bootstrap band)."""
    import matplotlib as mpl
    from matplotlib.figure import Figure

    gap = df[df["metric"] == "gap"].copy()
    gap["row"] = gap["policy"].str.replace(
        " (duels)", "", regex=False
    )  # the closed forms share the tabular row
    panels = list(dict.fromkeys(zip(gap["game"], gap["row"])))
    rule_names = list(dict.fromkeys(gap["rule"]))
    scheds = list(dict.fromkeys(gap["schedule"]))
    fig = Figure(figsize=(2.8 * len(rule_names) + 0.5, 2.4 * len(panels) + 1.6), layout="constrained")
    axes = fig.subplots(len(panels), len(rule_names), sharey=True, squeeze=False)
    cmap = mpl.colormaps["viridis"]
    palette = {"K=16": "tab:purple", "K=256": "tab:blue", "K=4096": "tab:cyan", "geometric": "tab:green"}
    palette.update({"polynomial": "tab:orange", "until": "tab:red"})
    colors = {s: palette.get(s, cmap(i / max(1, len(scheds) - 1) * 0.85)) for i, s in enumerate(scheds)}
    rng = np.random.default_rng(0)
    for i, (g, pol) in enumerate(panels):
        for j, r in enumerate(rule_names):
            ax = axes[i, j]
            part = gap[(gap["game"] == g) & (gap["row"] == pol) & (gap["rule"] == r)]
            for s in scheds:
                run = part[part["schedule"] == s]
                if run.empty:
                    continue
                wide = run.pivot_table(index="comparisons", columns="seed", values="value")
                wide = wide[wide.index > 0]
                vals = wide.to_numpy()
                med = np.median(vals, axis=1)
                ax.plot(wide.index, figures.plot_floor(med), color=colors[s], lw=1.3, label=s)
                if vals.shape[1] > 1:
                    idx = rng.integers(0, vals.shape[1], size=(1000, vals.shape[1]))
                    meds = np.median(vals[:, idx], axis=2)  # [records, resamples]
                    lo, hi = np.quantile(meds, [0.025, 0.975], axis=1)
                    ax.fill_between(
                        wide.index,
                        figures.plot_floor(lo),
                        figures.plot_floor(hi),
                        color=colors[s],
                        alpha=0.2,
                        lw=0,
                    )
            if part.empty:
                ax.set_axis_off()
                continue
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.grid(alpha=0.25)
            ax.set_title(f"{r}\n{g}, {part['policy'].iloc[0]}", fontsize=8)
            ax.set_ylabel("last-iterate gap", fontsize=8)
            ax.tick_params(labelleft=True)
            ax.set_xlabel("comparisons judged", fontsize=8)
    handles = {s: mpl.lines.Line2D([], [], color=colors[s], lw=1.5) for s in scheds}
    fig.legend(
        list(handles.values()),
        list(handles),
        loc="outside lower center",
        ncol=len(scheds),
        fontsize=8,
        frameon=False,
    )
    band = "bands: 95 % bootstrap interval of the median" if seeds > 1 else "one seed: no band"
    fig.suptitle(
        f"sampled COMAL and its peers: gap against comparisons (median over {seeds} seeds; {band})",
        fontsize=10,
    )
    return fig


if __name__ == "__main__":
    sys.exit(cli.entry(main))
