"""experiments.reproduce: the entry list with sources, one-line errors before any work, the measures its checks
read, and published values met at --quick (one cheap entry by default, every entry in the slow set)."""

import csv

import numpy as np
import pandas as pd
import pytest

import games
from experiments import reproduce


def test_list_shows_every_entry_with_its_source(capsys):
    assert reproduce.main(["--list"]) == 0
    out = capsys.readouterr().out
    for name, entry in reproduce.ENTRIES.items():
        assert f"{name}\n    {entry.source}" in out
    assert "arXiv 2311.00676" in out and "ssokota/mmd" in out and "CyberAgentAILab/m2wu" in out
    assert "arXiv 2501.19266" in out and "zhourunlong/EGPO" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["nope"], "argument --entry: invalid choice: 'nope'"),
        (["--games", "comal_cycle"], "--games: each entry's game is the source's"),
        (["--steps", "10"], "--steps: each entry's run length is the source's"),
        (["--rules", "no_such_rule"], "no_such_rule"),
        (["--list", "extra"], "--list takes no other argument, got extra"),  # was ignored
        (["--list", "--entry", "m2wu_full"], "--list takes no other argument, got --entry m2wu_full"),
        (
            ["--hp", "eta=0.3"],
            "--hp eta: no --rules given",
        ),  # was ignored: the source's rules keep their values
        (["--rules", "mwu", "--hp", "tau=0.3"], "--hp tau: no rule run declares 'tau'"),
    ],
)
def test_errors_are_one_line_before_any_work(args, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        reproduce.main([*args, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_measures_read_the_records():
    # two trials of run "a" (mean 2, 4, 1 at steps 0, 10, 20) and one of "b"
    d = pd.DataFrame(
        {
            "run": ["a"] * 6 + ["b"] * 3,
            "step": [0, 10, 20] * 3,
            "value": [1.0, 3.0, 0.5, 3.0, 5.0, 1.5, 0.0, 0.0, 0.25],
        }
    )
    assert reproduce.measure(("final", "a"), d, None) == 1.0
    assert reproduce.measure(("tail", "a"), d, None) == 1.0  # steps >= 18: only the last record
    assert reproduce.measure(("below", "a", "b"), d, None) == 0.75
    game = games.library.rm_counterexample()
    assert (
        abs(reproduce.measure(("value",), d, game) - 0.25) < 1e-12
    )  # Cai et al.'s value 1/4 (LP, round-off)


def test_published_games_and_their_equilibria():
    # each game's equilibrium from its docstring, checked by the LP (independent of the rules)
    for make, x, y in [
        (games.library.rm_counterexample, [1 / 12, 1 / 12, 10 / 12], [4 / 12, 5 / 12, 3 / 12]),
        (games.library.m2wu_biased_rps, [0.2, 0.6, 0.2], [0.2, 0.6, 0.2]),
        (games.library.perturbed_rps, [1 / 7, 3 / 7, 3 / 7], [1 / 7, 3 / 7, 3 / 7]),
    ]:
        eq = games.solve(make())
        np.testing.assert_allclose(eq.x, x, atol=1e-9)
        np.testing.assert_allclose(eq.y, y, atol=1e-9)
        assert eq.unique


def _summary(folder):
    with open(folder / "summary.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_every_entry_meets_its_values_at_quick(tmp_path):
    out = tmp_path / "all"
    assert reproduce.main(["all", "--quick", "--quiet", "--no-compile-cache", "--out", str(out)]) == 0
    rows = _summary(out)
    assert {r["entry"] for r in rows} == set(reproduce.ENTRIES)
    assert [r for r in rows if r["status"] != "ok"] == []
    assert len([r for r in rows if r["entry"] == "mmd_perturbed_rps"]) == 12  # every published value of MMD's
    assert all((out / f"{name}.png").exists() for name in reproduce.ENTRIES)


def test_jackpot_populations_are_counted_from_the_voters():
    # majority: 2 voters R > G > B, 3 voters B > R > G; every voter judges its three pairs (counted by hand)
    c = reproduce.voters("majority")
    assert c.labels == ("blue", "green", "red")
    assert c.wins[0].tolist() == [[0, 3, 3], [2, 0, 0], [2, 5, 0]]
    # the last record's mass on a label, mean over trials; None: largest minus smallest
    d = pd.DataFrame({"run": "a", "step": [0, 5, 5], "p:blue": [0.5, 0.9, 0.7], "p:red": [0.5, 0.1, 0.3]})
    # two models: the Bradley-Terry MLE is s_blue - s_red = log(3 / 2) in closed form (Newton to 1e-10)
    assert abs(reproduce.measure(("bt", "iia_2", "blue", "red"), d, None) - np.log(1.5)) < 1e-9
    # the maximal lottery: the Condorcet winner blue; on the cycle, uniform (LP round-off)
    assert abs(reproduce.measure(("ml", "voters:majority", "blue"), d, None) - 1.0) < 1e-9
    assert reproduce.measure(("ml", "voters:cyclic", None), d, None) < 1e-9
    assert abs(reproduce.measure(("share", "a", "blue"), d, None) - 0.8) < 1e-15
    assert abs(reproduce.measure(("share", "a", None), d, None) - 0.6) < 1e-15


def _ipo_loss(theta, theta_ref, P, pi_t, beta):
    """EGPO's code, simulations/loss_funcs.py::online_ipo_1 (one run): its loss, written again in JAX."""
    import jax
    import jax.numpy as jnp

    u = jax.nn.log_softmax(theta) - jax.nn.log_softmax(theta_ref)
    r = P @ pi_t
    return jnp.sum(((u[:, None] - u[None, :]) - (r[:, None] - r[None, :]) / beta) ** 2) / theta.size**2


@pytest.mark.parametrize("rule", ["egpo", "inpo"])
def test_egpo_codes_sgd_step_is_the_rule_at_eta_4lr_over_n_beta(rule):
    """The code's step, SGD at ``lr`` on its loss by autodiff (OMD: one step; EGPO: a half step from theta_t,
    then the step from theta_t with the half step's preferences), equals the closed-form rule at
    ``eta = 4 lr / (N beta)``, ``tau = beta``: two computation paths, so a few ulp apart."""
    import jax
    import jax.numpy as jnp

    import algorithms

    P = jnp.array([[0.5, 0.9, 0.2, 0.6], [0.1, 0.5, 0.7, 0.4], [0.8, 0.3, 0.5, 0.35], [0.4, 0.6, 0.65, 0.5]])
    theta, theta_ref = jnp.array([0.3, -1.2, 0.8, 0.1]), jnp.array([1.0, 0.2, -0.5, -0.7])
    beta, lr, n = 0.1, 0.05, 4
    grad = jax.grad(_ipo_loss)
    g = grad(theta, theta_ref, P, jax.nn.softmax(theta), beta)
    if rule == "egpo":
        g = grad(theta, theta_ref, P, jax.nn.softmax(theta - lr * g), beta)
    code = jax.nn.softmax(theta - lr * g)
    start, ref = jax.nn.softmax(theta), jax.nn.softmax(theta_ref)
    game, hp = games.preference_game(P), {"eta": 4 * lr / (n * beta), "tau": beta}
    t = algorithms.run(algorithms.get(rule), game, steps=1, record_policy=True, start=start, ref=ref, **hp)
    np.testing.assert_allclose(t.policies.x[-1], code, rtol=0, atol=1e-14)
    assert np.abs(code - jax.nn.softmax(theta)).max() > 1e-2  # the step moves
