"""algorithms.duels: closed-form rules from sampled duels whose number judged is a hyperparameter (a schedule)."""

import numpy as np
import pytest

import algorithms
import games
from algorithms import runner
from algorithms import schedules as S

GAME = games.comal_cycle()
# Win probability of each action against the uniform policy: the row means of the paper's P, by hand
# (.5 + .1 + .8) / 3, (.9 + .5 + .1) / 3, (.2 + .9 + .5) / 3.
P_UNIFORM = np.array([1.4, 1.5, 1.6]) / 3


def _one_step_differences(judged: int, counts: bool, seeds: int = 4000, eta: float = 0.5) -> np.ndarray:
    """``(log pi_1[0] - log pi_1[1]) / eta`` after one MWU step from uniform: the estimated ``g_0 - g_1``."""
    rule = algorithms.duels(algorithms.mwu(), 64, counts=counts)
    tr = algorithms.sweep(rule, GAME, steps=1, record_every=1, seeds=seeds, eta=eta, samples=judged)
    x = np.asarray(tr.policy.x)  # the final policies [seeds, 3]
    return (np.log(x[:, 0]) - np.log(x[:, 1])) / eta


@pytest.mark.parametrize("counts", [False, True], ids=["duels", "counts"])
@pytest.mark.parametrize("judged", [16, 64])
def test_estimate_is_unbiased_with_the_variance_of_judged_duels(judged, counts):
    """Each action's estimate is a mean of ``judged`` Bernoulli(p_i) duels, independent across actions: the
    difference g_0 - g_1 has mean p_0 - p_1 and variance (p_0 (1 - p_0) + p_1 (1 - p_1)) / judged. The
    same for the duels drawn one by one and for their wins drawn as one binomial per action (counts=True)."""
    d = _one_step_differences(judged, counts)
    p0, p1 = P_UNIFORM[:2]
    var = (p0 * (1 - p0) + p1 * (1 - p1)) / judged
    assert abs(d.mean() - (p0 - p1)) < 4 * np.sqrt(var / d.size)
    # the sample variance of 4000 draws is within 4 standard errors (sqrt(2 / 4000) ~ 2.2 %) of var
    assert abs(d.var() / var - 1) < 4 * np.sqrt(2 / d.size)


@pytest.mark.parametrize("counts", [False, True], ids=["duels", "counts"])
def test_comparisons_count_the_duels_judged_under_a_schedule(counts):
    rule = algorithms.duels(algorithms.omwu(), 32, counts=counts)
    sched = S.piecewise([2, 8, 32], [2, 3])  # 2, 2, 8, 32, 32 duels per action
    tr = algorithms.run(rule, GAME, steps=5, record_every=1, samples=sched)
    # OMWU asks for one gradient per step; 3 actions: 3 * (0, 2, 2, 8, 32, 32) cumulated
    assert [int(c) for c in tr.counters["comparisons"]] == [0, 6, 12, 36, 132, 228]
    assert [int(c) for c in tr.counters["oracle_calls"]] == [0, 1, 2, 3, 4, 5]
    assert [float(v) for v in tr.schedules["samples"]] == [2, 2, 8, 32, 32, 32]  # in force at each record


def test_fixed_sample_sizes_share_one_program(fresh_programs):
    rule = algorithms.duels(algorithms.inpo(), 64)
    before = runner.TRACE_COUNT.get(rule.name, 0)
    for k in (S.growth(4.0, 1.0, 0.0, 4.0), S.growth(64.0, 1.0, 0.0, 64.0), S.growth(4.0, 1.5, 0.0, 64.0)):
        algorithms.sweep(rule, GAME, steps=10, record_every=5, seeds=2, samples=k)
    assert runner.TRACE_COUNT[rule.name] - before == 1


def test_nash_prox_from_duels_keeps_the_reference_and_until():
    # until reads the exact regularized gap while the rule learns from duels: only when asked for by name
    rule = algorithms.comal(algorithms.duels(algorithms.nash_mp(), 64), 50, until=1e-3, reads_game=True)
    assert rule.regularized and rule.tau is not None
    tr = algorithms.run(rule, GAME, steps=400, record_every=400, samples=64)
    assert int(tr.state.rounds) >= 400 // 50  # at least every 50 steps
    # eps = 2 exceeds any regularized gap here (payoffs in [-1/2, 1/2], KL terms small): re-centre every step
    tr = algorithms.run(rule, GAME, steps=400, record_every=400, samples=64, until=2.0)
    assert int(tr.state.rounds) == 400


def test_bad_input():
    with pytest.raises(TypeError, match="UpdateRule"):
        algorithms.duels(algorithms.omwu, 16)
    with pytest.raises(ValueError, match="reads the whole game"):
        algorithms.duels(algorithms.iterative_dpo(), 16)
    from algorithms import policies

    with pytest.raises(ValueError, match="judges its own pairs"):
        algorithms.duels(algorithms.loss_based("inpo", policies.tabular(GAME), pairs=16), 16)
    with pytest.raises(ValueError, match="samples"):
        algorithms.duels(algorithms.omwu(), 0)
    rule = algorithms.duels(algorithms.omwu(), 16)
    with pytest.raises(ValueError, match=r"samples must lie in \[1, 16\]"):
        algorithms.run(rule, GAME, steps=2, samples=17)
    with pytest.raises(ValueError, match="samples"):
        algorithms.run(rule, GAME, steps=4, samples=S.piecewise([4, 32], [2]))
    with pytest.raises(TypeError, match="counts must be True or False, got 'yes'"):
        algorithms.duels(algorithms.omwu(), 16, counts="yes")
    matrix_game = games.matrix_game([[0.0, 1.0], [-1.0, 0.0]])
    with pytest.raises(ValueError, match="counts=True .* needs a preference game"):
        algorithms.run(algorithms.duels(algorithms.omwu(), 16, counts=True), matrix_game, steps=2)
    with pytest.raises(ValueError, match="exact feedback"):
        algorithms.run(rule, GAME, steps=2, feedback=games.feedback.noisy(0.1))
