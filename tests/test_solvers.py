"""Exact equilibria against independent references, and properties of the LP solver."""

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import games
from games import SolverError

from .strategies import cyclic_games, payoff_matrices, preference_games


def test_paper_game_equilibrium():
    eq = games.solve(games.comal_cycle())
    np.testing.assert_allclose(eq.x, [4 / 11, 3 / 11, 4 / 11], atol=1e-12)
    np.testing.assert_allclose(eq.y, [4 / 11, 3 / 11, 4 / 11], atol=1e-12)
    assert abs(eq.value) < 1e-12 and eq.gap <= 1e-12 and eq.certificate == eq.gap


def test_biased_rps_published_equilibrium():
    eq = games.solve(games.biased_rock_paper_scissors())  # OpenSpiel: (1/16, 10/16, 5/16)
    np.testing.assert_allclose(eq.x, [1 / 16, 10 / 16, 5 / 16], atol=1e-12)
    np.testing.assert_allclose(eq.y, [1 / 16, 10 / 16, 5 / 16], atol=1e-12)


def test_rock_paper_scissors_uniform():
    eq = games.solve(games.rock_paper_scissors())
    np.testing.assert_allclose(eq.x, np.full(3, 1 / 3), atol=1e-12)


def test_pure_equilibrium_with_nonzero_value():
    # saddle point at (row 1, column 0): 3 is the min of its row and the max of its column
    g = games.matrix_game([[1.0, 5.0, 2.0], [3.0, 4.0, 6.0], [0.0, 7.0, 1.0]])
    eq = games.solve(g)
    np.testing.assert_allclose(eq.x, [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(eq.y, [1, 0, 0], atol=1e-12)
    assert eq.value == pytest.approx(3.0, abs=1e-12)


def test_hand_solved_2x2_mixed():
    # [[a, b], [c, d]] = [[3, -1], [-2, 1]]: x1 = (d - c)/(a - b - c + d) = 3/7, value = (ad - bc)/(a-b-c+d) = 1/7
    eq = games.solve(games.matrix_game([[3.0, -1.0], [-2.0, 1.0]]))
    np.testing.assert_allclose(eq.x, [3 / 7, 4 / 7], atol=1e-12)
    np.testing.assert_allclose(eq.y, [2 / 7, 5 / 7], atol=1e-12)
    assert eq.value == pytest.approx(1 / 7, abs=1e-12)


def test_dominated_and_duplicated_library_games():
    eq = games.solve(games.dominated_response())
    np.testing.assert_allclose(eq.x, [4 / 11, 3 / 11, 4 / 11, 0], atol=1e-12)
    eq = games.solve(games.duplicated_response())
    assert eq.gap < 1e-12
    assert eq.x[0] + eq.x[3] == pytest.approx(4 / 11, abs=1e-12)


def test_contextual_solve_is_per_prompt_and_weighted():
    P = np.stack([np.asarray(games.comal_cycle().P), np.asarray(games.rock_paper_scissors().P)])
    g = games.preference_game(P, [0.25, 0.75])
    eq = games.solve(g)
    np.testing.assert_allclose(eq.x[0], [4 / 11, 3 / 11, 4 / 11], atol=1e-12)
    np.testing.assert_allclose(eq.x[1], np.full(3, 1 / 3), atol=1e-12)
    m = games.matrix_game(np.stack([[[3.0, -1.0], [-2.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]]), [0.25, 0.75])
    assert games.solve(m).value == pytest.approx(0.25 / 7 + 0.75 / 2, abs=1e-12)


def test_solver_raises_not_none(monkeypatch):
    import scipy.optimize

    class Failed:
        status, message = 4, "numerical difficulties"

    monkeypatch.setattr(scipy.optimize, "linprog", lambda *a, **k: Failed())
    with pytest.raises(SolverError, match="numerical difficulties"):
        games.solve(games.comal_cycle())
    with pytest.raises(TypeError):
        games.solve(np.eye(2))


def test_certificate_failure_raises(monkeypatch):
    from games import solvers

    monkeypatch.setattr(solvers, "_lp_row_strategy", lambda A: (np.array([1.0, 0, 0]), np.array([1.0, 0, 0])))
    with pytest.raises(SolverError, match="certificate"):
        games.solve(games.comal_cycle())


# --- regularized equilibrium: golden duality gaps of the paper game's regularized equilibrium (uniform ref),
# --- published in the project's foundation issue and computed there independently of this solver


@pytest.mark.parametrize("tau, gap", [(1.0, 7.008e-2), (0.1, 2.449e-2), (0.01, 1.709e-3)])
def test_regularized_equilibrium_golden(tau, gap):
    g = games.comal_cycle()
    eq = games.regularized_equilibrium(g, tau)
    assert eq.gap == pytest.approx(gap, abs=5e-6)
    assert eq.certificate <= 1e-12
    assert float(games.regularized_gap(g, (eq.x, eq.y), tau)) <= 1e-12
    np.testing.assert_allclose(eq.x, eq.y, atol=1e-12)  # symmetric game, symmetric equilibrium


def _naive_fixed_point(A, tau, iters=20000, damp=0.05):
    """Independent reference: damped fixed-point iteration in probability space (works for larger tau)."""
    x = np.full(A.shape[0], 1 / A.shape[0])
    y = np.full(A.shape[1], 1 / A.shape[1])
    for _ in range(iters):
        bx = np.exp(A @ y / tau - (A @ y / tau).max())
        by = np.exp(-(x @ A) / tau - (-(x @ A) / tau).max())
        x = (1 - damp) * x + damp * bx / bx.sum()
        y = (1 - damp) * y + damp * by / by.sum()
    return x, y


def test_regularized_matches_naive_iteration_on_rectangular_game():
    A = np.array([[0.3, -0.2, 0.5, 0.1], [-0.4, 0.6, -0.1, 0.2], [0.2, 0.1, -0.3, -0.5]])
    x, y = _naive_fixed_point(A, 0.5)
    eq = games.regularized_equilibrium(games.matrix_game(A), 0.5)
    np.testing.assert_allclose(eq.x, x, atol=1e-12)
    np.testing.assert_allclose(eq.y, y, atol=1e-12)


def test_regularized_small_tau_and_custom_reference():
    g = games.comal_cycle()
    ref = np.array([0.6, 0.3, 0.1])
    eq = games.regularized_equilibrium(g, 0.003, ref)
    assert eq.certificate <= 1e-12
    assert float(games.regularized_gap(g, (eq.x, eq.y), 0.003, ref)) <= 1e-12
    # tau -> 0: the regularized equilibrium approaches the Nash equilibrium
    assert (
        eq.gap
        < games.regularized_equilibrium(g, 0.03, ref).gap
        < games.regularized_equilibrium(g, 0.3, ref).gap
    )


@pytest.mark.parametrize("tau", [0.0, -1.0, np.nan, np.inf])
def test_regularized_rejects_bad_tau(tau):
    with pytest.raises(ValueError, match="tau"):
        games.regularized_equilibrium(games.comal_cycle(), tau)


def test_regularized_rejects_bad_ref():
    with pytest.raises(ValueError, match="strictly positive"):
        games.regularized_equilibrium(games.comal_cycle(), 0.1, [0.5, 0.5, 0.0])
    with pytest.raises(ValueError, match="sum to 1"):
        games.regularized_equilibrium(games.comal_cycle(), 0.1, [0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="shape"):
        games.regularized_equilibrium(games.comal_cycle(), 0.1, [0.5, 0.5])


def test_regularized_raises_when_tolerance_is_unreachable():
    with pytest.raises(SolverError, match="residual"):
        games.regularized_equilibrium(games.comal_cycle(), 0.1, tol=0.0)


# --- properties -------------------------------------------------------------------------------------------


@given(payoff_matrices())
def test_lp_certificate_on_random_games(A):
    eq = games.solve(games.matrix_game(A))
    assert eq.gap <= 1e-9 * max(1.0, np.abs(A).max())
    assert eq.x.min() >= 0 and eq.y.min() >= 0
    assert eq.x.sum() == pytest.approx(1, abs=1e-12) and eq.y.sum() == pytest.approx(1, abs=1e-12)
    # the value lies between the row player's guarantee and the column player's
    assert (eq.x @ A).min() - 1e-9 <= eq.value <= (A @ eq.y).max() + 1e-9


@given(preference_games())
def test_symmetric_game_value_is_zero(g):
    assert abs(games.solve(g).value) <= 1e-9


@given(cyclic_games(), st.randoms(use_true_random=False))
def test_permuting_actions_permutes_the_solution(g, rnd):
    n = g.shape[0]
    perm = list(range(n))
    rnd.shuffle(perm)
    P = np.asarray(g.P)[np.ix_(perm, perm)]
    eq, eqp = games.solve(g), games.solve(games.preference_game(P))
    # compare gaps and values (the equilibrium of an even-n cyclic game need not be unique)
    assert games.duality_gap(g, eqp.x[np.argsort(perm)], eqp.y[np.argsort(perm)]) <= 1e-9
    assert eqp.value == pytest.approx(eq.value, abs=1e-9)


@given(payoff_matrices(), st.floats(0.01, 100))
def test_scaling_scales_the_value(A, c):
    v = games.solve(games.matrix_game(A)).value
    assert games.solve(games.matrix_game(c * A)).value == pytest.approx(
        c * v, abs=1e-8 * max(1, c * np.abs(A).max())
    )


@given(hnp.arrays(np.float64, (3, 4), elements=st.floats(-1, 1)), st.floats(0.05, 2.0))
def test_regularized_equilibrium_on_random_games(A, tau):  # one shape: each new shape compiles the solver
    g = games.matrix_game(A / max(1.0, np.abs(A).max()))
    eq = games.regularized_equilibrium(g, tau)
    assert eq.certificate <= 1e-12
    assert float(games.regularized_gap(g, (eq.x, eq.y), tau)) <= 1e-11


def test_float32_game_solves():
    eq = games.regularized_equilibrium(games.comal_cycle(dtype=jnp.float32), 0.1)
    assert eq.gap == pytest.approx(2.449e-2, abs=1e-4)


@pytest.mark.parametrize("newton_steps", [0, 4])
def test_regularized_solve_core_with_and_without_newton(newton_steps):
    import jax

    from games.solvers import regularized_solve

    g = games.comal_cycle()
    lr = jnp.log(games.uniform(g))
    lx, ly, res, it = jax.jit(regularized_solve, static_argnames=("newton_steps",))(
        g, 0.1, lr, lr, newton_steps=newton_steps
    )
    assert float(res) <= 1e-13
    np.testing.assert_allclose(np.exp(lx), games.regularized_equilibrium(g, 0.1).x, atol=1e-13)
