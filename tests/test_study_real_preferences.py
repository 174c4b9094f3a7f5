"""experiments.real_preferences: its one-line CLI errors (in-process), the --boot size check, a failing bootstrap
resample, a user rule on a user game next to the LLMFAO analysis, the full --quick outputs with their equilibrium
sets (slow) and one ``-m`` smoke run (slow)."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from experiments.real_preferences import MISSING, main

TINY = ["--quick", "--quiet", "--boot", "2", "--steps", "20", "--jobs", "1"]


def test_missing_choices_are_the_library_s():
    import games

    assert MISSING == games.comparisons.MISSING


@pytest.mark.parametrize(
    "args, message",
    [
        (["--missing", "zero"], "invalid choice: 'zero'"),
        (["--boot", "1"], "--boot must be an integer >= 2, got '1'"),
        (["--boot", "2.5"], "--boot must be an integer >= 2, got '2.5'"),
        (["--boot", "1e9"], "--boot: 1000000000 resamples of"),  # the memory estimate, before any work
        (["--boot", "123456789012"], "more than this machine's"),
        (["--feedback", "noisy:-1"], "got 'noisy:-1'"),
        (["--x", "comparisons", "--feedback", "exact"], "exact feedback counts no comparisons"),
        (["--hp", "foo=1"], "--hp foo: no rule run declares 'foo'"),
        (["--rules", "mwu", "--hp", "eta=0"], "mwu: hyperparameter eta must lie in (0, inf)"),
        (["--steps", "45"], "multiple of --record-every"),
        (["--seeds", "3"], "--seeds: one run per rule and feedback"),
        (["--schedules", "x:y"], "--schedules: the rules run at constant step sizes"),
        (["--tau", "0.2"], "unrecognized arguments: --tau"),
    ],
)
def test_cli_errors_are_one_line_before_any_work(args, message, tmp_path, capsys):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exc:
        main([*TINY, "--out", str(out), *args])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err, err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


@pytest.mark.slow  # the whole LLMFAO analysis: ~10 s CPU, 21 s wall on a busy 2-core machine
def test_takes_a_user_rule_and_a_user_game(tmp_path, monkeypatch):
    (tmp_path / "mine.py").write_text(
        "import algorithms, games\n"
        "rule = algorithms.get('inpo')\n"
        "def game():\n"
        "    return games.library.condorcet_cycle(n=4, p=0.7)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "u"
    args = ["--rules", "mine:rule", "--games", "mine:game", "--feedback", "noisy:0.1", "--x", "oracle_calls"]
    args = [*TINY, *args, "--hp", "inpo.eta=0.3", "--out", str(out)]
    assert main(args) == 0
    rules = pd.read_csv(out / "rules.csv")
    assert list(rules.game) == ["mine:game"] * 2 and set(rules.feedback) == {"exact", "noisy:0.1"}
    assert (rules.oracle_calls == 20).all()
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["hyperparameters"]["inpo"]["eta"] == 0.3 and meta["feedback"] == "noisy:0.1"
    assert meta["rules"] == [{"name": "inpo", "source": "mine:rule"}]
    assert meta["command"] == " ".join(["python -m experiments real_preferences", *args])  # what reruns it


@pytest.mark.slow  # the crowd's two bootstraps run first: ~10 s
def test_a_bootstrap_resample_that_cannot_be_built_is_one_line(tmp_path, capsys):
    """--missing bradley_terry on GPT-4's resamples: one judgment per pair, so a resample can leave a model
    that never loses (no Bradley-Terry fit); the error names the resample, exit 2, no folder."""
    out = tmp_path / "bt"
    with pytest.raises(SystemExit) as exc:
        main([*TINY, "--missing", "bradley_terry", "--rules", "mwu", "--out", str(out)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "bootstrap resample" in err and "of 2 (seed=0)" in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err and not out.exists()


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """The --quick run, as a module (``python -m``): several tests read its folder."""
    out = tmp_path_factory.mktemp("rp") / "r"
    cmd = [sys.executable, "-m", "experiments.real_preferences", "--quick", "--quiet", "--jobs", "1"]
    cmd += ["--out", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=600)
    return out


@pytest.mark.slow
def test_quick_outputs(quick):
    out = quick
    for name in ["equilibria", "summary", "transfer", "missing", "prompts", "rules", "trace"]:
        assert (out / f"{name}.csv").stat().st_size > 0, name
    for name in ["equilibria.png", "equilibria.pdf", "rules.png", "metadata.json"]:
        assert (out / name).stat().st_size > 0, name
    eq = pd.read_csv(out / "equilibria.csv")
    assert len(eq) == 3 * 2 * 59
    np.testing.assert_allclose(eq.groupby(["judge", "kind"])["max_entropy"].sum(), 1.0, atol=1e-9)
    assert (eq.lo <= eq.hi).all()  # 2.5 % of the resampled least masses, 97.5 % of the greatest
    assert ((eq.mass_min <= eq.max_entropy + 1e-9) & (eq.max_entropy <= eq.mass_max + 1e-9)).all()
    assert (eq.in_every <= eq.in_some).all() and eq.in_some_probability.between(0, 1).all()
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.judge) == ["crowd", "crowd", "gpt3", "gpt3", "gpt4", "gpt4"]
    assert summary.bt_leader_worst_win_rate.between(0, 1).all()
    trace = pd.read_csv(out / "trace.csv")
    assert set(trace.feedback) == {"exact", "sampled:64"} and set(trace.rule) == {"inpo", "comal(inpo,100)"}
    assert set(trace.game) == {"llmfao:judge=crowd,missing=tie"}
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["bootstrap"]["resamples"] == 10 and meta["game"]["name"] == "llmfao"


@pytest.mark.slow
def test_the_equilibrium_sets_as_the_audit_found_them(quick):
    """Issue 33's audit (an independent computation): only GPT-3.5's margins game has a unique equilibrium, GPT-4's
    has at least three pure ones; the crowd's rates game has 31 models in some equilibrium, none in every one,
    GPT 4 up to mass 0.17; over that set the worst-case win rate in GPT-3.5's and GPT-4's games ranges 0.00-0.40
    and 0.00-0.13."""
    s = pd.read_csv(quick / "summary.csv").set_index(["judge", "kind"])
    assert s.unique.to_dict() == {k: k == ("gpt3", "margins") for k in s.index}
    assert (s.loc[("crowd", "rates"), ["in_every", "in_some"]] == [0, 31]).all()
    assert s.loc[("gpt3", "margins"), "in_every"] == s.loc[("gpt3", "margins"), "in_some"]
    eq = pd.read_csv(quick / "equilibria.csv").set_index(["judge", "kind", "model"]).sort_index()
    assert eq.loc[("crowd", "rates", "GPT 4"), "mass_max"] == pytest.approx(0.17, abs=0.005)
    assert (eq.loc[("gpt4", "rates"), "mass_max"] > 1 - 1e-9).sum() >= 3  # at least three pure equilibria
    t = pd.read_csv(quick / "transfer.csv").set_index(["kind", "nash_of", "scored_in"])
    for judge, high in (("gpt3", 0.40), ("gpt4", 0.13)):
        lo, hi = t.loc[("rates", "crowd", judge), ["worst_case_win_rate_min", "worst_case_win_rate_max"]]
        assert lo == pytest.approx(0.0, abs=0.005) and hi == pytest.approx(high, abs=0.005)
    same = t.reset_index().query("nash_of == scored_in and kind == 'rates'")
    np.testing.assert_allclose(same[["worst_case_win_rate_min", "worst_case_win_rate_max"]], 0.5, atol=1e-9)


@pytest.mark.slow
def test_runs_as_a_module(quick):
    assert (quick / "rules.csv").exists() and (quick / "rules.png").exists()
