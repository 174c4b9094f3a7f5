"""The suite's paired statistics (experiments/common/compare.py) on runs tables built by hand: each statistic
against a small example worked out with literal numbers, the pairing broken on purpose, and two planted truths
(a rule equal to the baseline up to a tiny perturbation ties with it; a rule worse by orders of magnitude on
exact feedback and equal within noise elsewhere ranks below it and is reported worse on exact feedback only)."""

import numpy as np
import pandas as pd
import pytest

from experiments.common import compare, leaderboard


def runs_table(gaps: dict) -> pd.DataFrame:
    """``{rule: {(game, feedback): gaps [games, runs] or [runs]}}`` -> a runs table as the suite writes it."""
    rows = []
    for rule, by_col in gaps.items():
        for (game, fb), g in by_col.items():
            g = np.atleast_2d(np.asarray(g, np.float64))
            for (k, r), v in np.ndenumerate(g):
                rows.append(dict(rule=rule, game=game, feedback=fb, budget=100.0, game_index=k, run=r, gap=v))
    return pd.DataFrame(rows)


def one_pair(a, b, **kw) -> pd.Series:
    """The comparison row of rule a against rule b on one column whose runs are ``a`` and ``b``."""
    pairs = compare.compare(runs_table({"a": {("g", "exact"): a}, "b": {("g", "exact"): b}}), **kw)
    return pairs[pairs.rule == "a"].iloc[0]


def test_paired_median_log_ratio_and_probability_of_improvement_by_hand():
    """a = (1e-3, 1e-2, 1e-4, 0.5), b = (1e-1, 1e-3, 1e-2, 0.5): log10 ratios (-2, 1, -2, 0); median of the
    sorted (-2, -2, 0, 1) is (-2 + 0) / 2 = -1; a is smaller in runs 1 and 3, ties in run 4: P = (1 + 1 + 1/2) / 4
    = 0.625. The mirrored row says the opposite: +1 and 0.375."""
    row = one_pair([1e-3, 1e-2, 1e-4, 0.5], [1e-1, 1e-3, 1e-2, 0.5])
    assert row.effect == pytest.approx(-1.0, abs=1e-12) and row.p_improve == 0.625
    assert row.effect_lo <= row.effect <= row.effect_hi and row.p_improve_lo <= 0.625 <= row.p_improve_hi
    pairs = compare.compare(
        runs_table(
            {"a": {("g", "exact"): [1e-3, 1e-2, 1e-4, 0.5]}, "b": {("g", "exact"): [1e-1, 1e-3, 1e-2, 0.5]}}
        )
    )
    back = pairs[pairs.rule == "b"].iloc[0]
    assert back.effect == pytest.approx(1.0, abs=1e-12) and back.p_improve == 0.375


def test_round_off_is_a_tie():
    """Gaps a few ulp apart, or both below the float64 floor, have log ratio exactly 0 and P = 1/2; medians a
    few ulp apart share a rank."""
    g = np.array([0.25, 1e-3, 3e-7, 1e-17])
    assert (
        compare.log_ratio(g, np.nextafter(np.nextafter(g, 1), 1) * [1, 1, 1, 0] + [0, 0, 0, 1e-18]).tolist()
        == [0.0] * 4
    )
    row = one_pair(g, g * (1 + 4 * np.finfo(float).eps))
    assert (row.effect, row.p_improve, row.p_value, row.verdict) == (0.0, 0.5, 1.0, "cannot tell")
    assert compare.tied_rank([1e-3, 1e-3 * (1 + 2**-50), 1e-1, 1e-5]).tolist() == [2.5, 2.5, 4.0, 1.0]


def test_a_diverged_run_is_the_worst_run_not_a_missing_one():
    """A NaN or inf gap (a run that diverged) counts as 1e300: worse than any finite gap, paired as usual."""
    row = one_pair([1e-3] * 5 + [np.nan], [1e-2] * 5 + [np.inf])
    assert row.runs == 6 and row.effect == -1.0 and row.p_improve == pytest.approx(5.5 / 6)
    assert one_pair([np.nan] * 6, [1.0] * 6).effect == 300.0


def test_wilcoxon_p_by_hand():
    """Five runs all better, no ties: the signed-rank statistic is 0, and of the 2^5 sign patterns only all-minus
    and all-plus are as extreme: p = 2/32 = 0.0625 (cannot tell, even five out of five); six runs: 2/64."""
    assert compare.wilcoxon_p([-1, -2, -3, -4, -5]) == pytest.approx(0.0625, rel=1e-12)
    assert compare.wilcoxon_p(-np.arange(1.0, 7.0)) == pytest.approx(0.03125, rel=1e-12)
    assert compare.wilcoxon_p([0.0, 0.0]) == 1.0


