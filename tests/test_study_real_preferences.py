"""experiments.real_preferences: its one-line CLI errors (in-process), a user rule on a user game next to the
LLMFAO analysis, the full --quick outputs (slow) and one ``-m`` smoke run (slow)."""

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
        (["--boot", "1"], "--boot must be >= 2"),
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
    assert main([*TINY, *args, "--hp", "inpo.eta=0.3", "--out", str(out)]) == 0
    rules = pd.read_csv(out / "rules.csv")
    assert list(rules.game) == ["mine:game"] * 2 and set(rules.feedback) == {"exact", "noisy:0.1"}
    assert (rules.oracle_calls == 20).all()
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["hyperparameters"]["per_rule"]["inpo"]["eta"] == 0.3 and meta["feedback"] == "noisy:0.1"
    assert meta["rules"] == [{"name": "inpo", "source": "mine:rule"}]


@pytest.mark.slow
def test_quick_outputs(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["--quick", "--quiet", "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    for name in ["equilibria", "summary", "transfer", "missing", "prompts", "rules", "trace"]:
        assert (out / f"{name}.csv").stat().st_size > 0, name
    for name in ["equilibria.png", "equilibria.pdf", "judges.png", "rules.png", "metadata.json"]:
        assert (out / name).stat().st_size > 0, name
    assert "| judge | game    | support" in stdout and "judge transfer" in stdout
    eq = pd.read_csv(out / "equilibria.csv")
    assert len(eq) == 3 * 2 * 59
    np.testing.assert_allclose(eq.groupby(["judge", "kind"])["mass"].sum(), 1.0, atol=1e-9)
    assert ((eq.lo <= eq.hi) & (eq.support_probability.between(0, 1))).all()
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.judge) == ["crowd", "crowd", "gpt3", "gpt3", "gpt4", "gpt4"]
    assert summary.bt_leader_worst_win_rate.between(0, 1).all()
    transfer = pd.read_csv(out / "transfer.csv")
    np.testing.assert_allclose(
        transfer[transfer.nash_of == transfer.scored_in].worst_case_win_rate, 0.5, atol=1e-9
    )
    trace = pd.read_csv(out / "trace.csv")
    assert set(trace.feedback) == {"exact", "sampled:64"} and set(trace.rule) == {"inpo", "comal(inpo,100)"}
    assert set(trace.game) == {"llmfao:judge=crowd,missing=tie"}
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["bootstrap"]["resamples"] == 10 and meta["game"]["name"] == "llmfao"


@pytest.mark.slow
def test_runs_as_a_module(tmp_path):
    out = tmp_path / "m"
    cmd = [sys.executable, "-m", "experiments.real_preferences", *TINY, "--rules", "mwu", "--out", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=600)
    assert (out / "rules.csv").exists() and (out / "rules.png").exists()
