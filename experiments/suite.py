"""The benchmark suite for update rules: is my rule better, and where?

Every rule (registered, or yours with ``--rules module:attr``) on games that each stress something
(:data:`GAMES`; ``--games`` takes yours too), under exact, sampled and noisy feedback (:data:`FEEDBACKS`), at an
**equal budget**: oracle calls for exact and noisy feedback, judged comparisons for sampled feedback, not equal
steps. Per (rule, game, feedback): the final gap at the budget, median over runs (seeds x starts, x games for
the ensemble) with a 95 % bootstrap interval; the worst-case win rate; the cost to reach a gap of 1e-2 and 1e-4;
the rank in that column. The overall rank is the mean rank over the columns a rule runs in (ties share the mean
rank). Every run starts at uniform perturbed by ``start_noise`` 0.5 (``--hp``). Writes ``runs.csv`` (one row
per run and budget), ``suite.csv`` (per rule, game, feedback, budget), ``leaderboard.md`` (printed too),
``heatmap.png`` and ``profile.png`` (performance profile over the columns).

    python -m experiments suite --quick --rules mwu,comal,my_rules:my_rule [--games paper_cycle,my:game]
"""

from __future__ import annotations

import dataclasses
import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .common import cli, output, study, tables

STUDY = "suite"
#: Gap levels whose cost is reported.
LEVELS = (1e-2, 1e-4)
#: Start noise of every run unless ``--hp start_noise=S`` (seeds then draw different starts, so intervals over
#: seeds mean something).
START_NOISE = 0.5
#: Bootstrap resamples of the median.
BOOTSTRAP = 2000


class GameEntry(NamedTuple):
    """One game of the suite: ``build(seed, quick, dtype) -> list of games`` (one same-shape family: one
    compiled sweep per rule and feedback), why it is in the suite, and whether ``--quick`` runs it."""

    name: str
    build: Callable
    why: str
    quick: bool = False
    #: Its runs' budget as a share of ``--budget`` (LLMFAO: 59 actions make a sampled evaluation 59 x K duels).
    budget_scale: float = 1.0


def _g(name, *args, **kw):
    """A builder of one library game: ``games.<name>(*args, **kw)``, as a one-game family."""

    def build(seed, quick, dtype):
        import games

        return [(getattr(games, name, None) or getattr(games.library, name))(*args, **kw, dtype=dtype)]

    return build


def _built(seed, quick, dtype, what):
    """The suite's three games that are not one library call: the ensemble, the rectangular, the contextual."""
    import games
    from algorithms import conformance

    if what == "rectangular":
        return [games.matrix_game(conformance.RECTANGULAR, dtype=dtype)]
    if what == "contextual":
        return [games.library.contextual_cycles(seed, 4, 3, dtype=dtype)]
    keys = cli.run_seeds(seed, 8 if quick else 16)  # == the SeedSequence draws the suite always made
    return [games.random_preference(k, 5, "cyclic", dtype=dtype) for k in keys]


#: The suite's games, one line each (the README's suite section gives the same "why").
GAMES: tuple[GameEntry, ...] = (
    GameEntry(
        "paper_cycle",
        _g("comal_cycle"),
        "the paper's 3x3 non-transitive game (arXiv 2410.23223): last iterates cycle",
        True,
    ),
    GameEntry(
        "condorcet5",
        _g("condorcet_cycle", 5, 0.8),
        "a 5-cycle (p = 0.8), uniform unique equilibrium: slow rotation",
    ),
    GameEntry(
        "cyclic5_ensemble",
        functools.partial(_built, what="ensemble"),
        "random cyclic 5x5 games (odd n: unique interior equilibria)",
        True,
    ),
    GameEntry(
        "rectangular3x4",
        functools.partial(_built, what="rectangular"),
        "a 3x4 zero-sum matrix game: two players, no self-play",
        True,
    ),
    GameEntry(
        "contextual4x3",
        functools.partial(_built, what="contextual"),
        "4 prompts, weights 0.6^c: rho-weighted gap, one policy per prompt",
    ),
    GameEntry(
        "near_degenerate0.1",
        _g("near_degenerate", 0.1),
        "5x5, a face of equilibria at delta = 0; delta = 0.1: small singular value (0.19), slow last iterates",
    ),
    GameEntry(
        "boundary0.01",
        _g("boundary_equilibrium", 0.01),
        "weighted RPS, equilibrium mass 0.01 on one response: far in log space, slow for OMWU/extragradient",
    ),
    GameEntry(
        "dominated0.01",
        _g("dominated_response", 0.01),
        "the paper's cycle plus a response dominated by margin 0.01: non-full support, mass decays slowly",
    ),
    GameEntry(
        "llmfao_crowd",
        _g("llmfao", "crowd", missing="tie"),
        "the real LLMFAO crowd comparisons of 59 models (rates game, unobserved pairs tie): real data",
        budget_scale=0.25,
    ),
)
BY_NAME = {g.name: g for g in GAMES}


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


def named(text: str, dtype: str, seed: int):
    """The suite's own games by name (a family's first game; the metadata's lookup); None for other names."""
    from .common.gamespec import GameSpec

    if text not in BY_NAME:
        return None
    e = BY_NAME[text]
    return GameSpec(e.build(seed, False, dtype)[0], e.name, {"name": e.name, "why": e.why})


