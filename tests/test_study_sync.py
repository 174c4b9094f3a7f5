"""experiments.sync: its CLI contract (one-line errors before any work, in-process) and a tiny run whose K = 1,
alpha = 1 cell is MWU's run under the same sampled duels, and whose parameter EMA meets the log-space mixing
where the two must agree (alpha = 1, never synced)."""

import json
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import algorithms
import games
from experiments import sync
from experiments.common import cli, study

TINY = ["--quick", "--quiet", "--no-compile-cache", "--steps", "16", "--jobs", "1"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--hp", "beta=0.5"], "--hp: inner_steps and beta are this study's grid axes (K and alpha)"),
        (["--rules", "nope"], "unknown rule 'nope'"),
        (["--rules", "mlp", "--games", "condorcet_cycle:n=3,p=0.8"], "the rule mlp needs response features"),
        (["--rules", "inpo", "--hp", "eta=-1"], "hyperparameter eta must lie in (0, inf), got -1"),
        (["--x", "steps"], "--x: every cell of the grid runs the same steps and comparisons"),
        (["--rules", "iterative_dpo"], "does not declare a KL reference"),
        (["--seeds", "0"], "--seeds"),
        (["--rules", "inpo", "--hp", "bogus=1"], "--hp bogus: no rule run declares 'bogus'"),  # was ignored
        (["--rules", "inpo", "--hp", "ipo.tau=1"], "--hp ipo.tau: no rule 'ipo' among the rules run (inpo)"),
        (
            ["--rules", "inpo", "--hp", "inpo.eta=-1"],
            "eta must lie in (0, inf), got -1",
        ),  # the --rules text scopes
    ],
)
def test_cli_errors_are_one_line_before_any_work(args, message, tmp_path, capsys):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_:
        sync.main([*TINY, "--out", str(out), *args])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err, err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("sync") / "o"
    assert sync.main([*TINY, "--rules", "inpo,mlp", "--games", "paper", "--out", str(out)]) == 0
    return out


@pytest.mark.slow  # an end-to-end study run
def test_the_k1_alpha1_cell_is_mwu_under_the_same_duels(tiny):
    """INPO re-centred after every step is MWU (the K = 1 limit); the runs draw their duels from the same keys,
    so the study's cell is MWU's gap seed by seed, to round-off."""
    df = pd.read_csv(tiny / "trace.csv")
    cell = df[(df.rule == "inpo") & (df.inner_steps == 1) & (df.beta == 1)].sort_values("seed")
    seeds = cli.run_seeds(0, 16)
    mwu = algorithms.sweep(
        algorithms.mwu(), games.comal_cycle(), steps=16, record_every=16, seeds=seeds,
        feedback=games.feedback.sampled(4),
    )  # fmt: skip
    np.testing.assert_allclose(cell.value, np.asarray(mwu.metrics["gap"])[np.argsort(seeds), -1], atol=1e-12)


@pytest.mark.slow
def test_tables_equal_comparisons_and_the_parameter_distance(tiny):
    summary = pd.read_csv(tiny / "summary.csv", keep_default_na=False)
    assert set(summary.rule) == {"inpo", "mlp", "mlp_params"}
    assert list(summary[summary.rule == "inpo"].K) == ["1", "1", "8", "8", "never", "never"]  # K <= steps
    assert (summary.gap_lo <= summary.gap).all() and (summary.gap <= summary.gap_hi).all()
    df = pd.read_csv(tiny / "trace.csv")
    assert set(df.comparisons) == {16 * 4 * 3}  # every cell: 16 steps x 4 duels x 3 responses
    dist = pd.read_csv(tiny / "mlp_distance.csv", keep_default_na=False)
    same = dist[(dist.alpha == 1) | (dist.K == "never")]
    assert len(same) == 4 and (same.tv_hi < 1e-12).all()  # alpha = 1: theta_ref = theta, both the same rule
    best = pd.read_csv(tiny / "best.csv")
    assert set(best.verdict) <= {"lower", "higher", "cannot tell"}
    assert ((best.diff_lo <= best.paired_diff) & (best.paired_diff <= best.diff_hi)).all()
    meta = json.loads((tiny / "metadata.json").read_text())
    assert meta["grid"] == {"K": [1.0, 8.0, 17.0], "alpha": [0.3, 1.0]}
    assert (tiny / "sync.png").stat().st_size > 0


COMMITTED = Path(__file__).parent.parent / "docs" / "results" / "sync"


def test_the_committed_run_supports_the_page():
    """docs/studies/sync.md states in words what these rows of the committed run say (no number is copied)."""
    best = pd.read_csv(COMMITTED / "best.csv")
    summary = pd.read_csv(COMMITTED / "summary.csv", keep_default_na=False).set_index(["game", "rule", "K"])
    verdict = best.set_index(["game", "rule", "against"])["verdict"]
    rules = ["inpo", "ipo", "dpo", "mlp", "mlp_params"]
    for game in ("paper", "cycles"):
        for rule in rules:  # the best cell lies below K = 1, alpha = 1 (intervals exclude 0) ...
            assert verdict[game, rule, "K=1, alpha=1 (no magnet)"] == "lower"
            first = summary.loc[(game, rule, "1")].set_index("alpha")["gap"]
            assert first[0.1] < first[1.0]  # ... and a small mix at K = 1 keeps part of the magnet
    for rule in rules:  # the ensemble: syncing beats a fixed reference; TR-DPO within noise for INPO and MLP
        assert verdict["cycles", rule, "never synced"] == "lower"
        expected = "lower" if rule in ("ipo", "dpo") else "cannot tell"
        assert verdict["cycles", rule, "TR-DPO"] == expected
    paper = best[(best.game == "paper") & (best.against == "never synced")]
    assert (
        set(paper.verdict) == {"cannot tell"} and len(paper) == 5
    )  # ipo: its best cell is never synced (alpha 0.1)
    assert best[(best.game == "paper") & (best.rule == "ipo")].K.iloc[0] == "never"


def test_hp_scoped_by_the_rules_text_reaches_the_rule_built_from_it():
    # sync builds comal(inpo,1,beta=1) from the --rules item "inpo": inpo.eta=... names it by that text
    rule = algorithms.sync.swept("inpo", games.comal_cycle(), features=games.library.COMAL_CYCLE_FEATURES)[
        "inpo"
    ]
    c = types.SimpleNamespace(hp=(("inpo", "eta", 0.3), (None, "tau", 0.2), ("ipo", "tau", 0.4)))
    assert study.hparams(c, rule, "inpo") == {"eta": 0.3, "tau": 0.2}
    assert study.hparams(c, rule) == {"tau": 0.2}  # without the text, only the rule's name scopes
