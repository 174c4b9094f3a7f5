"""The contextual study on the study shell: tidy outputs with each prompt's gap, its CLI contract (one-line
errors before any computation, tested in-process), and a rule and a contextual game of your own."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments import contextual

ROOT = Path(__file__).parent.parent
COLUMNS_TAIL = ["seed", "step", "oracle_calls", "comparisons", "finite", "metric", "value"]


def cli_error(capsys, args, out: Path) -> str:
    """Run the study in-process; it must exit 2 with one line on stderr and write nothing."""
    with pytest.raises(SystemExit) as exc:
        contextual.main(["--quick", "--quiet", "--out", str(out), *args])
    err = capsys.readouterr().err
    assert exc.value.code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists() and not [p for p in out.parent.iterdir() if ".tmp" in p.name]
    return err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--games", "matrix.npy:kind=matrix"], "the per-prompt gaps need a preference game"),
        (["--games", "contextual4x2"], "needs >= 1 prompt and >= 3 responses"),
        (["--steps", "401"], "--steps (401) must be a multiple of 2"),
        (["--x", "comparisons"], "--x comparisons: exact feedback counts no comparisons"),
        (["--rules", "inpo", "--hp", "eta=20"], "eta * tau must be <= 1"),
        (["--hp", "foo=1"], "--hp foo: no rule run declares 'foo'"),
        (["--feedback", "noisy:0.1", "--rules", "comal_exact"], "comal_exact reads the whole game"),
        (["--eta", "0.3"], "unrecognized arguments"),  # --eta/--tau/--start-noise went: --hp
        (["--prompts", "3"], "unrecognized arguments"),  # --prompts/--n went: --games contextual<C>x<N>
        (["--seeds", "4"], "--seeds: one run per rule"),
        (["--schedules", "x:y"], "--schedules: the rules run at constant step sizes"),
    ],
)
def test_cli_errors_are_one_line_before_any_computation(args, message, tmp_path, capsys, monkeypatch):
    np.save(tmp_path / "matrix.npy", np.array([[0.0, 1.0], [-1.0, 0.0]]))
    monkeypatch.chdir(tmp_path)
    assert message in cli_error(capsys, args, tmp_path / "out")


USER = """
import functools
import algorithms, games

@functools.cache
def my_omwu():
    return algorithms.omwu()._replace(name="my_omwu")

def three_prompts():
    return games.library.contextual_cycles(7, 3, 3)
"""


@pytest.mark.slow  # by default tests/test_studies.py runs this study with a user rule and game
def test_a_rule_and_a_contextual_game_of_your_own_tidy_outputs(tmp_path, monkeypatch, capsys):
    """In-process, tiny: a registered rule and a user's rule on a user's 3-prompt game; the trace is tidy and
    each prompt's gap weighs into the aggregate with the game's rho."""
    (tmp_path / "mine.py").write_text(USER)
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "c"
    args = ["--quiet", "--steps", "200", "--rules", "mwu,mine:my_omwu", "--games", "mine:three_prompts"]
    contextual.main([*args, "--hp", "start_noise=0.3", "--out", str(out)])
    printed = capsys.readouterr().out
    assert "mine:three_prompts: 3 prompts" in printed and "prompt 2 (rho=" in printed
    df = pd.read_csv(out / "trace.csv")
    cols = list(df.columns)
    assert cols[:3] == ["experiment", "game", "rule"] and cols[-len(COLUMNS_TAIL) :] == COLUMNS_TAIL
    assert {"eta", "start_noise", "prompt"} <= set(cols) and (df.start_noise == 0.3).all()
    assert set(df.rule) == {"mwu", "my_omwu"} and set(df.game) == {"mine:three_prompts"}
    assert df.step.max() == 200 and np.isfinite(df.loc[df.metric == "gap", "value"]).all()
    meta = json.loads((out / "metadata.json").read_text())
    rho = np.asarray(meta["game"]["mine:three_prompts"]["weights"])
    last = df[(df.step == 200) & (df.rule == "my_omwu")]
    per_prompt = last[last.metric == "prompt_gap"].sort_values("prompt")["value"].to_numpy()
    agg = last.loc[last.metric == "gap", "value"].item()
    assert per_prompt @ rho == pytest.approx(agg, rel=1e-9)  # the aggregate is the rho-weighted sum
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.columns[:2]) == ["rule", "aggregate gap"] and len(summary.columns) == 5
    assert meta["record_every"] == 1 and meta["steps"] == 200
    assert {"trace.csv", "policies.csv", "summary.csv", "contextual.png"} <= set(meta["files"])
    pol = pd.read_csv(out / "policies.csv")
    sums = pol.groupby(["rule", "step", "prompt"])["probability"].sum()
    np.testing.assert_allclose(sums, 1.0, rtol=0, atol=1e-12)


@pytest.mark.slow
def test_python_dash_m_quick(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.contextual", "--quick", "--out", str(tmp_path / "c")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "contextual4x3: 4 prompts" in proc.stdout
    for name in ("trace.csv", "policies.csv", "summary.csv", "contextual.png", "metadata.json"):
        assert (tmp_path / "c" / name).stat().st_size > 0, name