def test_holm_by_hand():
    """p = (0.01, 0.04, 0.03): sorted 0.01, 0.03, 0.04 times 3, 2, 1 = 0.03, 0.06, 0.04 -> running max 0.03, 0.06,
    0.06, back in the given order (0.03, 0.06, 0.06); a product over 1 is capped."""
    np.testing.assert_allclose(compare.holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06], rtol=1e-12)
    np.testing.assert_allclose(compare.holm([0.5, 0.2]), [0.5, 0.4], rtol=1e-12)
    np.testing.assert_allclose(compare.holm([0.6, 0.9, 0.01]), [1.0, 1.0, 0.03], rtol=1e-12)


def test_holm_runs_over_the_columns_of_a_pair():
    """Six runs, a 10x smaller gap in every run: p = 1/32 in each column. One column: better. Three columns:
    Holm makes each 3/32 = 0.094, and the pair is "cannot tell" in all three."""
    a, b = 10.0 ** -np.arange(1.0, 7.0), 10.0 ** -np.arange(0.0, 6.0)
    one = compare.compare(runs_table({"a": {("g", "exact"): a}, "b": {("g", "exact"): b}}))
    assert one.verdict.tolist() == ["better", "worse"] and one.p_holm.tolist() == [0.03125] * 2
    three = compare.compare(
        runs_table(
            {"a": {(f"g{k}", "exact"): a for k in range(3)}, "b": {(f"g{k}", "exact"): b for k in range(3)}}
        )
    )
    np.testing.assert_allclose(three.p_holm, 3 / 32, rtol=1e-12)
    assert set(three.verdict) == {"cannot tell"} and compare.undecided(three) == [
        "g0, exact",
        "g1, exact",
        "g2, exact",
    ]


def test_bootstrap_is_stratified_by_game():
    """Two games of eight runs: a is better on every run of game 0 and worse on every run of game 1, so P = 1/2.
    Resampling within each game keeps eight of each: every resample has P = 1/2 and median log ratio 0, so both
    intervals are points (unstratified, they would not be); a constant log ratio has a point interval too."""
    a = np.array([[1e-3] * 8, [1e-1] * 8])
    row = one_pair(a, np.full((2, 8), 1e-2))
    assert (row.p_improve, row.p_improve_lo, row.p_improve_hi) == (0.5, 0.5, 0.5)
    assert (row.effect, row.effect_lo, row.effect_hi) == (0.0, 0.0, 0.0)  # eight -1s, eight +1s: median 0
    row = one_pair(np.full(8, 1e-4), np.full(8, 1e-2))
    assert (row.effect, row.effect_lo, row.effect_hi) == (-2.0, -2.0, -2.0)


def _spread(rng, n=16):
    """Gaps of runs from different starts: spread over three decades."""
    return 10.0 ** rng.uniform(-6.0, -3.0, n)


def test_pairing_matters_shuffled_runs_cannot_tell():
    """a reaches 0.8 x b's gap in every run, while runs differ by three decades (their starts): paired, 16 of 16
    runs better, p < 1e-4 (sixteen equal differences: scipy's normal approximation, 6.3e-5), verdict better.
    Shuffle b's runs (break the pairing): the same two samples, and the
    comparison cannot tell. The paired analysis is what finds the effect."""
    rng = np.random.default_rng(0)
    b = _spread(rng)
    paired = one_pair(0.8 * b, b)
    assert paired.verdict == "better" and paired.p_improve == 1.0 and paired.p_value < 1e-4
    assert paired.effect == pytest.approx(np.log10(0.8))
    shuffled = one_pair(0.8 * b, rng.permutation(b))
    assert shuffled.verdict == "cannot tell" and shuffled.p_value > 0.05 and shuffled.p_improve_lo < 0.5


COLUMNS = [
    ("paper_cycle", "exact"),
    ("ensemble", "exact"),
    ("paper_cycle", "sampled:8"),
    ("ensemble", "noisy:0.1"),
]