@dataclass(frozen=True)
class Config(study.Base):
    rules: tuple = study.rules("all", "every registered rule by default", quick="mwu,inpo,omwu,comal")
    games: tuple = study.games(
        ",".join(g.name for g in GAMES),
        "the columns' games (default all of the suite's)",
        named=tuple(BY_NAME),
        quick=",".join(g.name for g in GAMES if g.quick),
    )
    comparisons: str = study.comparisons("a game of your comparisons, one more column")
    hp: tuple = study.hp(f"start_noise is {START_NOISE} unless given")
    seeds: int = study.seeds(16, "seeds (random starts) per game, >= 16 (default 16)", least=16)
    jobs: int = study.jobs()
    budget: int = study.option(
        3000,
        "oracle calls per run with exact/noisy feedback; with sampled:K the comparisons of as many gradient "
        "evaluations of one player, K x actions x budget (default 3000; --quick 400)",
        quick=400,
        parse=study._count("budget"),
    )


def every(c: Config) -> int:
    return max(1, c.budget // 40)


def prepare(c: Config) -> Config:
    """``--budget`` a multiple of its record interval; ``start_noise`` 0.5 unless ``--hp`` sets it; every rule
    and ``--hp`` on the paper's cycle (a rule that cannot read a game of the suite skips that column)."""
    import games

    if c.budget % every(c):
        raise ValueError(f"--budget ({c.budget}) must be a multiple of {every(c)}")
    c = dataclasses.replace(c, hp=((None, "start_noise", START_NOISE), *c.hp))
    study.check_rules(c, games.comal_cycle(dtype=c.dtype), cli.feedback_type("exact"))
    for item in study.game_items(c):
        _entry(c, item)
    return c


def _entry(c: Config, item: str) -> GameEntry:
    """A ``--games`` item as a suite entry: one of :data:`GAMES`, or a game of yours (a one-game family)."""
    if item in BY_NAME:
        return BY_NAME[item]
    gs = study.load_game(item, c.dtype, c.seed, named)
    return GameEntry(gs.label, lambda seed, quick, dtype: [gs.game], f"--games {item}")


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


def families(entries, seed: int, quick: bool, dtype: str) -> list[list[tuple]]:
    """The entries' games grouped by :func:`family_key` and budget scale (order of first appearance): one list
    of ``(entry, games)`` per compiled sweep. Same-shape games of different entries share one sweep, so the
    number of compilations is rules x families x feedbacks, not rules x games x feedbacks."""
    groups: dict[tuple, list] = {}
    for entry in entries:
        game_list = entry.build(seed, quick, dtype)
        groups.setdefault((*family_key(game_list[0]), entry.budget_scale), []).append((entry, game_list))
    return list(groups.values())


@functools.cache
def _families(c: Config) -> list[list[tuple]]:
    return families([_entry(c, item) for item in study.game_items(c)], c.seed, c.quick, c.dtype)


def units(c: Config):
    """One unit per rule and family of games, every feedback (one compiled sweep each)."""
    return [((r, k), (r, k)) for r in c.rules for k in range(len(_families(c)))]


def simulate(c: Config, source: str, family: int) -> dict:
    import pandas as pd

    import algorithms

    rule, members = study.load_rule(source), _families(c)[family]
    game = members[0][1][0]
    steps = max(1, round(members[0][0].budget_scale * c.budget / every(c))) * every(c)
    metrics = ("gap", "win_rate") if game.preference else ("gap",)
    rows = []
    for fb in FEEDBACKS if _reads(rule, game) else ():
        feedback = cli.feedback_type(fb.spec)
        if rule.exact_only and feedback.stochastic:
            continue
        tr = algorithms.sweep(
            rule,
            [g for _, gl in members for g in gl],
            steps=steps,
            record_every=every(c),
            seeds=cli.run_seeds(c.seed, c.seeds),  # as every study: two --seed values share no run
            feedback=feedback,
            metrics=metrics,
            **study.hparams(c, source),
        )
        rows.extend(_read_runs(rule.name, [(e.name, len(gl)) for e, gl in members], fb, tr, game, steps))
    return {"runs": pd.DataFrame(rows)}


def report(c: Config, t: dict, folder) -> dict:
    entries = [e for m in _families(c) for e, _ in m]
    order = {e.name: i for i, e in enumerate(_entry(c, item) for item in study.game_items(c))}
    df = t["runs"].sort_values("game", key=lambda s: s.map(order), kind="stable", ignore_index=True)
    output.write_frame(folder / "runs.csv", df)  # the suite's order: game by game, then the units' order
    cells = summarize(df, seed=c.seed)
    output.write_frame(folder / "suite.csv", cells)
    names = [study.load_rule(r).name for r in c.rules]
    board = leaderboard(cells, names)
    output.atomic_write(folder / "leaderboard.md", board + "\n")
    output.save_figure(heatmap(cells, names), folder / "heatmap.png")
    output.save_figure(profile(cells, names), folder / "profile.png")
    print(board)
    return {
        "suite_games": [
            {"name": e.name, "why": e.why, "games": len(gl), "family": k}
            for k, m in enumerate(_families(c))
            for e, gl in m
        ],
        "feedback_columns": [f.spec for f in FEEDBACKS],
        "budget": {
            "oracle_calls": c.budget,
            "sampled": "K x actions x budget comparisons",
            "record_every": every(c),
            "scale": {e.name: e.budget_scale for e in entries if e.budget_scale != 1.0},
        },
        "overall_rank": "mean over the (game, feedback, budget) columns of the rule's rank by median final gap",
    }


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


STUDY_DECL = study.Study(
    STUDY,
    __doc__.splitlines()[0],
    Config,
    units,
    simulate,
    report,
    prepare,
    refuses={
        "feedback": "the suite's columns are every rule under exact, sampled:8 and noisy:0.1 feedback",
        "schedules": "the rules run at constant step sizes",
        "steps": "the runs' length is --budget: equal oracle calls or comparisons, not equal steps",
        "x": "the budget's unit is fixed by the feedback: oracle calls (exact, noisy) or comparisons (sampled)",
    },
    named=named,
)
main = study.command(STUDY_DECL)

if __name__ == "__main__":
    sys.exit(cli.entry(main))
