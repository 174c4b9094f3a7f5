"""The paper study on the study shell: the story it reproduces, its CLI contract (one-line errors before any
computation, tested in-process), your own rules and games, and result folders replaced whole."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments import paper

ROOT = Path(__file__).parent.parent
FAST = ["--rules", "mwu,inpo", "--steps", "200", "--quiet"]


def cli_error(capsys, args, out: Path) -> str:
    """Run the study in-process; it must exit 2 with one line on stderr and write nothing."""
    with pytest.raises(SystemExit) as exc:
        paper.main(["--quick", "--out", str(out), *args])
    err = capsys.readouterr().err
    assert exc.value.code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists() and not [p for p in out.parent.iterdir() if ".tmp" in p.name]
    return err


@pytest.mark.slow
def test_paper_reproduces_the_story(tmp_path, capsys):
    paper.main(["--quick", "--steps", "3000", "--out", str(tmp_path / "p"), "--quiet"])
    assert "pairwise win rates" in capsys.readouterr().out
    final = pd.read_csv(tmp_path / "p" / "summary.csv").set_index("rule")["final gap"]
    assert final["mwu"] > 0.5 and final["iterative_dpo"] > 0.1
    assert final["inpo"] == pytest.approx(2.449e-2, abs=1e-5)  # the regularized equilibrium's gap, tau = 0.1
    assert final["comal(inpo,100)"] < 1e-10 and final["omwu"] < 1e-8 and final["extragradient"] < 1e-8
    assert final["averaged(mwu)"] < 1e-2
    pol = pd.read_csv(tmp_path / "p" / "policies.csv")
    last = pol[(pol.rule == "comal(inpo,100)") & (pol.step == 3000) & (pol.player == "x")].sort_values(
        "action"
    )
    np.testing.assert_allclose(last["probability"], [4 / 11, 3 / 11, 4 / 11], atol=1e-9)  # the known NE


def test_paper_small_run_writes_tidy_outputs(tmp_path, capsys):
    out = tmp_path / "p"
    paper.main([*FAST, "--out", str(out)])
    df = pd.read_csv(out / "trace.csv")
    assert list(df.columns[:3]) == ["experiment", "game", "rule"]
    assert list(df.columns[-7:]) == [
        "seed",
        "step",
        "oracle_calls",
        "comparisons",
        "finite",
        "metric",
        "value",
    ]
    assert set(df.rule) == {"mwu", "inpo"} and df.step.max() == 200
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["study"] == "paper" and meta["config"]["steps"] == 200
    assert {"trace.csv", "policies.csv", "summary.csv", "gap.png", "simplex.png"} <= set(meta["files"])
    assert meta["hyperparameters"]["inpo"]["tau"] == 0.1  # the declared default, recorded


@pytest.mark.parametrize(
    "args, message",
    [
        (["--rules", "mwu,nope"], "valid rules:"),
        (
            ["--rules", "no_such_module_xyz:rule"],
            "cannot import it (ModuleNotFoundError: No module named 'no_such_module_xyz')",
        ),
        (["--rules", "numpy:pi"], "not an UpdateRule or a factory"),
        (["--rules", "mwu,comal,comal(inpo)"], "given twice: comal(inpo,100)"),
        (["--rules", "frobnicate(mwu)"], "unknown wrapper 'frobnicate'"),
        (["--steps", "0"], "--steps must be >= 1"),
        (["--steps", "15"], "multiple of --record-every"),
        (
            ["--steps", "100000010"],
            "--steps 100000010 is above the cap of 100,000,000 per run (over 5,000 times",
        ),
        (["--dtype", "float16"], "invalid choice"),
        (["--rules", "inpo", "--hp", "eta=20"], "eta * tau must be <= 1"),
        (["--seed", "1180591620717411303424"], "--seed must lie in 0 .."),
        (["--seed", "-1"], "--seed must lie in 0 .."),
        (["--games", "nosuch_game"], "unknown game 'nosuch_game'"),
        (["--game", "condorcet_cycle:n=5,q=1"], "unknown argument(s) q"),
        (["--games", "condorcet_cycle:n=1,p=0.8"], "n must be >= "),
        (["--games", "missing.json"], "no such file"),
        (["--games", "g.npy"], "no such file"),
        (["--x", "comparisons"], "--x comparisons: exact feedback counts no comparisons"),
        (["--feedback", "sampled:0"], "--feedback must be exact, sampled:K (an integer K >= 1)"),
        (["--feedback", "sampled"], "got 'sampled'"),
        (["--feedback", "noisy:0.1", "--rules", "comal_exact"], "comal_exact reads the whole game"),
        (["--hp", "eta"], "--hp must be name=value or rule.name=value, got 'eta'"),
        (["--hp", "foo=1"], "--hp foo: no rule run declares 'foo'"),
        (["--rules", "mwu", "--hp", "inpo.tau=1"], "--hp inpo.tau: no rule 'inpo' among the rules run (mwu)"),
        (["--rules", "mwu", "--hp", "eta=-1"], "mwu: hyperparameter eta must lie in (0, inf), got -1"),
        (["--games", "llmfao:judge=gpt4"], "784 of the 1711 pairs were never compared ('"),
        (["--comparisons", "missing.csv"], "--comparisons: no such file"),
        (["--seeds", "16"], "--seeds: the paper's runs are deterministic"),
        (["--schedules", "x:y"], "--schedules: the paper's rules run at constant step sizes"),
        (["--game-kind", "matrix"], "unrecognized arguments"),
        (["--rule", "mwu"], "unrecognized arguments"),  # no prefix matching (allow_abbrev=False)
    ],
)
def test_paper_cli_errors_are_one_line_before_any_computation(args, message, tmp_path, capsys):
    assert message in cli_error(capsys, args, tmp_path / "out")


def test_out_that_is_a_file_fails_up_front(tmp_path, capsys):
    out = tmp_path / "f"
    out.write_text("x")
    with pytest.raises(SystemExit) as exc:
        paper.main([*FAST, "--out", str(out)])
    assert exc.value.code == 2 and "exists and is not a folder" in capsys.readouterr().err
    assert out.read_text() == "x"


def test_feedback_x_and_hp_reach_the_run(tmp_path):
    out = tmp_path / "p"
    args = ["--rules", "mwu,comal", "--steps", "100", "--feedback", "sampled:8", "--x", "comparisons"]
    paper.main(["--quick", "--quiet", "--out", str(out), *args, "--hp", "comal.eta=0.3", "--hp", "tau=0.2"])
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["feedback"] == "sampled:8"
    hp = meta["hyperparameters"]
    assert hp["mwu"]["eta"] == 0.5 and hp["comal(inpo,100)"] == {
        "eta": 0.3,
        "tau": 0.2,
        "start_noise": 0,
        "inner_steps": 100,
    }
    df = pd.read_csv(out / "trace.csv")
    assert (
        df[(df.rule == "mwu") & (df.metric == "gap")].comparisons.max() == 100 * 8 * 3
    )  # 8 duels per action


USER = """
import functools
import algorithms, games

