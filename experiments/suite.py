"""The benchmark suite for update rules: is my rule better, and where?

Every rule (registered, or yours with ``--rules module:attr``) on games that each stress something
(:data:`GAMES`; ``--games`` takes yours too), under exact, sampled and noisy feedback (:data:`FEEDBACKS`), at an
**equal budget** (oracle calls; judged comparisons for sampled feedback), from starts perturbed by
``start_noise`` 0.5. Rules are compared **paired**, run by run (:mod:`experiments.common.compare`), and ranked
by significant wins minus losses. Writes ``runs.csv``, ``suite.csv``, ``pairs.csv``, ``ranking.csv``,
``leaderboard.md`` (printed too), ``heatmap.png`` and ``improvement.png`` (docs/studies/suite.md).

    python -m experiments suite --quick --rules mwu,comal,my_rules:my_rule [--games paper_cycle,my:game]
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .common import cli, compare, gamespec, output, study, tables
from .common.leaderboard import heatmap, improvement_figure, leaderboard, rankings, save_png

STUDY = "suite"
#: Gap levels whose cost is reported.
LEVELS = (1e-2, 1e-4)
#: Start noise of every run unless ``--hp start_noise=S`` (seeds then draw different starts, so intervals over
#: seeds mean something).
START_NOISE = 0.5


class GameEntry(NamedTuple):
    """A game of the suite: its name, ``spec`` (a ``--games`` item, or ``ensemble`` / ``rectangular``), why it
    is in the suite, whether ``--quick`` runs it, and its runs' share of ``--budget``."""

    name: str
    spec: str
    why: str
    quick: bool = False
    budget_scale: float = 1.0  # LLMFAO: 59 actions make a sampled evaluation 59 x K duels

    def build(self, seed: int, quick: bool, dtype: str) -> list:
        """Its games, one same-shape family: ``ensemble``: 16 (``--quick`` 8) random cyclic 5x5 games drawn
        from ``seed``; ``rectangular``: the conformance kit's 3x4 matrix game; else the game ``spec`` names."""
        import games
        from algorithms import conformance

        if self.spec == "ensemble":
            keys = cli.run_seeds(seed, 8 if quick else 16)
            return [games.random_preference(k, 5, "cyclic", dtype=dtype) for k in keys]
        if self.spec == "rectangular":
            return [games.matrix_game(conformance.RECTANGULAR, dtype=dtype)]
        return [study.load_game(self.spec, dtype, seed).game]


#: The suite's games, one line each (the README's suite section gives the same "why").
GAMES: tuple[GameEntry, ...] = (
    GameEntry(
        "paper_cycle",
        "comal_cycle",
        "the paper's 3x3 non-transitive game (arXiv 2410.23223): last iterates cycle",
        True,
    ),
    GameEntry(
        "condorcet5",
        "condorcet_cycle:n=5,p=0.8",
        "a 5-cycle (p = 0.8), uniform unique equilibrium: slow rotation",
    ),
    GameEntry(
        "cyclic5_ensemble", "ensemble", "random cyclic 5x5 games (odd n: unique interior equilibria)", True
    ),
    GameEntry("rectangular3x4", "rectangular", "a 3x4 zero-sum matrix game: two players, no self-play", True),
    GameEntry(
        "contextual4x3",
        "contextual_cycles:prompts=4,n=3",
        "4 prompts, weights 0.6^c: rho-weighted gap, one policy per prompt",
    ),
    GameEntry(
        "near_degenerate0.1",
        "near_degenerate:delta=0.1",
        "5x5, a face of equilibria at delta = 0; delta = 0.1: small singular value (0.19), slow last iterates",
    ),
    GameEntry(
        "boundary0.01",
        "boundary_equilibrium:eps=0.01",
        "weighted RPS, equilibrium mass 0.01 on one response: far in log space, slow for OMWU/extragradient",
    ),
    GameEntry(
        "dominated0.01",
        "dominated_response:margin=0.01",
        "the paper's cycle plus a response dominated by margin 0.01: non-full support, mass decays slowly",
    ),
    GameEntry(
        "llmfao_crowd",
        "llmfao:judge=crowd,missing=tie",
        "the real LLMFAO crowd comparisons of 59 models (rates game, unobserved pairs tie): real data",
        budget_scale=0.25,
    ),
)
BY_NAME = {g.name: g for g in GAMES}


