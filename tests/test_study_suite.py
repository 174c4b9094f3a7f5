"""The suite on the study shell. Its statistics, on small examples computed by hand: the bootstrap interval of
the median, the rank in a column (ties, round-off ones too, share the mean rank), and the reading of one
compiled sweep's game-major runs back into the games that were stacked into it (the paired comparisons:
tests/test_suite_stats.py). Its CLI contract in-process, and a rule and a game of your own ranked beside the
registered ones."""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from experiments import suite
from experiments.common import tables


def test_bootstrap_median_of_two_values_spans_both():
    """v = (0, 1): a resample of two is (0,0), (0,1), (1,0) or (1,1), medians 0, 0.5, 0.5, 1 with
    probabilities 1/4, 1/2, 1/4: the 2.5 % and 97.5 % quantiles of 2000 resamples are 0 and 1."""
    med, lo, hi = tables.bootstrap_median([0.0, 1.0], np.random.default_rng(0))
    assert (med, lo, hi) == (0.5, 0.0, 1.0)


def test_bootstrap_median_interval_has_the_asymptotic_width():
    """v = 0, 1, ..., 100 (a uniform sample, density 1/100 at the median): the median's standard error is
    1 / (2 f sqrt(n)) = 100 / (2 sqrt(101)) = 4.98, so the 95 % interval is about 50 -+ 9.8."""
    med, lo, hi = tables.bootstrap_median(np.arange(101.0), np.random.default_rng(1))
    assert med == 50.0
    assert 36.0 < lo < 45.0 and 55.0 < hi < 64.0
    assert 14.0 < hi - lo < 26.0


def test_bootstrap_median_of_a_constant_is_a_point():
    assert tables.bootstrap_median([3.0] * 16, np.random.default_rng(2)) == (3.0, 3.0, 3.0)


def _cells(gaps: dict) -> pd.DataFrame:
    """``{column: {rule: gap}}`` -> the runs frame of one run per cell (its median is that gap)."""
    rows = []
    for col, by_rule in gaps.items():
        for rule, g in by_rule.items():
            rows.append(
                dict(
                    rule=rule,
                    game=col,
                    feedback="exact",
                    budget_unit="oracle_calls",
                    budget=100.0,
                    run=0,
                    game_index=0,
                    gap=g,
                    win_rate=0.4,
                    **{"cost_to_0.01": np.nan, "cost_to_0.0001": np.nan},
                )
            )
    return suite.summarize(pd.DataFrame(rows))


def test_bootstrap_median_with_levels_never_reached():
    rng = np.random.default_rng(0)
    assert tables.bootstrap_median([np.inf] * 16, rng) == (np.inf, np.inf, np.inf)
    med, lo, hi = tables.bootstrap_median(
        [2.0] * 15 + [np.inf], rng
    )  # one seed never: a resample median is 2
    assert (med, lo, hi) == (2.0, 2.0, 2.0)
    med, lo, hi = tables.bootstrap_median([1.0] * 4 + [np.inf] * 12, rng)
    assert med == np.inf and hi == np.inf and not np.isnan(lo)


def test_rank_in_a_column_smallest_gap_first_ties_share_the_mean_rank():
    """b and c tie exactly, e and f differ by two ulp (round-off): both pairs share their mean rank."""
    e = 1e-4
    cells = _cells({"g": {"a": 1e-1, "b": 1e-3, "c": 1e-3, "d": 1e-5, "e": e, "f": e * (1 + 2**-51)}})
    assert dict(zip(cells.rule, cells["rank"])) == {
        "d": 1.0,
        "e": 2.5,
        "f": 2.5,
        "b": 4.5,
        "c": 4.5,
        "a": 6.0,
    }


