"""The sweep study (:mod:`experiments.sweep`), in-process at a tiny size: its tidy outputs, a summary that the
CSV alone reproduces, the flags reaching the runs, one-line CLI errors before any work, and a rule and a game
of your own."""

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments import sweep
from experiments.common import study

ROOT = Path(__file__).parent.parent
#: One rule, a 2 x 2 grid, one K run, 100 steps: seconds, mostly compiling.
TINY = ["--quick", "--quiet", "--no-compile-cache", "--jobs", "1", "--steps", "100", "--record-every", "50"]
TINY += ["--grid", "2", "--inner-steps", "10"]
MY_RULES = '''
import functools

import algorithms


@functools.cache  # one rule object: jit keys on identity
def my_inpo():
    """INPO under a name of its own: a user's rule that takes eta and tau."""
    return algorithms.get("inpo")._replace(name="my_inpo")
'''
MY_GAMES = """
import games


def cycle():
    return games.condorcet_cycle(3, 0.8)
"""
MINE = ["--rules", "my_rules:my_inpo", "--games", "my_games:cycle"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """``(folder, stdout)`` of one tiny run of a rule and a game of your own (``module:attribute``, imported
    from a folder put on ``sys.path``)."""
    here = tmp_path_factory.mktemp("sweep")
    (here / "my_rules.py").write_text(MY_RULES)
    (here / "my_games.py").write_text(MY_GAMES)
    stdout = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(stdout):
        mp.syspath_prepend(str(here))
        assert sweep.main([*TINY, *MINE, "--out", str(here / "s")]) == 0
    return here / "s", stdout.getvalue()


def test_a_rule_and_a_game_of_your_own_reach_tidy_outputs(run):
    out, stdout = run
    for name in ("trace.csv", "summary.csv", "sweep.png", "metadata.json"):
        assert (out / name).stat().st_size > 0, name
    df = pd.read_csv(out / "trace.csv")
    cols = list(df.columns)
    assert cols[:3] == ["experiment", "game", "rule"] and cols[3:6] == ["eta", "tau", "start_noise"]
    assert cols[-7:] == ["seed", "step", "oracle_calls", "comparisons", "finite", "metric", "value"]
    for c in ("eta", "tau", "value", "oracle_calls", "comparisons", "step", "seed"):
        assert pd.api.types.is_numeric_dtype(df[c]), c
    assert df["finite"].dtype == bool and np.isfinite(df.loc[df.metric == "gap", "value"]).all()
    assert set(df["rule"]) == {"my_inpo", "comal(inpo,10)"} and set(df["game"]) == {"my_games:cycle"}
    assert len(df[(df.rule == "my_inpo") & (df.metric == "gap") & (df.step == 0)]) == 4  # the 2 x 2 grid
    assert "my_inpo" in stdout and "comal(inpo,10)" in stdout.split("by inner steps K:")[1]
    assert pd.read_csv(out / "summary.csv")["rule"].tolist() == ["my_inpo"]
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["rules"] == ["my_inpo", "comal(inpo,10)"] and len(meta["grid"]["eta"]) == 2
    assert meta["config"]["rules"] == ["my_rules:my_inpo"] and meta["config"]["games"] == ["my_games:cycle"]
    assert meta["dtype"] == "float64" and meta["jax_enable_x64"] is True


@pytest.mark.slow
def test_feedback_and_x_reach_the_runs(tmp_path, capsys):
    out = tmp_path / "s"
    flags = ["--inner-steps", "", "--rules", "inpo", "--feedback", "sampled:8", "--x", "comparisons"]
    assert sweep.main([*TINY, *flags, "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "its comparisons to 1e-06" in stdout and "sampled(8) feedback" in stdout
    df = pd.read_csv(out / "trace.csv")
    assert df[df.rule == "inpo"].comparisons.max() == 100 * 8 * 3  # 8 sampled duels per action per step
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["feedback"] == "sampled:8" and meta["config"]["x"] == "comparisons"


def test_games_of_two_sizes_get_one_summary_row_and_heatmap_each(tmp_path):
    """Two games (3 and 5 actions): the report reads each game's grid and K runs from its own rows."""
    out = tmp_path / "s"
    assert (
        sweep.main(
            [*TINY, "--rules", "inpo", "--games", "comal_cycle,condorcet_cycle:n=5,p=0.8", "--out", str(out)]
        )
        == 0
    )
    summary = pd.read_csv(out / "summary.csv")
    assert summary.game.tolist() == ["comal_cycle", "condorcet_cycle:n=5,p=0.8"] and set(summary.rule) == {
        "inpo"
    }
    assert {p.name for p in out.glob("sweep-*.png")} == {
        "sweep-comal_cycle.png",
        "sweep-condorcet_cycle:n=5,p=0.8.png",
    }


def test_gap_against_eta_straight_from_the_csv(run):
    from matplotlib.figure import Figure

    df = pd.read_csv(run[0] / "trace.csv")
    final = df[(df.metric == "gap") & (df.step == df.step.max())]
    final = final[final.rule == "my_inpo"]
    line = final[np.isclose(final["tau"], final["tau"].min())].sort_values("eta")
    ax = Figure().subplots()
    ax.loglog(line["eta"], line["value"])  # numeric columns: no string parsing
    assert len(line) == 2 and np.all(np.diff(line["eta"]) > 0)
    assert ax.get_lines()[0].get_xdata().dtype.kind == "f"


def test_the_report_is_made_from_the_csv_alone(run, tmp_path, monkeypatch):
    """A committed run can be re-reported: ``report`` on the read-back trace.csv writes the same summary."""
    monkeypatch.syspath_prepend(str(run[0].parent))
    config, _ = study.parse_config(sweep.STUDY_DECL, [*TINY, *MINE])
    with contextlib.redirect_stdout(io.StringIO()):
        sweep.report(config, {"trace": pd.read_csv(run[0] / "trace.csv")}, tmp_path)
    assert (tmp_path / "summary.csv").read_text() == (run[0] / "summary.csv").read_text()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--feedback", "noisy:0"], "--feedback must be exact, sampled:K"),
        (["--x", "comparisons"], "--x comparisons: exact feedback counts no comparisons"),
        (["--hp", "eta=0.3"], "--hp eta: eta is this study's grid axis (eta, tau)"),
        (["--hp", "inpo.tau=0.3"], "--hp tau: tau is this study's grid axis (eta, tau)"),
        (["--hp", "foo=1"], "--hp foo: no rule run declares 'foo'"),
        (["--rules", "mwu"], "rule mwu has no eta x tau grid (its hyperparameters: eta, start_noise)"),
        (["--rules", "comal,comal(inpo)"], "rule name(s) given twice: comal(inpo,100)"),
        (["--steps", "75"], "--steps (75) must be a multiple of --record-every (50)"),
        (["--grid", "0"], "--grid must be >= 1"),
        (["--inner-steps", "10,x"], "--inner-steps must be an integer, got 'x'"),
        (["--games", "missing.json"], "--games: no such file 'missing.json'"),
        (["--schedules", "m:s"], "--schedules: eta and tau are this study's grid axes"),
        (["--seeds", "3"], "--seeds: one run per grid point, at --seed"),
    ],
)
def test_cli_errors_are_one_line_before_any_work(args, message, tmp_path, capsys):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_:
        sweep.main(["--quick", "--out", str(out), *args])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err, err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


def test_npy_game_needs_a_kind(tmp_path, capsys):
    np.save(tmp_path / "g.npy", np.array([[0.5, 0.2], [0.8, 0.5]]))
    with pytest.raises(SystemExit) as exit_:
        sweep.main(["--quick", "--games", str(tmp_path / "g.npy")])
    assert exit_.value.code == 2 and "needs :kind=preference or :kind=matrix" in capsys.readouterr().err


@pytest.mark.slow
def test_python_m_runs_it(tmp_path):
    """``python -m experiments.sweep`` works (the one subprocess of this file)."""
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.sweep", *TINY, "--rules", "inpo", "--out", str(tmp_path / "s")],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "s" / "summary.csv").exists() and "wrote" in proc.stdout
