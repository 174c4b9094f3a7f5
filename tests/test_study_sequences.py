"""experiments.sequences: its CLI contract (one-line errors before any work, in-process), a tiny run with a
user's loss, COMAL around it and a user's sequence game, and one ``-m`` smoke run (slow)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments import sequences

ROOT = Path(__file__).parent.parent


@pytest.mark.parametrize(
    "args, message",
    [
        (["--policies", "rnn"], "--policies: unknown 'rnn'"),
        (["--steps", "15"], "must be a multiple of 10"),
        (["--dtype", "float32"], "float64 only"),
        (["--feedback", "noisy:0.1"], "the loss-based rules judge their own pairs"),
        (["--feedback", "sampled:0"], "--feedback must be exact, sampled:K"),
        (
            ["--feedback", "exact", "--x", "comparisons"],
            "--x comparisons: exact feedback counts no comparisons",
        ),
        (["--x", "calls"], "--x: invalid choice: 'calls'"),
        (["--hp", "eta=-1"], "eta"),
        (["--hp", "zeta=1"], "no rule run declares 'zeta'"),
        (["--hp", "dpo.beta=1"], "no rule 'dpo' among the rules run"),
        (["--rules", "nosuch"], "--rules: unknown 'nosuch'"),
        (["--rules", "comal(dpo)"], "dpo has none"),
        (["--rules", "math:pi"], "not an algorithms.losses.Loss"),
        (["--rules", "nosuchmodule:x"], "cannot import it"),
        (["--games", "comal_cycle"], "not a sequence game"),
        (["--comparisons", "x.csv"], "--comparisons: the games are sequence games"),
        (["--schedules", "m:s"], "--schedules: the loss-based rules run at constant step sizes"),
    ],
)
def test_cli_errors_are_one_line_before_any_work(args, message, tmp_path, capsys):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_:
        sequences.main(["--quick", "--quiet", "--out", str(out), *args])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err, err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


MY_LOSS = """
from algorithms import losses


def _my_inpo(pairs, *, eta, tau):
    # INPO's square loss, written out again by its user
    et = eta * tau
    d = (
        (pairs.logp_w - pairs.logp_l)
        - et * (pairs.ref_w - pairs.ref_l)
        - (1 - et) * (pairs.anchor_w - pairs.anchor_l)
        - eta / 2
    )
    return losses.weighted_mean(d**2, pairs.weight)


my_inpo = losses.Loss(
    "my_inpo", _my_inpo, (("eta", (0.5, "(0, inf)")), ("tau", (0.1, "(0, inf)"))), regularized=True, eta_tau=True
)
"""


MY_GAME = """
import games


def rps_on_the_first_token(y, z):
    beats = lambda a, b: (a[..., 0] - b[..., 0]) % 3 == 1
    return 0.5 + 0.4 * beats(y, z) - 0.4 * beats(z, y)


def my_game():
    return games.sequence_game(3, 2, rps_on_the_first_token)
"""


@pytest.mark.slow  # by default tests/test_studies.py runs this study with a user loss and game
def test_runs_a_loss_of_your_own_on_a_game_of_your_own(tmp_path, monkeypatch):
    """``--rules module:attribute`` naming a ``Loss`` (and COMAL around it), a sequence game as
    ``module:attribute``, ``--feedback sampled:K``, ``--hp`` for every rule declaring the name: the user's INPO
    is INPO, draw for draw."""
    (tmp_path / "my_losses.py").write_text(MY_LOSS)
    (tmp_path / "my_games.py").write_text(MY_GAME)
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "s"
    args = ["--rules", "inpo,my_losses:my_inpo,comal(my_losses:my_inpo)", "--policies", "autoregressive"]
    args += [
        "--games",
        "my_games:my_game",
        "--steps",
        "20",
        "--comal-every",
        "10",
        "--seeds",
        "2",
        "--jobs",
        "1",
    ]
    args += ["--feedback", "sampled:32", "--hp", "tau=0.2", "--quiet", "--out", str(out)]
    assert sequences.main(args) == 0
    df = pd.read_csv(out / "trace.csv")
    assert set(df["rule"]) == {"inpo", "my_inpo", "comal(my_inpo)"} and set(df["game"]) == {
        "my_games:my_game"
    }
    assert set(df["feedback"]) == {"K=32"} and (df["tau"] == 0.2).all()
    np.testing.assert_array_equal(df["comparisons"], 32 * df["step"])
    gap = df[df["metric"] == "gap"].set_index(["rule", "seed", "step"])["value"]
    np.testing.assert_allclose(gap["my_inpo"], gap["inpo"], rtol=1e-12)
    assert (gap["comal(my_inpo)"] != gap["my_inpo"]).any()  # re-centred after 10 iterations
    meta = json.loads((out / "metadata.json").read_text())
    assert {r["name"]: r["source"] for r in meta["rules"]}["my_inpo"] == "my_losses:my_inpo"


@pytest.mark.slow
def test_quick_run_as_a_module_writes_its_tables_and_counts_comparisons(tmp_path):
    out = tmp_path / "q"
    cmd = [
        sys.executable,
        "-m",
        "experiments.sequences",
        "--quick",
        "--policies",
        "autoregressive",
        "--jobs",
        "1",
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr
    for name in ["trace.csv", "summary.csv", "direct.csv", "metadata.json", "sequences.png"]:
        assert (out / name).exists(), name
    assert "mass on a" in proc.stdout
    df = pd.read_csv(out / "trace.csv")
    assert set(df["feedback"]) == {"population", "K=64", "K=1024"}
    sampled = df[df["feedback"] != "population"]
    np.testing.assert_array_equal(sampled["comparisons"], sampled["pairs"] * sampled["step"])
    fig = sequences.figure(df, "comparisons")  # results.gap_figure: a panel per rule and game
    assert [ax.get_title() for ax in fig.axes] == ["run = inpo on verbose3x4"]
    ax = fig.axes[0]
    assert (
        ax.get_xlabel() == "pairwise comparisons (log beyond the first record)"
    )  # K = 64 and 1024 end 16-fold apart
    drawn = {line.get_label(): line.get_xdata() for line in ax.get_lines()}
    assert set(drawn) == {"autoregressive, K=64", "autoregressive, K=1024"}  # the population judges none
    np.testing.assert_array_equal(drawn["autoregressive, K=1024"], 1024 * np.unique(sampled["step"]))
    mass = df[df["metric"] == "favoured_mass"]["value"]
    assert ((mass >= 0) & (mass <= 1)).all()
    summary = pd.read_csv(out / "summary.csv").set_index("feedback")
    assert list(summary["comparisons"]) == [0, 64 * 20, 1024 * 20] and list(summary["seeds"]) == [1, 2, 2]
    final = df[(df["metric"] == "gap") & (df["step"] == 20) & (df["feedback"] == "K=64")]["value"]
    assert summary.loc["K=64", "final"] == pytest.approx(final.median())
    meta = json.loads((out / "metadata.json").read_text())
    nash = meta["nash_favoured_mass"]
    assert nash["verbose3x4"] > nash["verbose3x4 without verbosity"]