@functools.cache
def half_mwu():
    return algorithms.mwu()._replace(name="half_mwu")  # MWU under a name of its own

def cycle5():
    return games.condorcet_cycle(5, 0.8)
"""


def test_a_rule_a_wrapper_and_a_game_of_your_own(tmp_path, monkeypatch):
    (tmp_path / "mine.py").write_text(USER)
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "p"
    paper.main(
        [
            "--quiet",
            "--steps",
            "100",
            "--rules",
            "mine:half_mwu,averaged(mine:half_mwu)",
            "--games",
            "mine:cycle5",
        ]
        + ["--out", str(out)]
    )
    df = pd.read_csv(out / "trace.csv")
    assert set(df.rule) == {"half_mwu", "averaged(half_mwu)"} and set(df.game) == {"mine:cycle5"}
    assert df[df.metric == "gap"].value.notna().all()


@pytest.mark.slow
def test_python_dash_m_and_an_interrupt(tmp_path):
    """``python -m experiments paper`` works; SIGINT leaves the previous folder whole and exits 130."""
    out = tmp_path / "p"
    cmd = [sys.executable, "-m", "experiments", "paper", *FAST, "--out", str(out)]
    subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True, timeout=300)
    before = (out / "trace.csv").read_bytes()
    proc = subprocess.Popen(
        [*cmd[:-2], "--steps", "2000", "--out", str(out)], cwd=ROOT, stderr=subprocess.PIPE
    )
    import time

    for _ in range(600):  # until the run's temporary folder exists: its Ctrl-C handler is in place by then
        if [p for p in tmp_path.iterdir() if ".tmp" in p.name]:
            break
        time.sleep(0.2)
    proc.send_signal(2)
    assert proc.wait(timeout=120) == 130
    assert (out / "trace.csv").read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


def test_float32_notes_a_level_below_its_floor_and_drops_the_1e11_line(tmp_path, capsys):
    out = tmp_path / "p"
    paper.main(
        [
            "--quiet",
            "--dtype",
            "float32",
            "--rules",
            "omwu",
            "--level",
            "1e-9",
            "--steps",
            "100",
            "--out",
            str(out),
        ]
    )
    assert "below the float32 accuracy floor" in capsys.readouterr().err
    df = pd.read_csv(out / "trace.csv")
    fig = paper.gap_figure(df, dtype="float32", reg_gap=0.02, tau=0.1)
    labels = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    assert not any("1e-11" in t for t in labels) and any("regularized" in t for t in labels)
    fig64 = paper.gap_figure(df, dtype="float64", reg_gap=0.02, tau=0.1)
    assert any("1e-11" in t.get_text() for leg in fig64.legends for t in leg.get_texts())


def test_comparisons_and_llmfao_games_reach_the_study(tmp_path, capsys):
    """--comparisons FILE.csv:options and --games llmfao:... go through the one game parser."""
    csv = tmp_path / "votes.csv"
    csv.write_text("a,b,who\nx,y,A\ny,z,A\nz,x,A\nx,y,T\n")
    spec = f"{csv}:left=a,right=b,winner=who,outcomes={{'A': 'left', 'B': 'right', 'T': 'tie'}}"
    out = tmp_path / "out"
    args = ["--quiet", "--steps", "100", "--rules", "mwu", "--out", str(out)]
    paper.main([*args, "--comparisons", spec])
    meta = json.loads((out / "metadata.json").read_text())
    (game,) = meta["games"].values()
    assert game["comparisons"] == str(csv) and len(game["sha256"]) == 64
    assert pd.read_csv(out / "trace.csv")["game"].iloc[0].startswith("votes.csv:left=a,right=b,winner=who")
    with pytest.raises(SystemExit):
        paper.main([*args, "--comparisons", f"{csv}:left=a,right=b,winner=who"])
    assert "row 0 has winner 'A'" in capsys.readouterr().err
    paper.main([*args, "--games", "llmfao:judge=gpt4,missing=bradley_terry,kind=rates"])
    assert (
        pd.read_csv(out / "trace.csv")["game"].iloc[0] == "llmfao:judge=gpt4,missing=bradley_terry,kind=rates"
    )