def test_read_runs_maps_game_major_runs_to_their_games():
    """One sweep over games [A0, B0, B1] x 2 seeds: runs 0-1 are A's, 2-5 are B's (game index 0, 0, 1, 1).
    Records at 0, 10, 20 oracle calls (gaps below). The cost to a level is the first record from which the gap
    stays at or below it, within the budget: by hand, 1e-2 at 20, 10, 10, 10, 10, 20 calls (run 5 dips below
    at 0 calls and comes back), 1e-4 never, never, 20, 10, 10, 20. Half the budget (10 calls) reads the middle
    record, and 1e-2 costs 10 calls for runs 1-4 only."""
    gap = np.array(
        [
            [1.0, 0.1, 0.005],
            [1.0, 0.005, 0.003],
            [1.0, 0.003, 5e-5],
            [1.0, 5e-5, 1e-6],
            [1.0, 1e-6, 1e-8],
            [1e-3, 0.5, 1e-7],
        ]
    )
    calls = np.broadcast_to(np.array([0.0, 10.0, 20.0]), gap.shape)
    tr = SimpleNamespace(
        metrics={"gap": gap, "win_rate": 0.5 - gap / 10},
        steps=np.array([0, 10, 20]),
        counters={"oracle_calls": calls},
    )
    fb = suite.FeedbackEntry("exact", "oracle_calls", (1.0,))
    game = SimpleNamespace(shape=(3, 3), contextual=False, A=np.zeros((3, 3)))
    rows = pd.DataFrame(suite._read_runs("r", [("A", 1), ("B", 2)], fb, tr, game, 20))
    assert rows.game.tolist() == ["A", "A", "B", "B", "B", "B"]
    assert rows.run.tolist() == [0, 1, 0, 1, 2, 3] and rows.game_index.tolist() == [0, 0, 0, 0, 1, 1]
    assert rows.gap.tolist() == [0.005, 0.003, 5e-5, 1e-6, 1e-8, 1e-7]  # the last record, of its own run
    assert rows.win_rate.tolist() == [0.5 - g / 10 for g in [0.005, 0.003, 5e-5, 1e-6, 1e-8, 1e-7]]
    assert rows["cost_to_0.01"].tolist() == [20, 10, 10, 10, 10, 20]
    assert rows["cost_to_0.0001"].fillna(-1).tolist() == [-1, -1, 20, 10, 10, 20]
    half = pd.DataFrame(suite._read_runs("r", [("A", 3)], fb._replace(fractions=(0.5,)), tr, game, 20))
    assert (half.budget == 10).all() and half.gap.tolist() == [0.1, 0.005, 0.003, 5e-5, 1e-6, 0.5]
    assert half["cost_to_0.01"].fillna(-1).tolist() == [-1, 10, 10, 10, 10, -1]


def test_same_shape_games_share_one_family():
    fams = suite.families(suite.GAMES, 0, False, "float64")
    names = [[e.name for e, _ in m] for m in fams]
    assert ["paper_cycle", "boundary0.01"] in names
    assert ["condorcet5", "cyclic5_ensemble", "near_degenerate0.1"] in names
    assert len(fams) == 6 and sum(len(m) for m in fams) == len(suite.GAMES)


@pytest.mark.parametrize("entry", suite.GAMES, ids=[g.name for g in suite.GAMES])
def test_every_suite_game_builds_and_says_why(entry):
    gl = entry.build(0, False, "float64")
    assert gl and all(np.shape(g.A) == np.shape(gl[0].A) for g in gl) and len(entry.why) > 20


def cli_error(capsys, args, out: Path) -> str:
    """Run the study in-process; it must exit 2 with one line on stderr and write nothing."""
    with pytest.raises(SystemExit) as exc:
        suite.main(["--quick", "--quiet", "--out", str(out), *args])
    err = capsys.readouterr().err
    assert exc.value.code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()
    return err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--seeds", "8"], "--seeds must be >= 16"),
        (["--budget", "81"], "--budget (81) must be a multiple of 2"),
        (["--budget", "0"], "--budget must be >= 1"),
        (["--budget", "1000000000000"], "--budget 1000000000000 is above the cap of 100,000,000 per run"),
        (["--rules", "mwu,nope"], "valid rules:"),
        (["--hp", "foo=1"], "--hp foo: no rule run declares 'foo'"),
        (["--rules", "inpo", "--hp", "eta=20"], "eta * tau must be <= 1"),
        (["--games", "nosuch_game"], "unknown game 'nosuch_game'"),
        (["--feedback", "exact"], "--feedback: the suite's columns are every rule under exact, sampled:8"),
        (["--steps", "100"], "--steps: the runs' length is --budget"),
        (["--x", "steps"], "--x: the budget's unit is fixed by the feedback"),
        (["--schedules", "x:y"], "--schedules: the rules run at constant step sizes"),
    ],
)
def test_cli_errors_are_one_line_before_any_computation(args, message, tmp_path, capsys):
    assert message in cli_error(capsys, args, tmp_path / "out")


