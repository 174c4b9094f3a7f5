"""The benchmark suite for update rules: is my rule better, and where?

Every rule (the registered ones, and yours with ``--rules module:attr``) on games that each stress something
(:data:`GAMES`), under exact, sampled and noisy feedback (:data:`FEEDBACKS`), at an **equal budget**: oracle
calls (gradient evaluations) for exact and noisy feedback, judged comparisons for sampled feedback — not equal
steps (extragradient pays two calls a step, ``comal_exact`` its inner solves). Per (rule, game, feedback):
the final duality gap at the budget, median over runs (seeds x starts; games too, for the ensemble) with a 95 %
percentile bootstrap interval of the median; the worst-case win rate (median); the cost (median oracle calls or
comparisons, over the runs that get there) to reach a gap of 1e-2 and 1e-4; the rank in that column. The
overall rank orders rules by their mean rank over the columns they run in (ties share the mean rank; a rule
that cannot run a column, e.g. ``comal_exact`` under sampled feedback, is left out of that column's ranking).

Writes ``runs.csv`` (tidy, one row per run and budget), ``suite.csv`` (one row per rule, game, feedback and
budget), ``leaderboard.md`` (printed too), ``heatmap.png`` (rules x columns, log10 median gap, the interval
written in each cell), ``profile.png`` (performance profile over the columns) and ``metadata.json`` into
``results/suite/`` (``results/suite-quick/`` with ``--quick``).

    python -m experiments.suite --quick --rules mwu,comal,my_rules:my_rule   # 44 s on 2 cores
    python -m experiments.suite --quick              # mwu, inpo, omwu, comal: 53 s
    python -m experiments.suite                      # every registered rule: 614 s
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from .common import cli, metadata, output, progress, rules, tables

STUDY = "suite"
#: Gap levels whose cost is reported.
LEVELS = (1e-2, 1e-4)
#: Start noise of every run (seeds then draw different starts, so intervals over seeds mean something).
START_NOISE = 0.5
#: Seeds per game (the ensemble: per game of the ensemble too).
SEEDS = 16
#: Bootstrap resamples of the median.
BOOTSTRAP = 2000
#: ``--quick``'s rules unless ``--rules`` names others: one of each kind (last iterates that cycle, a
#: regularized rule, an optimistic one, a proximal-point one).
QUICK_RULES = ("mwu", "inpo", "omwu", "comal")


class GameEntry(NamedTuple):
    """One game of the suite: ``build(seed, quick, dtype) -> list of games`` (one same-shape family: one
    compiled sweep per rule and feedback), why it is in the suite, and whether ``--quick`` runs it."""

    name: str
    build: Callable
    why: str
    quick: bool = False
    #: Its runs' budget as a share of ``--budget`` (LLMFAO: 59 actions make a sampled evaluation 59 x K duels).
    budget_scale: float = 1.0


def _paper(seed, quick, dtype):
    import games

    return [games.comal_cycle(dtype=dtype)]


def _condorcet(seed, quick, dtype):
    import games

    return [games.condorcet_cycle(5, 0.8, dtype=dtype)]


def _ensemble(seed, quick, dtype):
    import games

    keys = np.random.SeedSequence(seed).generate_state(8 if quick else 16)
    return [games.random_preference(int(k), 5, "cyclic", dtype=dtype) for k in keys]


def _rectangular(seed, quick, dtype):
    import games
    from algorithms import conformance

    return [games.matrix_game(conformance.RECTANGULAR, dtype=dtype)]


def _contextual(seed, quick, dtype):
    import games

    return [games.library.contextual_cycles(seed, 4, 3, dtype=dtype)]


def _near_degenerate(seed, quick, dtype):
    import games

    return [games.near_degenerate(0.1, dtype=dtype)]


def _boundary(seed, quick, dtype):
    import games

    return [games.boundary_equilibrium(0.01, dtype=dtype)]


def _dominated(seed, quick, dtype):
    import games

    return [games.dominated_response(0.01, dtype=dtype)]


def _llmfao(seed, quick, dtype):
    import games

    return [games.library.llmfao("crowd", missing="tie", dtype=dtype)]


#: The suite's games, one line each (the README's suite section gives the same "why").
GAMES: tuple[GameEntry, ...] = (
    GameEntry(
        "paper_cycle",
        _paper,
        "the paper's 3x3 non-transitive game (arXiv 2410.23223): last iterates cycle",
        True,
    ),
    GameEntry("condorcet5", _condorcet, "a 5-cycle (p = 0.8), uniform unique equilibrium: slow rotation"),
    GameEntry(
        "cyclic5_ensemble", _ensemble, "random cyclic 5x5 games (odd n: unique interior equilibria)", True
    ),
    GameEntry("rectangular3x4", _rectangular, "a 3x4 zero-sum matrix game: two players, no self-play", True),
    GameEntry(
        "contextual4x3", _contextual, "4 prompts, weights 0.6^c: rho-weighted gap, one policy per prompt"
    ),
    GameEntry(
        "near_degenerate0.1",
        _near_degenerate,
        "5x5, a face of equilibria at delta = 0; delta = 0.1: small singular value (0.19), slow last iterates",
    ),
    GameEntry(
        "boundary0.01",
        _boundary,
        "weighted RPS, equilibrium mass 0.01 on one response: far in log space, slow for OMWU/extragradient",
    ),
    GameEntry(
        "dominated0.01",
        _dominated,
        "the paper's cycle plus a response dominated by margin 0.01: non-full support, mass decays slowly",
    ),
    GameEntry(
        "llmfao_crowd",
        _llmfao,
        "the real LLMFAO crowd comparisons of 59 models (rates game, unobserved pairs tie): real data",
        budget_scale=0.25,
    ),
)


class FeedbackEntry(NamedTuple):
    """A feedback column: the model (``exact``, ``sampled:K``, ``noisy:SIGMA``), the budget unit, and the
    budgets (fractions of the run's full budget) it is read at."""

    spec: str
    unit: str
    fractions: tuple[float, ...]


#: Sampled duels at two budgets (one run read at a tenth of its budget and at all of it).
FEEDBACKS: tuple[FeedbackEntry, ...] = (
    FeedbackEntry("exact", "oracle_calls", (1.0,)),
    FeedbackEntry("sampled:8", "comparisons", (0.1, 1.0)),
    FeedbackEntry("noisy:0.1", "oracle_calls", (1.0,)),
)


def main(argv=None) -> int:
    p = cli.parser(STUDY, __doc__.splitlines()[0])
    cli.add_rules(p, f"every registered rule; --quick: {', '.join(QUICK_RULES)}")
    cli.add_hp(p)
    cli.add_count(
        p,
        "--budget",
        "oracle calls per run with exact/noisy feedback; with sampled:K the comparisons of as many gradient "
        "evaluations of one player, K x actions x budget (default 3000; --quick 400)",
    )
    cli.add_count(p, "--seeds", f"seeds (random starts) per game, >= 16 (default {SEEDS})", SEEDS)
    cli.add_count(
        p,
        "--jobs",
        "worker processes, each running whole (rule, game family) units (default: min(2, CPUs)); "
        "results do not depend on it",
        default=min(2, os.cpu_count() or 1),
    )
    args = p.parse_args(argv)
    cli.setup(args)
    import algorithms
    import games

    if args.seeds < 16:
        cli.fail(
            p, f"--seeds must be >= 16 (a 95 % bootstrap interval over seeds needs them), got {args.seeds}"
        )
    specs = rules.resolve_rules(p, args.rules, list(QUICK_RULES if args.quick else algorithms.RULES))
    specs, hps = rules.study_hparams(p, specs, games.comal_cycle(dtype=args.dtype), args)
    budget = args.budget or (400 if args.quick else 3000)
    every = max(1, budget // 40)
    if budget % every:
        cli.fail(p, f"--budget ({budget}) must be a multiple of {every}")
    with output.Output(p, cli.default_out(args)) as out:
        run_suite(args, specs, hps, budget, every, out.path)
    print(f"wrote {out.out}/")
    return 0


def _reads(rule, game) -> bool:
    """Whether ``rule`` runs on ``game`` (its declared games and self-play choice)."""
    try:
        rule.init(game)
    except (ValueError, TypeError):
        return False
    return True


def family_key(game) -> tuple:
    """Games with the same key stack into one compiled sweep: shape, contexts, preference or matrix game."""
    return (tuple(np.shape(game.A)), bool(game.contextual), bool(game.preference))


def _key(entry, game) -> tuple:
    return (*family_key(game), entry.budget_scale)


def families(entries, seed: int, quick: bool, dtype: str) -> list[list[tuple]]:
    """The entries' games grouped by :func:`family_key` (order of first appearance): one list of
    ``(entry, games)`` per compiled sweep. Same-shape games of different entries share one sweep, so the
    number of compilations is rules x families x feedbacks, not rules x games x feedbacks."""
    groups: dict[tuple, list] = {}
    for entry in entries:
        game_list = entry.build(seed, quick, dtype)
        groups.setdefault(_key(entry, game_list[0]), []).append((entry, game_list))
    return list(groups.values())


class Unit(NamedTuple):
    """One unit of work: a rule on one family of games, every feedback (one compiled sweep each)."""

    rule: int  # index into the rules run
    family: int  # index into :func:`families`


def simulate(unit: Unit, sources, hps, args_t, budget: int, every: int):
    """Run one unit, in this process or a worker: ``(rows, {sweep: seconds})``. ``sources`` are the
    ``--rules`` texts (re-resolved here: a worker imports the user's module itself)."""
    import jax

    import algorithms

    seed, quick, dtype, n_seeds = args_t
    jax.config.update("jax_enable_x64", dtype == "float64")
    source = sources[unit.rule]
    rule = rules.load_rule(source)
    members = families([g for g in GAMES if g.quick or not quick], seed, quick, dtype)[unit.family]
    game = members[0][1][0]
    steps = max(1, round(members[0][0].budget_scale * budget / every)) * every
    names = "+".join(e.name for e, _ in members)
    metrics = ("gap", "win_rate") if game.preference else ("gap",)
    rows, seconds = [], {}
    if not _reads(rule, game):
        return rows, seconds
    for fb in FEEDBACKS:
        feedback = cli.feedback_type(fb.spec)
        if rule.exact_only and feedback.stochastic:
            continue
        tic = time.perf_counter()
        tr = algorithms.sweep(
            rule,
            [g for _, gl in members for g in gl],
            steps=steps,
            record_every=every,
            seeds=[seed + i for i in range(n_seeds)],
            feedback=feedback,
            metrics=metrics,
            **{"start_noise": START_NOISE, **hps[rule.name]},
        )
        members_n = [(e.name, len(gl)) for e, gl in members]
        rows.extend(_read_runs(rule.name, members_n, fb, tr, game, steps))
        seconds[f"{rule.name} {names} {fb.spec}"] = round(time.perf_counter() - tic, 3)
    return rows, seconds


def run_suite(args, specs, hps, budget, every, folder) -> None:
    t0 = time.perf_counter()
    timer = progress.Timer()
    entries = [g for g in GAMES if g.quick or not args.quick]
    groups = families(entries, args.seed, args.quick, args.dtype)
    todo = [Unit(i, k) for i in range(len(specs)) for k in range(len(groups))]
    work = ([s.source for s in specs], hps, (args.seed, args.quick, args.dtype, args.seeds), budget, every)
    done = {}
    with progress.progress(
        args, len(todo), f"suite: rules x game families on {args.jobs} process(es)", "unit"
    ) as bar:

        def finished(u, result):
            done[u] = result
            bar.set_postfix_str(f"{specs[u.rule].name}, family {u.family + 1}/{len(groups)}")
            bar.update()

        progress.run_all(args.jobs, [(u, simulate, (u, *work)) for u in todo], finished)
    runs = [r for u in todo for r in done[u][0]]
    for u in todo:
        timer.seconds.update(done[u][1])
    import pandas as pd

    order = {e.name: i for i, e in enumerate(entries)}
    df = pd.DataFrame(runs).sort_values("game", key=lambda c: c.map(order), kind="stable", ignore_index=True)
    output.write_frame(folder / "runs.csv", df)
    cells = summarize(df, seed=args.seed)
    output.write_frame(folder / "suite.csv", cells)
    board = leaderboard(cells, [s.name for s in specs])
    output.atomic_write(folder / "leaderboard.md", board + "\n")
    output.save_figure(heatmap(cells, [s.name for s in specs]), folder / "heatmap.png")
    output.save_figure(profile(cells, [s.name for s in specs]), folder / "profile.png")
    meta = metadata.metadata(
        args,
        rules=metadata.rules_meta(specs),
        hyperparameters={
            "start_noise": START_NOISE,
            "per_rule": {s.name: rules.effective_hparams(s.rule, hps[s.name]) for s in specs},
        },
        games=[
            {"name": g.name, "why": g.why, "games": len(gl), "family": k}
            for k, m in enumerate(groups)
            for g, gl in m
        ],
        feedback=[f.spec for f in FEEDBACKS],
        budget={
            "oracle_calls": budget,
            "sampled": "K x actions x budget comparisons",
            "record_every": every,
            "scale": {g.name: g.budget_scale for g in entries if g.budget_scale != 1.0},
        },
        jobs=args.jobs,
        seeds=args.seeds,
        overall_rank="mean over the (game, feedback, budget) columns of the rule's rank by median final gap",
        wall_time_s={**timer.seconds, "total": round(time.perf_counter() - t0, 3)},
    )
    metadata.write_metadata(folder, meta)
    print(board)


def _read_runs(rule: str, members, fb: FeedbackEntry, tr, first_game, budget: int) -> list[dict]:
    """One row per run and budget: the last record within the budget (gap, win rate) and the cost to each
    level (the first record from which the gap stays below it). ``members``: ``(game entry, number of
    games)`` in the order the sweep stacked them (its runs are game-major: ``[game, seed]``)."""
    gap = np.asarray(tr.metrics["gap"]).reshape(-1, len(tr.steps))  # [runs, R+1]
    win = np.asarray(tr.metrics["win_rate"]).reshape(gap.shape) if "win_rate" in tr.metrics else None
    cost = np.asarray(tr.counters[fb.unit], np.float64).reshape(gap.shape)
    per_eval = 1
    if fb.unit == "comparisons":  # comparisons of one gradient evaluation of one player
        k = int(fb.spec.partition(":")[2])
        per_eval = k * first_game.shape[0] * (first_game.A.shape[0] if first_game.contextual else 1)
    n_games = sum(n for _, n in members)
    seeds = gap.shape[0] // n_games
    owner = [(name, i) for name, n in members for i in range(n)]  # stacked game -> (entry, index in it)
    first_run = {}
    for g, (name, _) in enumerate(owner):
        first_run.setdefault(name, g * seeds)
    rows = []
    for frac in fb.fractions:
        limit = frac * budget * per_eval
        within = cost <= limit + 1e-9
        last = within.shape[1] - 1 - np.argmax(np.flip(within, 1), axis=1)  # last record within the budget
        stays = {lv: np.flip(np.cumprod(np.flip(gap <= lv, 1), 1), 1).astype(bool) & within for lv in LEVELS}
        for r in range(gap.shape[0]):
            name, game_index = owner[r // seeds]
            row = {
                "rule": rule,
                "game": name,
                "feedback": fb.spec,
                "budget_unit": fb.unit,
                "budget": limit,
                "run": r - first_run[name],
                "game_index": game_index,
                "gap": float(gap[r, last[r]]),
                "win_rate": float(win[r, last[r]]) if win is not None else np.nan,
            }
            for lv in LEVELS:
                ok = stays[lv][r]
                row[f"cost_to_{lv:g}"] = float(cost[r, np.argmax(ok)]) if ok.any() else np.nan
            rows.append(row)
    return rows


def summarize(df, seed: int = 0):
    """One row per (rule, game, feedback, budget): medians, interval, costs, rank within the column."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    rows = []
    for (rule, game, fb, unit, budget), part in df.groupby(
        ["rule", "game", "feedback", "budget_unit", "budget"], sort=False
    ):
        med, lo, hi = tables.bootstrap_median(part["gap"], rng, BOOTSTRAP)
        row = dict(rule=rule, game=game, feedback=fb, budget_unit=unit, budget=budget, runs=len(part))
        row.update(gap_median=med, gap_lo=lo, gap_hi=hi, win_rate_median=float(np.median(part["win_rate"])))
        for lv in LEVELS:
            c = part[f"cost_to_{lv:g}"]
            row[f"reached_{lv:g}"] = float(c.notna().mean())
            row[f"cost_to_{lv:g}_median"] = float(c.median()) if c.notna().any() else np.nan
        rows.append(row)
    cells = pd.DataFrame(rows)
    many = cells.groupby(["game", "feedback"])["budget"].transform("nunique") > 1
    cells["column"] = [
        f"{g} | {f}" + (f" @{b:.1e}" if m else "")
        for g, f, b, m in zip(cells.game, cells.feedback, cells.budget, many)
    ]
    cells["rank"] = cells.groupby("column")["gap_median"].rank(method="average")
    return cells


def overall(cells, order) -> list[tuple]:
    """``(rule, mean rank, columns, best-in-column count)``, best first."""
    out = []
    for rule in order:
        part = cells[cells.rule == rule]
        if len(part):
            out.append((rule, float(part["rank"].mean()), len(part), int((part["rank"] == 1).sum())))
    return sorted(out, key=lambda r: r[1])


def _fmt(v) -> str:
    return "n/a" if not np.isfinite(v) else f"{v:.1e}"


def leaderboard(cells, order) -> str:
    """The Markdown leaderboard: the overall ranking, then one table per game (columns: feedback)."""
    lines = [
        "## Overall",
        "",
        "Rank by the mean of each rule's rank (by median final gap) over the columns it runs in; "
        "columns: game x feedback x budget.",
        "",
    ]
    rows = [(i + 1, r, f"{m:.2f}", n, b) for i, (r, m, n, b) in enumerate(overall(cells, order))]
    lines.append(tables.table(rows, ["rank", "rule", "mean rank", "columns", "best in"]))
    for game in dict.fromkeys(cells.game):
        part = cells[cells.game == game]
        cols = list(dict.fromkeys(part.column))
        header = ["rule", *[c.split(" | ", 1)[1] for c in cols]]
        body = []
        for rule in order:
            cells_r = part[part.rule == rule].set_index("column")
            if not len(cells_r):
                continue
            row = [rule]
            for c in cols:
                if c not in cells_r.index:
                    row.append("n/a")
                    continue
                x = cells_r.loc[c]
                row.append(f"{_fmt(x.gap_median)} [{_fmt(x.gap_lo)}, {_fmt(x.gap_hi)}] ({x['rank']:g})")
            body.append(row)
        lines += ["", f"## {game}: final gap, median [95 % bootstrap interval] (rank)", ""]
        lines.append(tables.table(body, header))
        exact = part[part.feedback == "exact"]
        if len(exact):
            detail = [
                (
                    r.rule,
                    f"{r.win_rate_median:.4f}" if np.isfinite(r.win_rate_median) else "n/a",
                    *(f"{_fmt(r[f'cost_to_{lv:g}_median'])} ({r[f'reached_{lv:g}']:.0%})" for lv in LEVELS),
                )
                for _, r in exact.iterrows()
            ]
            lines += [
                "",
                f"{game}, exact feedback: worst-case win rate and oracle calls to reach a gap (share of runs)",
                "",
            ]
            lines.append(
                tables.table(detail, ["rule", "worst-case win rate", *(f"calls to {lv:g}" for lv in LEVELS)])
            )
    return "\n".join(lines)


def heatmap(cells, order):
    """Rules x columns, colour log10 of the median gap over the data's own range (whole decades); each cell
    shows the median and its interval. A :class:`matplotlib.figure.Figure`; the global backend is not touched."""
    from matplotlib.figure import Figure

    from .common import figures

    cols = list(dict.fromkeys(cells.column))
    rows = [r for r in order if r in set(cells.rule)]
    M = np.full((len(rows), len(cols)), np.nan)
    text = [["n/a"] * len(cols) for _ in rows]
    for r in cells.itertuples():
        i, j = rows.index(r.rule), cols.index(r.column)
        M[i, j] = np.log10(figures.plot_floor(r.gap_median))
        text[i][j] = f"{r.gap_median:.0e}\n[{r.gap_lo:.0e},\n{r.gap_hi:.0e}]"
    finite = M[np.isfinite(M)]
    vmin = np.floor(finite.min()) if finite.size else -16.0
    vmax = max(np.ceil(finite.max()), vmin + 1) if finite.size else 0.0
    fig = Figure(figsize=(1.0 * len(cols) + 3, 0.62 * len(rows) + 2.5), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(M, cmap="viridis_r", aspect="auto", vmin=vmin, vmax=vmax)
    for i in range(len(rows)):
        for j in range(len(cols)):
            dark = np.isfinite(M[i, j]) and M[i, j] > (vmin + vmax) / 2  # viridis_r: high values are dark
            ax.text(
                j, i, text[i][j], ha="center", va="center", fontsize=6, color="white" if dark else "black"
            )
    ax.set_xticks(range(len(cols)), [c.replace(" | ", "\n") for c in cols], rotation=90, fontsize=7)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    fig.colorbar(im, ax=ax, label="log10 median final gap (grey: the rule cannot run there)", shrink=0.8)
    ax.set_facecolor("0.85")
    ax.set_title("final duality gap at equal budget: median [95 % bootstrap interval] over runs")
    return fig


def profile(cells, order):
    """Performance profile (Dolan and Moré 2002): for each rule, the share of columns where its median gap is
    within a factor t of the best rule's, against t (log x, up to the largest finite factor). Higher and further
    left is better; a rule tops out at the share of columns it can run. Equal profiles are drawn once, named
    together; the legend is beside the axes. A :class:`matplotlib.figure.Figure`."""
    from matplotlib.figure import Figure

    from .common import figures

    floor = 1e-16  # gaps below float64 round-off count as equal
    best = cells.groupby("column")["gap_median"].transform("min").clip(lower=floor)
    ratio = cells["gap_median"].clip(lower=floor) / best
    top = float(np.nanmax(ratio.to_numpy())) if len(ratio) else 10.0
    ts = np.logspace(0, np.log10(max(top, 10.0)) + 0.1, 300)
    ncol = cells["column"].nunique()
    labels = [r for r in order if r in set(cells.rule)]
    curves = {}
    for rule in labels:
        rr = np.sort(ratio[cells.rule == rule].to_numpy())
        curves[rule] = (ts, np.searchsorted(rr, ts, side="right") / ncol)
    fig = Figure(figsize=(10, 5.2), layout="constrained")
    ax = fig.subplots()
    style = {
        lab: {"color": f"C{k % 10}", "ls": ("-", "--", ":", "-.")[k // 10 % 4], "lw": 1.5}
        for k, lab in enumerate(labels)
    }
    for grp in figures.coincident(curves):
        ax.step(ts, curves[grp[0]][1], where="post", label=" = ".join(grp), **style[grp[0]])
    ax.set_xscale("log")
    ax.set_xlim(1, ts[-1])
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.25)
    ax.set_xlabel("t: within a factor t of the best median final gap in the column")
    ax.set_ylabel(f"share of the {ncol} columns")
    ax.set_title("performance profile over games x feedback x budget")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


if __name__ == "__main__":
    sys.exit(cli.entry(main))