class FeedbackEntry(NamedTuple):
    """A feedback column: the model (``exact``, ``sampled:K``, ``noisy:SIGMA``), the budget's unit, and the
    shares of the run's budget it is read at."""

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
    if (e := BY_NAME.get(text)) is not None:
        return gamespec.GameSpec(e.build(seed, False, dtype)[0], e.name, {"name": e.name, "why": e.why})


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
        f"evaluations of one player, K x actions x budget (default 3000; --quick 400); {study.CAP_HELP}",
        quick=400,
        parse=study._work("budget"),
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
    return BY_NAME.get(item) or GameEntry(
        study.load_game(item, c.dtype, c.seed).label, item, f"--games {item}"
    )


def families(entries, seed: int, quick: bool, dtype: str) -> list[list[tuple]]:
    """The entries' games grouped by shape, contexts, preference or matrix game, and budget scale (in order of
    first appearance): one list of ``(entry, games)`` per compiled sweep, so the suite compiles rules x
    families x feedbacks programs, not rules x games x feedbacks."""
    groups: dict[tuple, list] = {}
    for entry in entries:
        gl = entry.build(seed, quick, dtype)
        key = (np.shape(gl[0].A), bool(gl[0].contextual), bool(gl[0].preference), entry.budget_scale)
        groups.setdefault(key, []).append((entry, gl))
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
    seeds = cli.run_seeds(c.seed, c.seeds)  # as every study: two --seed values share no run
    try:
        rule.init(game)  # a rule that cannot read these games (declared games, self-play) skips them
        feedbacks = FEEDBACKS
    except (ValueError, TypeError):
        feedbacks = ()
    frames = []
    for fb in feedbacks:
        feedback = cli.feedback_type(fb.spec)
        if rule.exact_only and feedback.stochastic:
            continue
        run = dict(steps=steps, record_every=every(c), seeds=seeds, feedback=feedback, metrics=metrics)
        tr = algorithms.sweep(rule, [g for _, gl in members for g in gl], **run, **study.hparams(c, source))
        frames.append(_read_runs(rule.name, [(e.name, len(gl)) for e, gl in members], fb, tr, game, steps))
    return {"runs": pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()}


def report(c: Config, t: dict, folder) -> dict:
    import pandas as pd

    order = {e.name: i for i, e in enumerate(_entry(c, item) for item in study.game_items(c))}
    df = t["runs"].sort_values("game", key=lambda s: s.map(order), kind="stable", ignore_index=True)
    output.write_frame(folder / "runs.csv", df)  # the suite's order: game by game, then the units' order
    cells = summarize(df, seed=c.seed)
    output.write_frame(folder / "suite.csv", cells)
    names = [study.load_rule(r).name for r in c.rules]
    pairs = compare.compare(df, names, seed=c.seed)
    output.write_frame(folder / "pairs.csv", pairs)
    ranks = rankings(pairs, names)
    output.write_frame(folder / "ranking.csv", pd.concat([b.assign(scope=s) for s, b in ranks.items()]))
    yours = next((study.load_rule(r).name for r in c.rules if ":" in r), None)
    board = leaderboard(cells, pairs, names, focus=yours)
    output.atomic_write(folder / "leaderboard.md", board + "\n")
    ranked = [r for row in ranks["all columns"].rules for r in row.split(" = ")] or names
    save_png(heatmap(cells, ranked), folder / "heatmap.png")
    save_png(improvement_figure(pairs, ranked), folder / "improvement.png")
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
            "scale": {e.name: e.budget_scale for m in _families(c) for e, _ in m if e.budget_scale != 1.0},
        },
        "ranking": "significant paired wins minus losses over the columns (Wilcoxon signed-rank on log10 gap "
        f"ratios, Holm over each pair's columns, alpha {compare.ALPHA}); all, exact, sampled/noisy columns",
    }


