"""experiments.tau_bias: its CLI contract (one-line errors before any work, in-process), a tiny run that takes
the shared flags and a user's rule and game, and one ``-m`` smoke run (slow)."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from experiments import tau_bias

ROOT = Path(__file__).parent.parent
TINY = ["--quick", "--quiet", "--steps", "50"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--feedback", "sampled:x"], "got 'sampled:x'"),
        (["--x", "comparisons", "--feedback", "noisy:0.1"], "noisy(0.1) feedback counts no comparisons"),
        (["--hp", "tau=0.3"], "--hp tau: tau is this study's grid axis (tau)"),
        (["--rules", "inpo", "--hp", "eta=-1"], "inpo: hyperparameter eta must lie in (0, inf), got -1"),
        (["--rules", "mwu"], "rule mwu has no tau grid"),
        (["--rules", "nope"], "nope"),
        (["--games", "no_such_game"], "unknown game 'no_such_game'"),
        (["--seeds", "3"], "--seeds: one run per tau from --seed"),
        (["--schedules", "m:s"], "--schedules: the rules run at constant step sizes"),
        (["--eta", "0.3"], "unrecognized arguments: --eta 0.3"),
    ],
)
def test_cli_errors_are_one_line_before_any_work(args, message, tmp_path, capsys):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_:
        tau_bias.main([*TINY, "--out", str(out), *args])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err, err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


@pytest.mark.slow  # by default tests/test_studies.py runs this study with a user rule and game
def test_takes_feedback_x_hp_and_a_user_rule_and_game(tmp_path, monkeypatch, capsys):
    """The flags reach the runs (8 duels per action per step, the cost in --x units, eta from --hp), and a
    user's rule and game given as module:attribute run like the library's."""
    (tmp_path / "my_work.py").write_text(
        "import algorithms\nimport games\n"
        "my_rule = algorithms.get('mmd')._replace(name='my_mmd')\n"
        "def my_game():\n    return games.library.comal_cycle()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "o"
    args = ["--rules", "inpo,my_work:my_rule", "--games", "my_work:my_game", "--feedback", "sampled:8"]
    args += ["--x", "comparisons", "--hp", "eta=0.3", "--out", str(out)]
    assert tau_bias.main([*TINY, *args]) == 0
    printed = capsys.readouterr().out
    assert "| inpo: pairwise comparisons |" in printed and "| 1200 " in printed  # 50 steps x 8 x 3 actions
    df = pd.read_csv(out / "trace.csv")
    assert set(df.rule) == {"inpo", "my_mmd", "regularized_equilibrium"} and set(df.game) == {
        "my_work:my_game"
    }
    assert set(df.loc[df.rule != "regularized_equilibrium", "eta"]) == {0.3}
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.columns[:4]) == ["tau", "regularized eq. gap", "inpo", "my_mmd"] and len(summary) == 4
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["hp"] == ["eta=0.3"] and len(meta["hyperparameters"]["tau"]) == 4
    assert (out / "tau_bias.png").stat().st_size > 0


@pytest.mark.slow
def test_quick_run_as_a_module(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.tau_bias", "--quick", "--quiet", "--out", str(tmp_path / "q")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    summary = pd.read_csv(tmp_path / "q" / "summary.csv").set_index("tau")
    assert summary["comal(inpo,100)"].iloc[0] < 1e-10  # COMAL escapes the bias at tau 0.03
    assert summary["inpo"].iloc[0] == pytest.approx(summary["regularized eq. gap"].iloc[0], rel=1e-4)
