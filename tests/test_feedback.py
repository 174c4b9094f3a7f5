"""Feedback oracles, counters, self-play as a choice, metrics as data, tidy traces, fast seed grids."""

import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import algorithms
import games
from algorithms import conformance
from games import Profile
from games.feedback import Oracle

PAPER = np.array([[0.5, 0.1, 0.8], [0.9, 0.5, 0.1], [0.2, 0.9, 0.5]])


# --- oracles -----------------------------------------------------------------------------------------------------


def test_feedback_constructors_validate():
    assert games.feedback.exact().name == "exact" and games.feedback.sampled(4).name == "sampled(4)"
    for bad in (0, -1):
        with pytest.raises(ValueError, match="samples must be >= 1"):
            games.feedback.sampled(bad)
    with pytest.raises(TypeError, match="samples must be an integer"):
        games.feedback.sampled(2.5)
    with pytest.raises(ValueError, match="sigma must be a finite number >= 0"):
        games.feedback.noisy(-0.1)
    with pytest.raises(ValueError, match="sigma"):
        games.feedback.noisy(float("nan"))
    with pytest.raises(TypeError, match="feedback must be"):
        algorithms.run(algorithms.mwu(), games.comal_cycle(), steps=1, feedback="sampled")


def test_noisy_feedback_adds_gaussian_noise():
    game = games.comal_cycle()
    pi = Profile(jnp.log(jnp.array([0.2, 0.3, 0.5])))
    keys = jax.random.split(jax.random.PRNGKey(3), 20000)
    g = np.asarray(jax.vmap(lambda k: Oracle(game, games.feedback.noisy(0.5), k).gradient(pi).x)(keys))
    np.testing.assert_allclose(g.mean(0), [0.03, -0.12, 0.06], atol=0.02)
    np.testing.assert_allclose(g.std(0), 0.5, rtol=0.03)


def test_exact_feedback_is_the_default_and_deterministic():
    g = games.comal_cycle()
    a = algorithms.run(algorithms.omwu(), g, steps=50)
    b = algorithms.run(algorithms.omwu(), g, steps=50, feedback=games.feedback.exact(), key=9)
    np.testing.assert_array_equal(np.asarray(a.metrics["gap"]), np.asarray(b.metrics["gap"]))


@pytest.mark.slow
def test_counters_per_rule():
    g = games.comal_cycle()
    per_step = {"mwu": 1, "inpo": 1, "nash_md": 1, "omwu": 1, "extragradient": 2, "egpo": 2}
    for name, k in per_step.items():
        t = algorithms.run(
            algorithms.get(name), g, steps=20, record_every=10, feedback=games.feedback.sampled(5)
        )
        np.testing.assert_array_equal(t.counters["oracle_calls"], [0, 10 * k, 20 * k], err_msg=name)
        np.testing.assert_array_equal(t.counters["comparisons"], [0, 10 * k * 15, 20 * k * 15], err_msg=name)
    # two players: samples x (m + n) per call
    t = algorithms.run(
        algorithms.mwu(),
        games.matrix_game(conformance.RECTANGULAR),
        steps=4,
        feedback=games.feedback.sampled(3),
    )
    np.testing.assert_array_equal(t.counters["comparisons"], np.arange(5) * 3 * 7)
    # comal_exact counts the gradient evaluations of its inner solve: many per outer step
    t = algorithms.run(algorithms.comal_exact(), g, steps=3)
    calls = np.asarray(t.counters["oracle_calls"])
    assert np.all(np.diff(calls) > 50), calls


@pytest.mark.slow
def test_sampled_comal_gets_below_the_inpo_plateau_with_enough_samples():
    g = games.comal_cycle()
    fb = games.feedback.sampled(4096)
    c = algorithms.run(algorithms.comal(), g, steps=3000, record_every=100, feedback=fb, key=1)
    plateau = games.regularized_equilibrium(g, 0.1).gap  # 2.449e-2
    assert float(np.mean(np.asarray(c.metrics["gap"][-5:]))) < plateau / 2


# --- self-play is a choice -----------------------------------------------------------------------------------------


