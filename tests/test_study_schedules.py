"""experiments.schedules on the study shell: its pieces against hand-computed values, its one-line CLI errors
before any work (in-process), a tiny run with your own rule, game and schedule, the two until rows (oracle and
estimated), the wrap rules for your COMAL variants, and one ``-m`` smoke run (slow)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments import schedules as study
from experiments.common import study as study_shell

ROOT = Path(__file__).parent.parent
USER = """
import functools

import algorithms
import games
import jax.numpy as jnp
from algorithms import schedules


@functools.cache  # one rule object: jit keys on identity
def rule():
    return algorithms.nash_mp()._replace(name="users_nash_mp")  # regularized: the study re-centres it


own = algorithms.comal(algorithms.inpo(), 50)  # a COMAL variant: its own rounds, never wrapped again
exact = algorithms.comal_exact()


def game():
    return games.condorcet_cycle(3, 0.8)


schedule = schedules.growth(8, power=0.5, cap=16)


def halves(t):
    return 8.5 + 0.0 * t  # not a whole number of judged pairs


def fours(t):
    return jnp.full(jnp.shape(t), 6.0)  # whole, but not a multiple of 4 prompts
"""


@pytest.fixture
def users(tmp_path, monkeypatch):
    (tmp_path / "users_work.py").write_text(USER)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


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
    assert [int(study.schedule("polynomial")(t)) for t in range(3)] == [16, 26, 36]


def test_a_user_schedule_is_whole_numbers_or_refused(users):
    assert list(study.k_values("users_work:schedule", 4)) == [8, 11, 13, 16]  # floor(8 sqrt(t + 1)), cap 16
    assert study.steps_for("users_work:schedule", 1.0, 8 + 11 + 13, 1000) == 100
    with pytest.raises(
        ValueError, match=r"whole number >= 1 at every step, got K_0 = 8.5; a float is refused"
    ):
        study.k_values("users_work:halves", 10)
    with pytest.raises(ValueError, match="a multiple of 4"):
        study.k_values("users_work:fours", 10, prompts=4)


def _config(**kw):
    base = dict(quick=True, rules=tuple(study.RULES), games=("paper",), policies=study.POLICIES)
    return study.Config(**{**base, "schedules": tuple(study.SCHEDULES), **kw})


def test_units_cover_the_design():
    got = {k[1:] for k, _ in study.units(_config())}
    assert ("comal(inpo)", "loglinear", study.ORACLE) in got and ("nash_prox", "tabular", "polynomial") in got
    assert ("nash_prox", "tabular", study.ESTIMATED) in got  # dueled gradients: the test can pay
    assert ("comal(inpo)", "tabular", study.ESTIMATED) not in got  # a loss-based rule judges its own pairs
    assert not any(
        r in ("inpo", "egpo", "omwu") and (s.startswith("until") or s == "polynomial") for r, _, s in got
    )
    assert not any(r in ("nash_prox", "m2wu", "omwu") and p == "loglinear" for r, p, _ in got)
    assert not any(r == "m2wu" and s.startswith("until") for r, _, s in got)  # no KL weight: no until
    # comal(inpo) x 2 policies x 6, inpo/egpo x 2 policies x 4, nash_prox 7, m2wu 5, omwu 4
    assert len(got) == 2 * 6 + 2 * 2 * 4 + 7 + 5 + 4


def test_every_configuration_builds_with_its_hyperparameters():
    """Each unit's rule declares every hyperparameter the study gives it (OMWU has no tau, M2WU's is mu)."""
    import games
    from algorithms import base, policies

    game, c = games.comal_cycle(), _config(policies=("tabular",))
    for (_, r, _, s), _ in study.units(c):
        rule = study.build_rule(r, s, policies.tabular(game))
        hp = study.hparams(c, r, rule, s, 1)
        assert set(hp) <= {h.name for h in base.under(rule, study.feedback(64)).hparams}, (r, s, set(hp))
        assert ("tau" in hp) == (r not in ("omwu", "m2wu")) and ("mu" in hp) == (r == "m2wu")
        base.check_hparams(
            rule, {k: v for k, v in hp.items() if not callable(v) and k != "samples"}, joint=False
        )
        assert (",estimate" in rule.name) == (s == study.ESTIMATED), rule.name  # only that row pays for it


def test_a_user_rule_is_wrapped_only_where_the_label_says_so(users):
    """A user's COMAL variant (its own outer rounds) is not wrapped in a second COMAL, whose hard reset would
    override its re-centring; a plain regularized rule is, and says so; --no-wrap turns that off."""
    import algorithms

    own = study.study.load_rule("users_work:own")
    assert study.label("users_work:own") == "users_work:own"
    assert study.build_rule("users_work:own", "K=16", None) is own  # it learns from the feedback as it is
    rule = study.study.load_rule("users_work:rule")
    assert study.label("users_work:rule") == "comal(users_work:rule)"
    assert study.build_rule("users_work:rule", "K=16", None) is algorithms.comal(rule, study.EVERY)
    assert study.label("users_work:rule", no_wrap=True) == "users_work:rule"
    assert study.build_rule("users_work:rule", "K=16", None, no_wrap=True) is rule
    got = {k[3] for k, _ in study.units(_config(rules=("users_work:own",)))}
    assert (
        not any(s.startswith("until") for s in got) and "K=16" in got
    )  # until re-centres with the study's COMAL


def test_hp_reaches_a_wrapped_user_rule_by_its_own_name_its_text_or_its_label(users):
    rule = study.build_rule("users_work:rule", "K=16", None)  # comal(users_nash_mp, ...)
    for scope in ("users_nash_mp", "users_work:rule", rule.name):
        c = _config(rules=("users_work:rule",), hp=((scope, "eta", 0.37),))
        assert study.prepare(c) is not None
        assert study.hparams(c, "users_work:rule", rule, "K=16", 1)["eta"] == 0.37, scope


@pytest.mark.parametrize(
    "args, message",
    [
        (["--schedules", "K=7"], "--schedules: unknown 'K=7'"),
        (["--schedules", "users_work:nope"], "--schedules 'users_work:nope': cannot import it"),
        (["--schedules", "users_work:halves"], "got K_0 = 8.5; a float is refused, not rounded"),
        (["--games", "contextual", "--schedules", "users_work:fours"], "a multiple of 4"),
        (["--rules", "nope"], "nope"),
        (["--rules", ","], "--rules names no rule"),  # issue 33: as in the other studies
        (["--seeds", "1000000000"], "--seeds must be <= 100000"),  # issue 33: before any work
        (["--budget", "-1"], "--budget"),
        (["--max-steps", "50"], "--max-steps (50) must be at least 100"),
        (["--max-steps", "x"], "--max-steps"),
        (["--max-steps", "1000000000"], "--max-steps 1000000000 is above the cap of 100,000,000 per run"),
        (["--rules", "omwu", "--policies", "loglinear"], "select no configuration"),
        (["--policies", "tree"], "--policies: unknown 'tree'"),
        (["--rules", "algorithms:iterative_dpo"], "cannot learn from duels"),
        (["--rules", "users_work:exact"], "cannot learn from duels"),
        (["--hp", "samples=4"], "--hp samples: fixed by the design"),
        (["--hp", "until=0.1"], "--hp until: fixed by the design"),
        (["--hp", "eta=0"], "eta must lie in (0, inf), got 0"),
        (["--hp", "mu=0.1"], "--hp mu: no rule run declares 'mu'"),
        (["--hp", "omwu.eta=0.1"], "--hp omwu.eta: no rule 'omwu' among the rules run"),
        (["--feedback", "sampled:4"], "--feedback: every rule observes sampled(K_max, counts=True)"),
        (["--steps", "100"], "--steps: each run lasts until it has judged --budget"),
        (["--x", "steps"], "--x: the cost axis is comparisons judged"),
        (["--dtype", "float32"], "float64 only"),
    ],
)
def test_cli_errors_are_one_line_before_any_work(args, message, users, capsys):
    out = users / "out"
    with pytest.raises(SystemExit) as exc:
        study.main(["--quick", "--out", str(out), *args])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err, err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


@pytest.mark.slow  # by default tests/test_studies.py runs this study with a user rule, game, schedule
def test_a_user_rule_game_and_schedule_with_both_until_rows(users, capsys):
    out = users / "o"
    args = ["--quick", "--quiet", "--no-compile-cache", "--jobs", "1", "--seeds", "2", "--out", str(out)]
    args += [
        "--rules",
        "users_work:rule",
        "--games",
        "users_work:game",
        "--budget",
        "3000",
        "--max-steps",
        "100",
    ]
    assert study.main([*args, "--schedules", "until,users_work:schedule", "--hp", "eta=0.3"]) == 0
    printed = capsys.readouterr().out
    df = pd.read_csv(out / "trace.csv")
    assert set(df["rule"]) == {"comal(users_work:rule)"}  # the label says how the study wraps it
    assert set(df["game"]) == {"users_work:game"} and set(df["eta"]) == {0.3}
    assert list(dict.fromkeys(df["schedule"])) == [study.ORACLE, study.ESTIMATED, "users_work:schedule"]
    gap = df[df["metric"] == "gap"]
    assert np.isfinite(gap["value"]).all()
    last = gap[gap["step"] == 100].groupby("schedule")["comparisons"].unique()
    # nash_mp: 2 gradients x 3 actions x K_t duels per step; until runs the geometric K_t, and its estimated
    # test asks a third gradient, the oracle's test none
    judged = study.k_values("geometric", 100).sum()
    assert list(last[study.ORACLE]) == [2 * 3 * judged] and list(last[study.ESTIMATED]) == [3 * 3 * judged]
    assert list(last["users_work:schedule"]) == [2 * 3 * study.k_values("users_work:schedule", 100).sum()]
    assert set(gap[gap["schedule"] == "users_work:schedule"]["K"]) <= {8, 11, 13, 14, 15, 16}
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["schedule"]) == list(dict.fromkeys(df["schedule"]))
    assert "oracle-assisted, not comparable on cost" in printed
    ranked = printed[: printed.index("oracle-assisted")]  # the table ranked on cost: every row paid
    assert study.ORACLE not in ranked and study.ESTIMATED in ranked
    assert printed.index(study.ESTIMATED) < printed.index("oracle-assisted") < printed.rindex(study.ORACLE)
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["test_judges_comparisons"] == {study.ORACLE: False, study.ESTIMATED: True}
    assert meta["schedules"]["users_work:schedule"][0] == {"source": "users_work:schedule"}
    assert (out / "schedules.png").stat().st_size > 0


def test_too_many_seeds_for_memory_is_one_line_before_any_work(monkeypatch, tmp_path, capsys):
    """Issue 33: prepare estimates every unit's sweep (seeds x records, the rule's data per step) against the
    machine's memory, so a request that cannot fit is refused in one line before anything runs."""
    from algorithms import memory

    monkeypatch.setattr(
        memory, "machine_memory", lambda: 2**26
    )  # 64 MiB: 10^5 seeds x 101 records do not fit
    out = tmp_path / "o"
    with pytest.raises(SystemExit) as exc:
        study.main(["--quick", "--rules", "inpo", "--seeds", "100000", "--out", str(out)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and len(err.strip().splitlines()) == 1 and not out.exists()
    assert "sweep: 100000 runs x 101 records needs about" in err and "this machine's 64.0 MiB" in err, err


@pytest.mark.slow
def test_dash_m_runs(tmp_path):
    args = [
        "--quick",
        "--quiet",
        "--rules",
        "inpo",
        "--schedules",
        "K=16",
        "--budget",
        "1600",
        "--seeds",
        "2",
        "--jobs",
        "1",
    ]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.schedules",
            *args,
            "--max-steps",
            "100",
            "--out",
            str(tmp_path / "m"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "m" / "summary.csv").exists() and "slope" in proc.stdout


def test_the_default_schedule_list_parses_item_by_item():
    """``K=16,K=256,...`` are separate items (a comma before ``k=`` joins only an item with options, ``name:k=v``):
    the full study's default list was once read as one unknown item."""
    config, _ = study_shell.parse_config(study.STUDY_DECL, [])
    assert config.schedules == tuple(study.SCHEDULES)
    config, _ = study_shell.parse_config(study.STUDY_DECL, ["--schedules", "K=16,K=256"])
    assert config.schedules == ("K=16", "K=256")
