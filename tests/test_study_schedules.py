"""experiments.schedules: its pieces against hand-computed values, and one tiny run of the CLI (a user rule
included) with its outputs and its one-line errors."""

import json

import numpy as np
import pandas as pd
import pytest

from experiments import schedules as study
from tests.test_experiments import assert_cli_error, run_cli


def test_slope_of_known_power_laws():
    c = np.logspace(2, 6, 41)
    assert study.slope(c, 3.0 * c**-0.5) == pytest.approx(-0.5, abs=1e-12)
    assert study.slope(c, np.full_like(c, 0.02)) == pytest.approx(0.0, abs=1e-12)
    # only the last decade counts: a plateau after a fall reads as a plateau
    g = np.where(c < 1e5, c**-1.0, 1e-5)
    assert study.slope(c, g) == pytest.approx(0.0, abs=1e-12)


def test_steps_for_the_budget():
    # K = 16 fixed, one comparison per pair: 1600 comparisons take 100 iterations, 1601 take 101 -> 200
    assert study.steps_for("K=16", 1.0, 1600, 10_000) == 100
    assert study.steps_for("K=16", 1.0, 1601, 10_000) == 200
    # duels with 2 gradients x 3 actions per iteration: 6 * 16 = 96 comparisons per iteration
    assert study.steps_for("K=16", 6.0, 96 * 250, 10_000) == 300
    # the cap on iterations wins
    assert study.steps_for("K=16", 1.0, 1e9, 500) == 500
    # polynomial 16 (t + 1)^0.75, floored: cumulated by hand for t = 0, 1, 2: 16 + 26 + 36 = 78
    k = [int(study.schedule("polynomial")(t)) for t in range(3)]
    assert k == [16, 26, 36]


def test_units_cover_the_design():
    u = study.units(tuple(study.RULES), study.POLICIES, ("paper",), {})
    got = {(x.rule, x.policy, x.schedule) for x in u}
    assert ("comal(inpo)", "loglinear", "until") in got and ("nash_prox", "tabular", "polynomial") in got
    assert not any(x.rule in ("inpo", "egpo", "omwu") and x.schedule in ("until", "polynomial") for x in u)
    assert not any(x.rule in ("nash_prox", "m2wu", "omwu") and x.policy == "loglinear" for x in u)
    assert (
        len(u) == 2 * 6 + 2 * 2 * 4 + 6 + 5 + 4
    )  # comal(inpo) x 2 policies, inpo/egpo, nash_prox, m2wu, omwu
    assert not any(x.rule == "m2wu" and x.schedule == "until" for x in u)  # no KL weight: no until


def test_every_configuration_builds_with_its_hyperparameters():
    """Each unit's rule declares every hyperparameter the study gives it (OMWU has no tau, M2WU's is mu)."""
    import algorithms
    import games
    from algorithms import base, policies

    game = games.comal_cycle()
    for u in study.units(tuple(study.RULES), ("tabular",), ("paper",), {}):
        policy = policies.tabular(game) if study.RULES[u.rule][0] == "loss" else None
        rule = study.build_rule(u, policy, 64)
        hp = study.hparams(u, rule, 1)
        assert set(hp) <= {h.name for h in rule.hparams}, (u, set(hp))
        assert ("tau" in hp) == (u.rule not in ("omwu", "m2wu")) and ("mu" in hp) == (u.rule == "m2wu")
        base.check_hparams(rule, {k: v for k, v in hp.items() if not callable(v)}, joint=False)
    assert algorithms.get("omwu").tau is None


USER = """
import algorithms
my_rule = algorithms.nash_mp()   # regularized: the study also re-centres it
"""


