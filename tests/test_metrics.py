"""Metrics: closed forms, identities, and jit/eager agreement."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import games
from games import metrics as M
from games.testing import cyclic_games, payoff_matrices, simplex


def test_duality_gap_closed_form_on_paper_game():
    g = games.comal_cycle()
    u = np.full(3, 1 / 3)
    # by hand: A = P - 1/2 has rows (0, -.4, .3), (.4, 0, -.4), (-.3, .4, 0):
    # A u = (-.1, 0, .1)/3 and u^T A = (.1, 0, -.1)/3, so the gap is .1/3 - (-.1/3) = .2/3
    assert float(M.duality_gap(g, u, u)) == pytest.approx(0.2 / 3, abs=1e-15)
    assert float(M.duality_gap(g, u)) == pytest.approx(0.2 / 3, abs=1e-15)


def test_gap_zero_at_nash_positive_elsewhere():
    g = games.comal_cycle()
    nash = np.array([4, 3, 4]) / 11
    assert abs(float(M.duality_gap(g, nash, nash))) < 1e-15
    assert float(M.duality_gap(g, np.array([1.0, 0, 0]))) == pytest.approx(0.8, abs=1e-15)  # 0.4 - (-0.4)


def test_worst_case_win_rate_of_pure_policy():
    g = games.comal_cycle()
    # action 0 beats action 1 with prob 0.1: its worst case is 0.1
    assert float(M.worst_case_win_rate(g, jnp.array([1.0, 0, 0]))) == pytest.approx(0.1, abs=1e-15)
    assert float(M.worst_case_win_rate(g, jnp.array([4, 3, 4]) / 11)) == pytest.approx(0.5, abs=1e-15)


@given(cyclic_games(), st.data())
def test_gap_equals_one_minus_twice_win_rate(g, data):
    pi = data.draw(simplex(g.shape[0]))
    gap, wr = float(M.duality_gap(g, pi, pi)), float(M.worst_case_win_rate(g, pi))
    assert gap == pytest.approx(1 - 2 * wr, abs=1e-13)
    assert gap >= -1e-15


@given(st.integers(2, 6).flatmap(lambda n: st.tuples(simplex(n), simplex(n))))
def test_kl_nonnegative_and_zero_on_equal(pq):
    p, q = pq
    kl = float(M.kl_divergence(p, q))
    assert kl >= -1e-15
    assert float(M.kl_divergence(p, p)) == pytest.approx(0, abs=1e-15)


def test_kl_zero_handling():
    assert float(M.kl_divergence(jnp.array([0.0, 1.0]), jnp.array([0.5, 0.5]))) == pytest.approx(np.log(2))
    assert float(M.kl_divergence(jnp.array([0.5, 0.5]), jnp.array([0.0, 1.0]))) == np.inf


@given(payoff_matrices(max_size=6), st.data())
def test_gap_nonnegative_on_matrix_games(A, data):
    g = games.matrix_game(A)
    x, y = data.draw(simplex(A.shape[0])), data.draw(simplex(A.shape[1]))
    assert float(M.duality_gap(g, x, y)) >= -1e-12


@pytest.mark.slow
@given(payoff_matrices(max_size=5), st.data())
def test_metrics_equal_under_jit(A, data):
    g = games.matrix_game(A)
    x, y = data.draw(simplex(A.shape[0])), data.draw(simplex(A.shape[1]))
    for f in (M.duality_gap, M.expected_payoff):
        assert float(jax.jit(f)(g, x, y)) == pytest.approx(float(f(g, x, y)), rel=1e-12, abs=1e-12)
    rg = lambda g, x, y: M.regularized_gap(g, (x, y), 0.3)
    assert float(jax.jit(rg)(g, x, y)) == pytest.approx(float(rg(g, x, y)), rel=1e-12, abs=1e-12)


def test_contextual_metrics_are_weighted_sums():
    P1, P2 = np.asarray(games.comal_cycle().P), np.asarray(games.rock_paper_scissors().P)
    g = games.preference_game(np.stack([P1, P2]), [0.3, 0.7])
    pi = jnp.array([[0.2, 0.5, 0.3], [0.6, 0.2, 0.2]])
    g1, g2 = games.preference_game(P1), games.preference_game(P2)
    for f in (M.duality_gap, M.worst_case_win_rate):
        assert float(f(g, pi)) == pytest.approx(
            0.3 * float(f(g1, pi[0])) + 0.7 * float(f(g2, pi[1])), abs=1e-15
        )


def test_regularized_gap_zero_only_at_regularized_equilibrium():
    g = games.comal_cycle()
    eq = games.regularized_equilibrium(g, 0.1)
    assert abs(float(M.regularized_gap(g, eq.x, 0.1))) < 1e-14
    nash = np.array([4, 3, 4]) / 11
    assert float(M.regularized_gap(g, nash, 0.1)) > 1e-4


def test_pairwise_win_rates():
    g = games.comal_cycle()
    pols = jnp.eye(3)
    np.testing.assert_allclose(np.asarray(M.pairwise_win_rates(g, pols)), np.asarray(g.P), atol=1e-15)
    nash = jnp.array([4, 3, 4]) / 11
    W = np.asarray(M.pairwise_win_rates(g, jnp.stack([nash, jnp.eye(3)[0]])))
    assert W[0, 1] >= 0.5 and W[0, 0] == pytest.approx(0.5)


# --- preference-only metrics and tau are checked (issue 10, item 12) -------------------------------------------


@pytest.mark.parametrize("metric", [M.worst_case_win_rate, M.pairwise_win_rates])
def test_preference_only_metrics_refuse_matrix_games(metric):
    g = games.biased_rock_paper_scissors()  # a matrix game: it has no P (before: a "win rate" of -7.8)
    pi = jnp.full((1, 3), 1 / 3) if metric is M.pairwise_win_rates else jnp.full(3, 1 / 3)
    with pytest.raises(ValueError, match="preference games only"):
        metric(g, pi)
    with pytest.raises(ValueError, match="preference games only"):  # a static flag: refused under jit too
        jax.jit(metric)(g, pi)


@pytest.mark.parametrize("tau", [0, 0.0, -1.0, np.nan, np.float64(0.0), np.array(-0.5)])
def test_regularized_gap_refuses_concrete_nonpositive_tau(tau):
    with pytest.raises(ValueError, match="tau must be > 0"):  # before: NaN for tau = 0
        M.regularized_gap(games.comal_cycle(), jnp.full(3, 1 / 3), tau)


def test_regularized_gap_leaves_traced_tau_alone():
    g, u = games.comal_cycle(), jnp.full(3, 1 / 3)
    f = jax.jit(lambda t: M.regularized_gap(g, u, t))
    # uniform ref, uniform policy, comal cycle: A u = (-.1, 0, .1)/3, so the gap is
    # tau lse(log(1/3) + A u / tau) + tau lse(log(1/3) + A u / tau) = 2 tau log(mean(exp(A u / tau)))
    Au = np.array([-0.1, 0.0, 0.1]) / 3
    expected = 2 * 0.5 * np.log(np.mean(np.exp(Au / 0.5)))
    assert float(f(0.5)) == pytest.approx(expected, rel=1e-13)
    assert np.isnan(float(f(0.0)))  # traced: no check inside jit (runner records a `finite` metric instead)