def _read_runs(rule: str, members, fb: FeedbackEntry, tr, first_game, budget: int):
    """A DataFrame, one row per run and budget: the last record within the budget (gap, win rate) and the cost
    to each level (:func:`experiments.common.tables.first_below`) if within it. ``members``: ``(game entry name,
    number of games)`` in the order the sweep stacked them (its runs are game-major: ``[game, seed]``)."""
    import pandas as pd

    gap = np.asarray(tr.metrics["gap"]).reshape(-1, len(tr.steps))  # [runs, R+1]
    win = np.asarray(tr.metrics.get("win_rate", np.full_like(gap, np.nan))).reshape(gap.shape)
    cost = np.asarray(tr.counters[fb.unit], np.float64).reshape(gap.shape)
    per_eval = 1
    if fb.unit == "comparisons":  # comparisons of one gradient evaluation of one player
        k = int(fb.spec.partition(":")[2])
        per_eval = k * first_game.shape[0] * (first_game.A.shape[0] if first_game.contextual else 1)
    seeds = gap.shape[0] // sum(n for _, n in members)
    sizes = [n * seeds for _, n in members]
    game = np.repeat([name for name, _ in members], sizes).astype(object)
    run = np.concatenate([np.arange(size) for size in sizes])
    game_index = np.repeat(np.concatenate([np.arange(n) for _, n in members]), seeds)
    firsts = {lv: tables.first_below(cost, gap, lv) for lv in LEVELS}
    frames = []
    for frac in fb.fractions:
        limit = frac * budget * per_eval
        within = cost <= limit + 1e-9
        at = (np.arange(len(gap)), within.shape[1] - 1 - np.argmax(np.flip(within, 1), axis=1))  # last within
        frame = dict(rule=rule, game=game, feedback=fb.spec, budget_unit=fb.unit, budget=limit, run=run)
        frame |= dict(
            game_index=game_index, gap=gap[at].astype(np.float64), win_rate=win[at].astype(np.float64)
        )
        for lv, first in firsts.items():
            frame[f"cost_to_{lv:g}"] = np.where(first <= limit + 1e-9, first, np.nan)
        frames.append(pd.DataFrame(frame))
    return pd.concat(frames, ignore_index=True)


def summarize(df, seed: int = 0):
    """One row per (rule, game, feedback, budget): medians, interval, costs, rank of the median within the
    column (round-off ties, :func:`experiments.common.compare.tied_rank`, share the mean rank)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    rows, by = [], ["rule", "game", "feedback", "budget_unit", "budget"]
    for key, part in df.groupby(by, sort=False):
        med, lo, hi = tables.bootstrap_median(part["gap"], rng)
        row = dict(zip(by, key), runs=len(part), gap_median=med, gap_lo=lo, gap_hi=hi)
        row["win_rate_median"] = float(np.median(part["win_rate"]))
        for lv in LEVELS:
            c = part[f"cost_to_{lv:g}"]
            row[f"reached_{lv:g}"] = float(c.notna().mean())
            row[f"cost_to_{lv:g}_median"] = float(c.median()) if c.notna().any() else np.nan
        rows.append(row)
    cells = pd.DataFrame(rows)
    cells["column"] = compare.column_names(cells)
    cells["rank"] = cells.groupby("column")["gap_median"].transform(lambda g: compare.tied_rank(g.to_numpy()))
    return cells


STUDY_DECL, main = study.declare(
    globals(),
    refuses={
        "feedback": "the suite's columns are every rule under exact, sampled:8 and noisy:0.1 feedback",
        "steps": "the runs' length is --budget: equal oracle calls or comparisons, not equal steps",
        "x": "the budget's unit is fixed by the feedback: oracle calls (exact, noisy) or comparisons (sampled)",
    },
)