@pytest.mark.slow
def test_tiny_run_with_a_user_rule(tmp_path):
    (tmp_path / "my_rules.py").write_text(USER)
    out = tmp_path / "res"
    args = ["--rules", "comal(inpo),m2wu,my_rules:my_rule", "--schedules", "K=16,until", "--seeds", "2"]
    args += ["--games", "paper", "--policies", "tabular", "--budget", "4000", "--max-steps", "300"]
    args += ["--out", str(out), "--quiet"]
    proc = run_cli("experiments.schedules", *args, cwd=tmp_path, extra_path=tmp_path)
    df = pd.read_csv(out / "trace.csv")
    assert set(df["rule"]) == {"comal(inpo)", "m2wu", "comal(duels(my_rules:my_rule))"}  # the label says
    assert set(df["schedule"]) == {"K=16", "until"}
    gap = df[df["metric"] == "gap"]
    assert np.isfinite(gap["value"]).all() and gap["comparisons"].max() >= 4000
    # K = 16 judged per iteration (comal(inpo): pairs; duels: per action per gradient)
    k16 = gap[(gap["schedule"] == "K=16") & (gap["rule"] == "comal(inpo)")]
    assert set(k16["K"]) == {16}
    last = k16[k16["step"] == k16["step"].max()]
    assert set(last["comparisons"]) == {16 * last["step"].iloc[0]}
    m2 = gap[(gap["schedule"] == "K=16") & (gap["rule"] == "m2wu")]
    m2_last = m2[m2["step"] == m2["step"].max()]
    assert set(m2_last["comparisons"]) == {3 * 16 * m2_last["step"].iloc[0]}  # one gradient x 3 actions
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["seeds"] == 2 and "total" in meta["wall_time_s"]
    assert (out / "schedules.png").stat().st_size > 0
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 2 + 1 + 2  # comal(inpo) and the user's nash_mp: both schedules; m2wu: no until
    assert "slope" in proc.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--schedules", "K=7"], "--schedules: unknown 'K=7'"),
        (["--rules", "nope"], "--rules: unknown 'nope'"),
        (["--budget", "-1"], "--budget"),
        (["--max-steps", "50"], "--max-steps (50) must be at least 100"),
        (["--rules", "omwu", "--policies", "loglinear"], "select no configuration"),
        (["--rules", "algorithms:iterative_dpo"], "cannot learn from duels"),
    ],
)
def test_cli_errors_are_one_line(args, message, tmp_path):
    out = tmp_path / "res"
    proc = run_cli("experiments.schedules", *args, "--out", str(out), check=False, cwd=tmp_path)
    assert_cli_error(proc, message, out, tmp_path)


def test_bootstrap_median_with_levels_never_reached():
    from experiments.common import tables

    rng = np.random.default_rng(0)
    assert tables.bootstrap_median([np.inf] * 16, rng) == (np.inf, np.inf, np.inf)
    med, lo, hi = tables.bootstrap_median(
        [2.0] * 15 + [np.inf], rng
    )  # one seed never: a resample median is 2
    assert (med, lo, hi) == (2.0, 2.0, 2.0)
    med, lo, hi = tables.bootstrap_median([1.0] * 4 + [np.inf] * 12, rng)
    assert med == np.inf and hi == np.inf and not np.isnan(lo)


def test_a_user_rule_is_wrapped_only_where_the_label_says_so():
    """A user's COMAL variant (its own outer rounds) is not wrapped in a second COMAL, whose hard reset would
    override its re-centring; a plain regularized rule is, and says so; --no-wrap turns that off."""
    import algorithms

    own = algorithms.comal(algorithms.inpo(), 50)  # a COMAL-style wrapper: declares its own rounds
    plain = algorithms.nash_mp()
    unit = study.Unit("paper", "my_rules:r", "tabular", "K=16")
    assert study.label("my_rules:r", own) == "duels(my_rules:r)"
    assert study.build_rule(unit, None, 16, own).name == algorithms.duels(own, 16, counts=True).name
    assert study.label("my_rules:r", plain) == "comal(duels(my_rules:r))"
    assert study.build_rule(unit, None, 16, plain).name.startswith("comal(duels(")
    assert study.label("my_rules:r", plain, no_wrap=True) == "duels(my_rules:r)"
    assert study.build_rule(unit, None, 16, plain, no_wrap=True).name.startswith("duels(")
    got = {
        (u.rule, u.schedule)
        for u in study.units(("my_rules:r",), ("tabular",), ("paper",), {"my_rules:r": own})
    }
    assert ("my_rules:r", "until") not in got  # until re-centres with the study's COMAL: not for its own
    assert ("my_rules:r", "K=16") in got