def planted(seed=0) -> pd.DataFrame:
    """Baseline ``base``: runs spread over decades on exact feedback, at a noise floor of about 0.2 elsewhere
    (the ensemble: 4 games x 16 runs). ``twin``: base times 1 + 1e-6 x N(0, 1) (seeded). ``worse``: 1000 x base
    on exact feedback, a fresh draw of the same floor elsewhere."""
    rng = np.random.default_rng(seed)
    base, twin, worse = {}, {}, {}
    for game, fb in COLUMNS:
        shape = (4, 16) if game == "ensemble" else (16,)
        if fb == "exact":
            g = 10.0 ** rng.uniform(-9.0, -6.0, shape)
            w = 1e3 * g
        else:
            g, w = (0.2 * np.exp(0.3 * rng.standard_normal(shape)) for _ in range(2))
        base[(game, fb)], worse[(game, fb)] = g, w
        twin[(game, fb)] = g * (1 + 1e-6 * rng.standard_normal(shape))
    return runs_table({"base": base, "twin": twin, "worse": worse})


def test_planted_twin_ties_with_the_baseline():
    pairs = compare.compare(planted())
    twin = pairs[(pairs.rule == "twin") & (pairs.other == "base")]
    assert set(twin.verdict) == {"cannot tell"} and (twin.effect.abs() < 1e-6).all()
    for scope, board in leaderboard.rankings(pairs, ["base", "twin", "worse"]).items():
        first = board.rules.iloc[0].split(" = ")
        assert first[:2] == ["base", "twin"] and board["rank"].iloc[0] == 1, scope  # (+ worse at the floor)


def test_planted_worse_on_exact_ranks_below_and_is_reported_worse_there_only():
    pairs = compare.compare(planted())
    worse = pairs[(pairs.rule == "worse") & (pairs.other == "base")].set_index("column")
    exact = worse[worse.feedback == "exact"]
    assert set(exact.verdict) == {"worse"} and np.allclose(exact.effect, 3.0)
    assert (exact.p_improve == 0).all() and (exact.effect_lo == 3.0).all()
    assert set(worse[worse.feedback != "exact"].verdict) == {"cannot tell"}
    boards = leaderboard.rankings(pairs, ["worse", "base", "twin"])
    assert boards["all columns"].rules.tolist() == ["base = twin", "worse"]
    assert boards["all columns"]["rank"].tolist() == [1, 3]  # two rules share rank 1
    assert boards["exact feedback"].score.tolist() == [
        2,
        -4,
    ]  # base: +2 (two columns); worse: -2 x 2 opponents
    floor = boards["sampled and noisy feedback"]
    assert floor.rules.tolist() == ["worse = base = twin"] and floor.score.tolist() == [0]
    assert compare.undecided(pairs) == ["paper_cycle, sampled:8", "ensemble, noisy:0.1"]
    line = leaderboard.versus(pairs, "worse", "base")
    assert line == "worse in 2 (paper_cycle, exact x1e+03; ensemble, exact x1e+03), cannot tell in 2"


def test_ranking_by_hand():
    """Verdicts by hand in one column: a better than b and c; b and c not told apart. Scores a +2, b -1, c -1;
    b and c share rank 2 on one row."""
    rows = [("a", "b", "better"), ("a", "c", "better"), ("b", "c", "cannot tell")]
    flip = {"better": "worse", "worse": "better", "cannot tell": "cannot tell"}
    pairs = pd.DataFrame(
        [dict(rule=x, other=y, verdict=v, column="g") for x, y, v in rows]
        + [dict(rule=y, other=x, verdict=flip[v], column="g") for x, y, v in rows]
    )
    board = compare.ranking(pairs, ["c", "b", "a"])
    assert board.values.tolist() == [[1, "a", 2, 0, 2], [2, "c = b", 0, 1, -1]]


def test_leaderboard_says_where_better_and_worse_with_factors():
    from experiments import suite

    runs = planted()
    runs["budget_unit"] = "oracle_calls"
    runs["win_rate"] = np.nan
    runs["cost_to_0.01"] = runs["cost_to_0.0001"] = np.nan
    pairs = compare.compare(runs)
    board = leaderboard.leaderboard(suite.summarize(runs), pairs, ["base", "twin", "worse"], focus="worse")
    assert (
        "- **worse**: vs base: worse in 2 (paper_cycle, exact x1e+03; ensemble, exact x1e+03), cannot tell in 2; "
        "vs twin: worse in 2" in board
    )
    assert "| 1    | base = twin | 2      | 0     | 2     |" in board
    assert "## Columns that decide nothing: 2 of 4" in board
    assert "| base    | paper_cycle, exact     | x1e+03 [x1e+03, x1e+03] | 0.00 [0.00, 0.00] " in board
