"""Step sizes outside a rule's declared stable range (``Hparam.stable``) are warned about by ``run``/``sweep``,
and the safe value the warning suggests converges.

The game ``A = [[1, -1], [-1, 2]]`` (``max|A| = 2``): its Nash equilibrium is ``x = y = (3/5, 2/5)`` (the
indifference ``x1 - x2 = -x1 + 2 x2`` with ``x1 + x2 = 1``), and the KL bound of INPO/MMD/Nash-MD at
``tau = 0.1`` is ``2 tau / (tau^2 + max|A|^2) = 0.2 / 4.01 = 0.04988`` (safe value 0.049), while the default
``eta = 0.5`` is ten times over it. The regularized equilibrium's gap comes from the independent solver
(``games.regularized_equilibrium``), not from the rules.
"""

import re
import warnings

import numpy as np
import pytest

import algorithms
import games
from algorithms import base

GAME = [[1.0, -1.0], [-1.0, 2.0]]
SAFE = re.compile(r"A safe value: eta=([0-9.e-]+)$")


def _game():
    return games.matrix_game(GAME)


def test_run_warns_once_naming_rule_eta_scale_and_safe_value():
    rule = algorithms.get("comal")
    with pytest.warns(base.StepSizeWarning) as record:
        algorithms.run(rule, _game(), steps=1)
    assert len(record) == 1  # once
    message = str(record[0].message)
    assert message.startswith("comal(inpo,100): eta=0.5 ")
    assert "max|A|=2" in message
    assert "= 0.0499" in message  # 0.2 / 4.01 = 0.049875...
    assert float(SAFE.search(message).group(1)) == 0.049


@pytest.mark.parametrize("name", ["inpo", "mmd", "nash_md", "comal", "mpo"])
def test_default_step_is_outside_the_range_on_this_game(name):
    rule = algorithms.get(name)
    message = base.step_size_warning(rule, _game(), {h.name: h.default for h in rule.hparams})
    assert message.startswith(f"{rule.name}: eta=0.5 ") and message.endswith("A safe value: eta=0.049")


def test_grid_message_names_the_worst_point_and_the_count():
    hp = {"eta": np.array([0.01, 0.5, 0.3]), "tau": np.array(0.1), "start_noise": np.array(0.0)}
    message = base.step_size_warning(algorithms.get("inpo"), _game(), hp)
    assert "eta=0.5 (2 of 3 grid points)" in message


@pytest.mark.slow
def test_sweep_warns_once_for_the_grid():
    with pytest.warns(base.StepSizeWarning, match=r"eta=0.5 \(1 of 2 grid points\)") as record:
        algorithms.sweep(algorithms.get("inpo"), _game(), steps=1, eta=[0.01, 0.5])
    assert len(record) == 1


@pytest.mark.parametrize("name", list(algorithms.RULES))
def test_defaults_never_warn_on_preference_games(name):
    # every preference game has max|A| <= 1/2: the KL bound is >= 0.2 / 0.26 = 0.77 > 0.5
    rule = algorithms.get(name)
    defaults = {h.name: h.default for h in rule.hparams}
    assert base.step_size_warning(rule, games.condorcet_cycle(3, 1.0), defaults) is None
    assert base.step_size_warning(rule, games.comal_cycle(), defaults) is None


def test_declared_bounds_are_the_documented_formulas():
    hp = {"tau": 0.1}
    assert base.KL_STEP.bound(2.0, hp) == pytest.approx(0.2 / 4.01)
    assert base.EXTRAGRADIENT_STEP.bound(2.0, hp) == 0.5
    assert base.OPTIMISTIC_STEP.bound(2.0, hp) == 0.25
    stable = {h.name: h.stable for h in algorithms.get("comal").hparams}
    assert stable["eta"] is base.KL_STEP and stable["tau"] is None  # COMAL declares its inner rule's range
    assert all(h.stable is None for h in algorithms.get("mwu").hparams)  # no last-iterate range to declare


def test_make_rule_refuses_a_bound_for_an_unknown_name():
    with pytest.raises(ValueError, match="stable names unknown hyperparameter"):
        base.make_rule(
            "r", lambda *a, **k: None, lambda s, o: s, hparams={"eta": 0.5}, stable={"lr": base.KL_STEP}
        )


@pytest.mark.slow
@pytest.mark.parametrize("name", ["inpo", "mmd", "nash_md", "comal"])
def test_default_fails_and_the_suggested_step_converges(name):
    game, rule = _game(), algorithms.get(name)
    with pytest.warns(base.StepSizeWarning) as record:
        default = algorithms.run(rule, game, steps=10_000, record_every=10_000)
    assert float(default.metrics["gap"][-1]) > 0.5  # far from both equilibria after 10,000 steps
    safe = float(SAFE.search(str(record[0].message)).group(1))
    with warnings.catch_warnings():
        warnings.simplefilter("error", base.StepSizeWarning)  # the suggested value is inside the range
        trace = algorithms.run(rule, game, steps=10_000, record_every=10_000, eta=safe)
    gap = float(trace.metrics["gap"][-1])
    regularized = games.regularized_equilibrium(game, tau=0.1).gap  # 0.03222, the solver's value
    if name == "comal":
        assert gap < 1e-12  # the exact Nash equilibrium (3/5, 2/5)
        np.testing.assert_allclose(trace.policy.x, [0.6, 0.4], atol=1e-10)
    elif name == "nash_md":  # a constant step converges near the regularized equilibrium (0.03253 here)
        assert abs(gap - regularized) < 1e-3
    else:
        assert abs(gap - regularized) < 1e-10
        assert float(trace.metrics["regularized_gap"][-1]) < 1e-12
