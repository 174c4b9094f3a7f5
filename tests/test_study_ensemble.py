"""experiments.ensemble: its one-line CLI errors (in-process), a tiny run on random starts, a user rule and a
user game, and one ``-m`` smoke run (slow)."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from experiments.ensemble import main

TINY = ["--quick", "--quiet", "--steps", "100", "--record-every", "50", "--seeds", "4", "--jobs", "1"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--games", "random_preference:n=5,kind=spiral"], "spiral"),
        (["--games", "condorcet_cycle:n=5,p=0.8", "--rules", "omwu"], "--hp start_noise=S (S > 0)"),
        (["--steps", "15"], "multiple of --record-every"),
        (["--x", "comparisons"], "--x comparisons: exact feedback counts no comparisons"),
        (["--schedules", "x:y"], "--schedules: the ensemble runs every rule at constant step sizes"),
        (["--rules", "mwu", "--hp", "tau=1"], "--hp tau: no rule run declares 'tau'"),
        (["--seeds", "0"], "--seeds must be >= 1"),
        (["--eta", "0.3"], "unrecognized arguments: --eta"),
    ],
)
def test_cli_errors_are_one_line_before_any_work(args, message, tmp_path, capsys):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exc:
        main([*TINY, "--out", str(out), *args])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err, err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


@pytest.mark.slow  # ~15 s wall on a busy 2-core machine (compiles a sweep)
def test_random_starts_on_a_fixed_game(tmp_path):
    """Run as a module (``python -m``, which a run of its own once checked)."""
    out = tmp_path / "e"
    args = ["--games", "condorcet_cycle:n=5,p=0.8", "--rules", "omwu", "--hp", "start_noise=0.5"]
    cmd = [sys.executable, "-m", "experiments.ensemble", *TINY, *args, "--out", str(out)]
    printed = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600).stdout
    df = pd.read_csv(out / "trace.csv")
    finals = df[(df.metric == "gap") & (df.step == 100)]
    assert finals["seed"].nunique() == 4 and finals["value"].nunique() == 4  # four different starts
    bands = df[df.metric.isin(["gap_q25", "gap_median", "gap_q75"])]
    assert set(bands.game) == {"condorcet_cycle:n=5,p=0.8 x4"} and len(bands) == 3 * 3  # records x quartiles
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.rule) == ["omwu"] and "start_noise=0.5" in summary.hparams[0]
    assert "4 random starts on condorcet_cycle:n=5,p=0.8" in printed
    assert (out / "ensemble.png").stat().st_size > 0


@pytest.mark.slow  # by default tests/test_studies.py runs this study with a user rule and game
def test_takes_a_user_rule_and_a_user_game(tmp_path, monkeypatch):
    (tmp_path / "mine.py").write_text(
        "import algorithms, games\n"
        "rule = algorithms.get('inpo')\n"
        "def game():\n"
        "    return games.library.condorcet_cycle(n=4, p=0.7)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "u"
    args = ["--rules", "mine:rule,comal(mine:rule)", "--games", "mine:game", "--hp", "start_noise=0.3"]
    assert main([*TINY, *args, "--out", str(out)]) == 0
    df = pd.read_csv(out / "trace.csv")
    assert set(df.rule) == {"inpo", "comal(inpo,100)"} and (df.game.str.startswith("mine:game")).all()
    meta = json.loads((out / "metadata.json").read_text())
    assert [r["source"] for r in meta["rules"]] == ["mine:rule", "comal(mine:rule)"]
