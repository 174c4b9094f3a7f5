"""The number judged is data: ``games.feedback.sampled(K)`` draws K, the run hyperparameter ``samples`` (a
number, a sweep axis or a schedule) says how many are judged, for closed-form and loss-based rules alike.

Reference values by hand on the paper game ``P = [[.5, .1, .8], [.9, .5, .1], [.2, .9, .5]]`` at the uniform
policy: the win rates ``P pi`` are the row means ``(1.4, 1.5, 1.6) / 3``; a mean of ``k`` judged duels of
action ``i`` (each against an opponent drawn from ``pi``, won with probability ``P[i, j]``) is a mean of ``k``
Bernoulli(``p_i``) draws, so its variance is ``p_i (1 - p_i) / k``: ``(2.24, 2.25, 2.24) / 9 / k``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import algorithms
import games
from algorithms import policies, runner
from algorithms import schedules as S
from games import Profile
from games.feedback import Oracle

GAME = games.comal_cycle()
WIN_RATES = np.array([1.4, 1.5, 1.6]) / 3  # P pi at uniform, by hand
VARIANCE_TIMES_K = np.array([2.24, 2.25, 2.24]) / 9  # p (1 - p), by hand
DRAWS = 4000


@pytest.mark.parametrize("counts", [False, True], ids=["duels", "counts"])
@pytest.mark.parametrize("judged", [16, 64])
def test_estimate_is_unbiased_with_the_variance_of_the_judged_duels(judged, counts):
    """Of K = 64 drawn duels per action the first ``judged`` are judged: mean ``P pi``, variance
    ``p (1 - p) / judged``, whether drawn one by one or as one binomial count per action. The sample mean of
    4000 draws is within 4 standard errors; the sample variance within 4 of its standard errors (sqrt(2/4000))."""
    uniform = Profile(jnp.log(jnp.full(3, 1 / 3)))
    fb = games.feedback.sampled(64, counts=counts)

    def one(key):
        return Oracle(GAME, fb, key, samples=jnp.asarray(judged)).win_rates(uniform).x

    est = np.asarray(jax.vmap(one)(jax.random.split(jax.random.PRNGKey(7), DRAWS)))
    var = VARIANCE_TIMES_K / judged
    assert np.all(np.abs(est.mean(0) - WIN_RATES) < 4 * np.sqrt(var / DRAWS)), est.mean(0)
    assert np.all(np.abs(est.var(0) / var - 1) < 4 * np.sqrt(2 / DRAWS)), est.var(0) / var


@pytest.mark.parametrize("counts", [False, True], ids=["items", "counts"])
def test_one_sample_size_schedule_runs_a_closed_form_and_a_loss_based_rule(counts):
    """The same feedback argument and schedule (2, 2, 8, 32, 32 judged of 32) for OMWU (one gradient per step,
    3 actions: 3 duels per unit) and a tabular INPO loss (one prompt: 1 pair per unit)."""
    fb = games.feedback.sampled(32, counts=counts)
    sched = S.piecewise([2, 8, 32], [2, 3])
    loss = algorithms.loss_based("inpo", policies.tabular(GAME), optimizer_steps=2)
    for rule, per in ((algorithms.omwu(), 3), (loss, 1)):
        tr = algorithms.run(rule, GAME, steps=5, record_every=1, feedback=fb, samples=sched)
        expected = per * np.cumsum([0, 2, 2, 8, 32, 32])
        assert [int(c) for c in tr.counters["comparisons"]] == expected.tolist(), rule.name
        assert [int(c) for c in tr.counters["oracle_calls"]] == [0, 1, 2, 3, 4, 5], rule.name
        assert [float(v) for v in tr.schedules["samples"]] == [2, 2, 8, 32, 32, 32]  # in force at each record


def test_sample_sizes_share_one_program(fresh_programs):
    rule, fb = algorithms.inpo(), games.feedback.sampled(64)
    before = runner.TRACE_COUNT.get(rule.name, 0)
    for k in (S.growth(4.0, 1.0, 0.0, 4.0), S.growth(64.0, 1.0, 0.0, 64.0), S.growth(4.0, 1.5, 0.0, 64.0)):
        algorithms.sweep(rule, GAME, steps=10, record_every=5, seeds=2, feedback=fb, samples=k)
    assert runner.TRACE_COUNT[rule.name] - before == 1
    t = algorithms.sweep(rule, GAME, steps=2, record_every=1, feedback=fb, samples=[1, 8, 64])
    assert t.axes == ("samples",) and t.counters["comparisons"][:, -1].tolist() == [6, 48, 384]


def test_exact_feedback_gives_a_loss_based_rule_the_population_loss():
    rule = algorithms.loss_based("inpo", policies.tabular(GAME), optimizer_steps=2)
    t = algorithms.run(rule, GAME, steps=3, record_every=1, key=1)
    u = algorithms.run(rule, GAME, steps=3, record_every=1, key=2)
    assert [int(c) for c in t.counters["comparisons"]] == [0, 0, 0, 0]  # nothing judged: the expectation
    np.testing.assert_array_equal(t.metrics["gap"], u.metrics["gap"])  # deterministic: no key is read


def test_bad_input():
    fb = games.feedback.sampled(16)
    with pytest.raises(ValueError, match="samples says how many of sampled"):
        algorithms.run(algorithms.omwu(), GAME, steps=1, samples=4)
    with pytest.raises(ValueError, match=r"samples must lie in \[1, 16\] \(whole numbers\), got 17"):
        algorithms.run(algorithms.omwu(), GAME, steps=1, feedback=fb, samples=17)
    with pytest.raises(ValueError, match="got 2.5"):
        algorithms.sweep(algorithms.omwu(), GAME, steps=1, feedback=fb, samples=[2, 2.5])
    with pytest.raises(TypeError, match="counts must be True or False, got 1"):
        games.feedback.sampled(8, counts=1)
    with pytest.raises(ValueError, match="counts applies to kind 'sampled' only"):
        games.feedback.Feedback("exact", counts=True)
    matrix = games.matrix_game(np.array([[1.0, -1.0], [-1.0, 1.0]]))
    with pytest.raises(ValueError, match="needs a preference game"):
        algorithms.run(algorithms.omwu(), matrix, steps=2, feedback=games.feedback.sampled(4, counts=True))
    own = algorithms.make_rule(
        "declares_samples",
        lambda game, logits, ref, key, samples: logits,
        lambda s, o: s,
        hparams={"samples": (1.0, "[1, 4]", "integer")},
    )
    with pytest.raises(ValueError, match="reserves"):
        algorithms.run(own, GAME, steps=1, feedback=fb)
    loss = algorithms.loss_based("inpo", policies.tabular(GAME))
    with pytest.raises(ValueError, match=r"learns from judged pairs: it takes exact or sampled\(K\)"):
        algorithms.run(loss, GAME, steps=1, feedback=games.feedback.noisy(0.1))
    seq = games.sequence_game(3, 2, "positional_rps")
    with pytest.raises(ValueError, match="token by token"):
        algorithms.run(
            algorithms.loss_based("inpo", policies.autoregressive(seq)),
            seq,
            steps=1,
            feedback=games.feedback.sampled(8, counts=True),
        )
