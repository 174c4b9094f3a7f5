"""The sampled study on the study shell: its one-line CLI errors before any work (in-process), your own rule
and game (closed form only, tabular), and the full --quick design (slow)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments import sampled

ROOT = Path(__file__).parent.parent
USER = """
import functools

import algorithms
import games


@functools.cache
def rule():
    return algorithms.get("inpo")._replace(name="users_inpo")


def game():
    return games.condorcet_cycle(3, 0.8)
"""


@pytest.mark.parametrize(
    "args, message",
    [
        (["--feedback", "exactly"], "got 'exactly'"),
        (["--x", "pages"], "invalid choice: 'pages'"),
        (["--hp", "pairs=4"], "--hp pairs: pairs is this study's grid axis (--pairs)"),
        (["--rules", "sppo", "--hp", "sppo.tau=0.1"], "--hp tau: rule sppo declares no 'tau'"),
        (["--rules", "inpo", "--hp", "eta=0"], "hyperparameter eta must lie in (0, inf), got 0"),
        (["--rules", "inpo", "--hp", "mu=0.1"], "--hp mu: no rule run declares 'mu'"),
        (["--rules", "inpo,dpo"], "valid rules:"),
        (["--policies", "tree"], "--policies: unknown 'tree'"),
        (["--pairs", "0,16"], "--pairs must be >= 1, got '0'"),
        (["--pairs", "a"], "--pairs must be an integer, got 'a'"),
        (["--pairs", ","], "--pairs must name at least one K >= 1"),
        (["--steps", "150"], "must be a multiple of 100"),
        (["--comal-every", "500"], "must be below --steps"),
        (["--games", "contextual", "--pairs", "6"], "not a multiple of --prompts-per-iteration"),
        (["--dtype", "float32"], "float64 only"),
        (["--schedules", "x:y"], "--schedules: every rule runs at constant hyperparameters"),
        (["--rules", "comal_exact", "--feedback", "sampled:4"], "exact feedback only"),
    ],
)
def test_cli_errors_are_one_line_before_any_work(args, message, tmp_path, capsys):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exc:
        sampled.main(["--quick", "--out", str(out), *args])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err, err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


@pytest.mark.slow  # 30 s: the SPPO comparison minimises 2000 optimizer steps
def test_a_user_rule_and_game_run_as_closed_form_and_tabular(tmp_path, monkeypatch, capsys):
    (tmp_path / "users_work.py").write_text(USER)
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "o"
    args = ["--quick", "--quiet", "--jobs", "1", "--steps", "100", "--pairs", "16", "--out", str(out)]
    args += ["--rules", "inpo,users_work:rule", "--games", "users_work:game", "--policies", "tabular,mlp"]
    assert sampled.main([*args, "--feedback", "sampled:4", "--x", "steps", "--hp", "inpo.eta=0.3"]) == 0
    assert "no response features; the tabular policy only" in capsys.readouterr().err
    df = pd.read_csv(out / "trace.csv")
    assert set(df.game) == {"users_work:game"} and set(df.policy) == {"exact", "tabular"}
    mine = df[df.rule == "users_inpo"]
    assert set(mine.feedback) == {"closed form"}  # no loss twin: the closed form only, under --feedback
    closed = df[(df.feedback == "closed form") & (df.metric == "gap")]
    assert closed.comparisons.max() == 100 * 4 * 3 and set(closed[closed.rule == "inpo"].eta) == {0.3}
    assert set(mine.eta) == {0.5}  # inpo.eta is scoped to the study's inpo
    meta = json.loads((out / "metadata.json").read_text())
    assert {"name": "users_inpo", "source": "users_work:rule"} in meta["rules"]


@pytest.mark.slow
def test_quick_covers_every_rule_and_feedback(tmp_path):
    """The --quick run, as a module (``python -m``, which a tiny run once checked on its own)."""
    out = tmp_path / "q"
    cmd = [sys.executable, "-m", "experiments.sampled", "--quick", "--quiet", "--jobs", "1"]
    cmd += ["--out", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    printed = proc.stdout
    df = pd.read_csv(out / "trace.csv")
    assert list(df.columns[:5]) == ["experiment", "game", "rule", "policy", "feedback"]
    assert set(df["rule"]) == {"iterative_ipo", "sppo", "inpo", "nash_md", "egpo", "comal(inpo)"}
    assert set(df["feedback"]) == {"closed form", "population", "K=16", "K=256"}
    k = df[df["feedback"].str.startswith("K=")]
    calls = np.where(k["rule"] == "egpo", 2, 1)  # EGPO judges twice per iteration
    np.testing.assert_array_equal(k["comparisons"], k["feedback"].str[2:].astype(int) * calls * k["step"])
    assert (df.loc[~df["feedback"].str.startswith("K="), "comparisons"] == 0).all()
    assert df["finite"].all() and np.isfinite(df["value"]).all()
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["feedback_axes"]["sampled"] == {"pairs": [16, 256], "labels": "hard"}
    for text in ("gap reached", "SPPO's loss (4.6)"):
        assert text in printed, text
    summary = pd.read_csv(out / "summary.csv")
    assert {"gap_reached", "final", "step_to_0.01", "comparisons_to_0.0001", "reached_0.01"} <= set(summary)
    assert summary.loc[summary["feedback"] == "population", "comparisons_to_0.01"].isna().all()  # none judged
    assert len(summary) == df.groupby(["game", "policy", "rule", "feedback"]).ngroups
    assert (pd.read_csv(out / "sppo_46_vs_41.csv").iloc[:, -1] > 1e-7).all()  # (4.6) is never (4.1)