MY_WORK = """
import functools
import algorithms, games


@functools.cache
def my_rule():
    return algorithms.mwu()._replace(name="my_rule")  # MWU under a name of its own


def my_game():
    return games.condorcet_cycle(3, 0.8)
"""


@pytest.mark.slow  # ~50 s on 2 busy cores (six compiled sweeps); tests/test_studies.py runs the suite tiny
def test_a_rule_and_a_game_of_your_own_ranked_with_intervals(tmp_path, monkeypatch, capsys):
    """In-process, tiny: registered rules and a rule of the user's on the paper's cycle and a user's game, one
    leaderboard; every cell has its interval, sampled feedback two budgets."""
    (tmp_path / "mine.py").write_text(MY_WORK)
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "s"
    args = ["--quiet", "--budget", "40", "--rules", "omwu,mine:my_rule", "--hp", "my_rule.eta=0.4"]
    suite.main([*args, "--games", "paper_cycle,mine:my_game", "--jobs", "1", "--out", str(out)])
    board = (out / "leaderboard.md").read_text()
    assert board.strip() in capsys.readouterr().out  # printed and saved
    assert "| rank | rule" in board and "my_rule" in board and "## mine:my_game" in board
    cells = pd.read_csv(out / "suite.csv")
    assert set(cells.rule) == {"omwu", "my_rule"}
    assert set(cells.game) == {"paper_cycle", "mine:my_game"}
    assert (cells.runs == 16).all() and (cells.gap_lo <= cells.gap_median).all()
    assert (cells.gap_median <= cells.gap_hi).all() and (cells.gap_lo < cells.gap_hi).any()
    assert {"exact", "sampled:8", "noisy:0.1"} == set(cells.feedback)
    assert cells[cells.feedback == "sampled:8"].groupby("game").budget.nunique().eq(2).all()  # two budgets
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["hyperparameters"]["my_rule"] == {"eta": 0.4, "start_noise": 0.5}
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == cells.runs.sum()
    assert list(dict.fromkeys(runs.game)) == [
        "paper_cycle",
        "mine:my_game",
    ]  # game by game, as --games orders
    assert (runs.game != runs.game.shift()).sum() == 2
    pairs = pd.read_csv(out / "pairs.csv")
    assert set(pairs.rule) == {"omwu", "my_rule"} and set(pairs.verdict) <= {"better", "worse", "cannot tell"}
    assert "## my_rule against each rule, per column" in board and "### exact feedback" in board
    for png in ("heatmap.png", "improvement.png"):
        assert (out / png).stat().st_size > 10_000


def test_two_seeds_share_no_run(monkeypatch):
    """``--seed`` is a replicate: the suite draws its run seeds as every study does (``cli.run_seeds``), so
    ``--seed 0`` and ``--seed 1`` share no run (with ``seed + i``, 15 of 16 runs were shared)."""
    import algorithms
    from experiments.common import study

    drawn = {}

    class Stop(Exception):
        pass

    def capture(*args, seeds, **kw):
        drawn[current] = list(seeds)
        raise Stop

    monkeypatch.setattr(algorithms, "sweep", capture)
    for current in (0, 1):
        c, _ = study.parse_config(suite.STUDY_DECL, ["--quick", "--rules", "mwu", "--seed", str(current)])
        with pytest.raises(Stop):
            suite.simulate(c, "mwu", 0)
    assert len(drawn[0]) == len(drawn[1]) == 16 and not set(drawn[0]) & set(drawn[1])