def test_self_play_choice():
    pref = games.comal_cycle()
    skew = games.matrix_game(np.asarray(pref.A))
    assert algorithms.run(algorithms.mwu(), pref, steps=2).policy.self_play
    assert not algorithms.run(
        algorithms.mwu(), skew, steps=2
    ).policy.self_play  # None: two players on matrix games
    assert algorithms.run(algorithms.mwu(), skew, steps=2, self_play=True).policy.self_play
    assert not algorithms.run(algorithms.mwu(), pref, steps=2, self_play=False).policy.self_play
    with pytest.raises(ValueError, match="self-play needs a symmetric game"):
        algorithms.run(algorithms.mwu(), games.matrix_game(conformance.RECTANGULAR), steps=1, self_play=True)
    with pytest.raises(ValueError, match="is a self-play rule"):
        algorithms.run(algorithms.sppo(), pref, steps=1, self_play=False)
    with pytest.raises(TypeError, match="self_play must be"):
        algorithms.run(algorithms.mwu(), pref, steps=1, self_play="yes")


def _dot_count(fn, *args) -> int:
    return str(jax.make_jaxpr(fn)(*args)).count("dot_general")


def test_self_play_evaluates_one_gradient_per_evaluation():
    g = games.comal_cycle()
    rule = algorithms.mwu()
    one = rule.init(g)
    two = rule.init(g, self_play=False)
    step = lambda s: rule.step(s, Oracle(g))
    assert _dot_count(step, one) == 1 and _dot_count(step, two) == 2


# --- metrics as data -----------------------------------------------------------------------------------------------


def test_metrics_by_name_and_function():
    g = games.comal_cycle()
    entropy = ("entropy", lambda game, x, y: -jnp.sum(x * jnp.log(x), axis=-1))
    t = algorithms.run(algorithms.mwu(), g, steps=10, metrics=["gap", entropy])
    assert set(t.metrics) == {"gap", "entropy"}
    assert float(t.metrics["entropy"][0]) == pytest.approx(np.log(3), abs=1e-15)
    with pytest.raises(ValueError, match="unknown metric 'gapp'"):
        algorithms.run(algorithms.mwu(), g, steps=1, metrics=["gapp"])
    with pytest.raises(ValueError, match="needs a preference game"):
        algorithms.run(
            algorithms.mwu(), games.matrix_game(conformance.RECTANGULAR), steps=1, metrics=["win_rate"]
        )
    with pytest.raises(ValueError, match="needs a regularized rule"):
        algorithms.run(algorithms.mwu(), g, steps=1, metrics=["regularized_gap"])
    with pytest.raises(ValueError, match="needs nash="):
        algorithms.run(algorithms.mwu(), g, steps=1, metrics=["kl_to_nash"])
    with pytest.raises(TypeError, match="registered name or a"):
        algorithms.run(algorithms.mwu(), g, steps=1, metrics=[("x", 3)])


def test_per_prompt_metrics_on_contextual_games():
    P = np.stack([PAPER, PAPER.T, games.library.condorcet_cycle(3, 0.7).P if False else PAPER])
    g = games.preference_game(P, [0.2, 0.5, 0.3])
    eq = games.solve(g)
    t = algorithms.run(algorithms.inpo(), g, steps=200, record_every=50, nash=eq, start_noise=0.3, key=4)
    for name in ("gap", "win_rate", "kl_to_nash", "regularized_gap"):
        by = np.asarray(t.metrics[f"{name}_by_context"])
        assert by.shape == (5, 3)
        np.testing.assert_allclose(
            by @ np.array([0.2, 0.5, 0.3]), np.asarray(t.metrics[name]), rtol=1e-13, atol=1e-15
        )
    # each prompt's gap is the gap of that prompt played alone with that prompt's policy
    single = games.preference_game(PAPER.T)
    x1 = np.asarray(t.policy.x[1])
    assert float(t.metrics["gap_by_context"][-1, 1]) == pytest.approx(
        float(games.duality_gap(single, x1)), abs=1e-15
    )


def test_kl_to_nash_only_against_a_unique_equilibrium():
    g = games.duplicated_response()
    eq = games.solve(g)
    if not hasattr(eq, "unique"):
        pytest.skip("games.solve does not report uniqueness yet")
    assert not eq.unique
    with pytest.warns(UserWarning, match="not unique"):
        t = algorithms.run(algorithms.comal(), g, steps=10, nash=eq)
    assert "kl_to_nash" not in t.metrics
    with pytest.raises(ValueError, match="probability vector"):
        algorithms.run(algorithms.mwu(), games.comal_cycle(), steps=10, nash=np.array([5.0, -3, -1]))


# --- tidy traces and fast grids --------------------------------------------------------------------------------------


def test_trace_to_dataframe_is_tidy():
    t = algorithms.sweep(
        algorithms.inpo(), games.comal_cycle(), steps=20, record_every=10, seeds=2, eta=[0.1, 0.5], tau=0.1
    )
    df = t.to_dataframe()
    assert len(df) == 2 * 2 * 3 * 3  # seeds x eta x records x metrics (gap, win_rate, regularized_gap)
    for col in (
        "rule",
        "feedback",
        "seed",
        "eta",
        "tau",
        "start_noise",
        "step",
        "oracle_calls",
        "comparisons",
        "metric",
        "value",
    ):
        assert col in df.columns, col
    for col in ("eta", "tau", "start_noise", "value", "oracle_calls"):
        assert np.issubdtype(df[col].dtype, np.number), col
    row = df[(df.seed == 1) & (df.eta == 0.5) & (df.step == 20) & (df.metric == "gap")]
    assert float(row.value.iloc[0]) == float(t.metrics["gap"][1, 1, 2])
    assert set(df.rule) == {"inpo"} and set(df.tau) == {0.1}


def test_sweep_builds_ten_thousand_seeds_fast():
    start = time.perf_counter()
    keys = algorithms.base.as_keys(10_000)
    assert time.perf_counter() - start < 1.0
    np.testing.assert_array_equal(
        np.asarray(keys)[[0, 1, 9999]], np.stack([jax.random.PRNGKey(s) for s in (0, 1, 9999)])
    )
    np.testing.assert_array_equal(
        np.asarray(algorithms.base.as_keys([2**40 + 3])[0]), np.asarray(jax.random.PRNGKey(2**40 + 3))
    )


def test_seeds_and_keys_are_validated():
    g = games.comal_cycle()
    for bad, err in (
        (2**70, ValueError),
        (-1, ValueError),
        (np.array([0.5, 0.5]), TypeError),
        (1.5, TypeError),
    ):
        with pytest.raises(err, match="key"):
            algorithms.run(algorithms.mwu(), g, steps=1, key=bad)
    with pytest.raises(ValueError, match=r"seeds\[0\] must be a non-negative integer seed"):
        algorithms.sweep(algorithms.mwu(), g, steps=1, seeds=[2**63])


def test_run_takes_scalar_hyperparameters_checked_in_the_games_dtype():
    g = games.comal_cycle()
    with pytest.raises(ValueError, match="use algorithms.sweep"):
        algorithms.run(algorithms.mwu(), g, steps=1, eta=np.array([0.1, 0.5, 1.0]))
    with pytest.raises(ValueError, match="does not fit float32"):
        algorithms.run(algorithms.mwu(), games.comal_cycle(dtype=jnp.float32), steps=1, eta=1e39)
    with pytest.raises(ValueError, match="reciprocal"):
        algorithms.run(algorithms.iterative_ipo(), g, steps=1, tau=1e-320)


@pytest.mark.slow
def test_progress_does_not_change_results_and_chunks_agree():
    gs = [games.random_preference(s, 4, "cyclic") for s in range(3)]
    kw = dict(steps=40, record_every=10, seeds=5, start_noise=0.2)
    a = algorithms.sweep(algorithms.comal(), gs, chunk=4, **kw)
    b = algorithms.sweep(algorithms.comal(), gs, chunk=4, progress=True, **kw)
    c = algorithms.sweep(
        algorithms.comal(), gs, **kw
    )  # one chunk: equal to round-off (XLA vectorises by batch size)
    leaves = lambda t: jax.tree.leaves((t.metrics, t.counters, t.policy))
    for u, v, w in zip(leaves(a), leaves(b), leaves(c)):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))
        np.testing.assert_allclose(np.asarray(u), np.asarray(w), rtol=1e-12, atol=1e-15)
