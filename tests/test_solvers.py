"""Exact equilibria against independent references, and properties of the LP solver."""

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import games
from games import SolverError
from games.testing import cyclic_games, payoff_matrices, preference_games


def test_paper_game_equilibrium():
    eq = games.solve(games.comal_cycle())
    np.testing.assert_allclose(eq.x, [4 / 11, 3 / 11, 4 / 11], atol=1e-12)
    np.testing.assert_allclose(eq.y, [4 / 11, 3 / 11, 4 / 11], atol=1e-12)
    assert abs(eq.value) < 1e-12 and eq.gap <= 1e-12
    assert eq.certificate == pytest.approx(eq.gap / 0.8, abs=1e-300)  # relative to the range .4 - (-.4)
    assert eq.unique


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
    with pytest.raises(SolverError, match="residual"):  # float64 round-off leaves a residual ~1e-16
        games.regularized_equilibrium(games.comal_cycle(), 0.1, tol=1e-300)


@pytest.mark.parametrize(
    "tol, exc",
    [(0.0, ValueError), (-1.0, ValueError), (np.nan, ValueError), (np.inf, ValueError), ("1", TypeError)],
)
def test_regularized_rejects_bad_tol(tol, exc):
    with pytest.raises(exc, match="tol"):
        games.regularized_equilibrium(games.comal_cycle(), 0.1, tol=tol)


# --- properties -------------------------------------------------------------------------------------------


@given(payoff_matrices())
def test_lp_certificate_on_random_games(A):
    eq = games.solve(games.matrix_game(A))
    span = A.max() - A.min()
    assert eq.certificate <= 1e-9 and eq.gap <= 1e-9 * span  # the certificate is relative to the payoff range
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


# --- scale invariance (issue 10, item 1) -------------------------------------------------------------------------
# Reference: an independent LP written here, von Neumann's formulation for the *column* player on a positive
# copy of the game (different variables, objective and method from games.solve, which solves the row player's
# max-min LP with dual simplex and reads y from its duals):
#   M = A - min A + range(A) > 0,  max 1^T w  s.t.  M w <= 1, w >= 0;  value(M) = 1 / 1^T w,  y = w value(M).

BRPS = np.array([[0.0, -25.0, 50.0], [25.0, 0.0, -5.0], [-50.0, 5.0, 0.0]])
CYCLE_A = np.array([[0.5, 0.1, 0.8], [0.9, 0.5, 0.1], [0.2, 0.9, 0.5]]) - 0.5


def _reference_value(A):
    """(value, column strategy) of the matrix game A by the independent column-player LP above."""
    import scipy.optimize

    lo, span = A.min(), A.max() - A.min()
    if span == 0:
        return float(lo), np.full(A.shape[1], 1 / A.shape[1])
    M = A - lo + span  # entries in [span, 2 span]
    res = scipy.optimize.linprog(
        -np.ones(A.shape[1]), A_ub=M, b_ub=np.ones(A.shape[0]), bounds=(0, None), method="highs-ipm"
    )
    assert res.status == 0, res.message
    vM = 1.0 / res.x.sum()
    return float(vM + lo - span), res.x * vM


def _relative_gap(A, x, y):
    """Duality gap of (x, y) over the payoff range, computed on the shifted game (no cancellation)."""
    S = A - A.min()
    return float((S @ y).max() - (x @ S).min()) / (A.max() - A.min())


def test_reference_solver_on_hand_solved_games():  # the reference itself against literal answers
    v, y = _reference_value(BRPS)
    assert v == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(y, [1 / 16, 10 / 16, 5 / 16], atol=1e-12)
    assert _reference_value(np.array([[3.0, -1.0], [-2.0, 1.0]]))[0] == pytest.approx(1 / 7, abs=1e-12)


@pytest.mark.parametrize("scale", [1e-12, 1e-11, 1e-8, 1e-3, 1e3, 1e8, 1e12, 1e14])
def test_scaled_biased_rps_has_the_published_equilibrium(scale):
    # before: scale 1e-11 returned x = [1, 0, 0] (the absolute certificate 1e-9 accepted anything)
    eq = games.solve(games.matrix_game(BRPS * scale))
    np.testing.assert_allclose(eq.x, [1 / 16, 10 / 16, 5 / 16], atol=1e-12)
    np.testing.assert_allclose(eq.y, [1 / 16, 10 / 16, 5 / 16], atol=1e-12)
    assert abs(eq.value) <= 1e-12 * 100 * scale and eq.certificate <= 1e-9 and eq.unique


@pytest.mark.parametrize("shift", [1e6, 1e12, -1e12])
def test_shifted_biased_rps(shift):
    # before: B + 1e12 failed with HiGHS "status code not recognized". B + shift is exact in float64.
    eq = games.solve(games.matrix_game(BRPS + shift))
    np.testing.assert_allclose(eq.x, [1 / 16, 10 / 16, 5 / 16], atol=1e-12)
    assert eq.value == shift  # value 0 of B, in the original units: lo + range * 1/2 = shift exactly
    assert eq.certificate <= 1e-9 and eq.gap <= 1e-9 * 100


def test_huge_cycle_and_tiny_preference_cycle():
    # before: 1e14 * C raised SolverError; preference_game(0.5 + 1e-10 C) returned [1, 0, 0]
    eq = games.solve(games.matrix_game(1e14 * CYCLE_A))
    np.testing.assert_allclose(eq.x, [4 / 11, 3 / 11, 4 / 11], atol=1e-12)
    eq = games.solve(games.preference_game(0.5 + 1e-10 * CYCLE_A))
    # P's entries are stored to 1.1e-16 absolute, i.e. 7e-7 of this game's range 1.6e-10: the *stored* game's
    # equilibrium is (4, 3, 4)/11 only to about that precision, which the solver then finds to 1e-9
    np.testing.assert_allclose(eq.x, [4 / 11, 3 / 11, 4 / 11], atol=1e-5)
    assert eq.certificate <= 1e-9
    # the same cycle with exactly representable entries: P = 1/2 + 2^-36 * (integer cycle), exact answer
    C10 = np.array([[0, -4, 3], [4, 0, -4], [-3, 4, 0]])
    eq = games.solve(games.preference_game(0.5 + 2.0**-36 * C10))
    np.testing.assert_allclose(eq.x, [4 / 11, 3 / 11, 4 / 11], atol=1e-12)


def test_random_6x7_games_at_scale_1e_8():
    rng = np.random.default_rng(20240610)
    for _ in range(30):  # before: relative gaps up to 5.7e-2
        A0 = rng.uniform(-1, 1, (6, 7))
        eq = games.solve(games.matrix_game(1e-8 * A0))
        assert _relative_gap(A0, eq.x, eq.y) <= 1e-9
        assert eq.value == pytest.approx(1e-8 * _reference_value(A0)[0], abs=1e-9 * 1e-8 * np.ptp(A0))


_dyadic = st.integers(-10 * 2**20, 10 * 2**20).map(lambda k: k / 2**20)  # exact under 2^k scaling and shifts


@given(
    st.integers(1, 6).flatmap(lambda m: hnp.arrays(np.float64, (m, 7 - m), elements=_dyadic)),
    st.integers(-40, 40),
    st.integers(-1000, 1000),
)
def test_solve_agrees_with_an_independent_lp_at_every_scale(A0, k, c):
    # A = 2^k (A0 + c) is exact in float64 for 2^k in [9e-13, 1.1e12]: the same game up to a positive affine
    # map, so its value is 2^k (value(A0) + c) and its equilibria are those of A0
    assume(np.ptp(A0) > 0)
    scale = 2.0**k
    A = scale * (A0 + c)
    eq = games.solve(games.matrix_game(A))
    span = np.ptp(A)
    v0, _ = _reference_value(A0)
    assert eq.value == pytest.approx(scale * (v0 + c), abs=1e-9 * span)
    assert eq.certificate <= 1e-9
    assert eq.gap <= 1e-9 * span
    assert _relative_gap(A0, eq.x, eq.y) <= 1e-9  # the gap recomputed here, on the unscaled game
    assert eq.gap / span == pytest.approx(_relative_gap(A0, eq.x, eq.y), abs=1e-15)


def test_constant_game_every_profile_is_an_equilibrium():
    eq = games.solve(games.matrix_game(np.full((2, 3), 7.0)))
    np.testing.assert_array_equal(eq.x, [0.5, 0.5])
    np.testing.assert_array_equal(eq.y, np.full(3, 1 / 3))
    assert (eq.value, eq.gap, eq.certificate, eq.unique) == (7.0, 0.0, 0.0, False)
    eq = games.solve(games.preference_game(np.full((3, 3), 0.5)))  # all ties
    assert (eq.value, eq.gap, eq.unique) == (0.0, 0.0, False)


def test_payoffs_near_the_float64_limit():
    # max A - min A overflows (2e308): the solver halves the game first
    eq = games.solve(games.matrix_game([[1e308, -1e308], [-1e308, 1e308]]))
    np.testing.assert_allclose(eq.x, [0.5, 0.5], atol=1e-15)
    assert eq.value == 0.0 and eq.gap == 0.0 and eq.unique


def test_regularized_equilibrium_is_not_scale_invariant():
    # documented: tau is in payoff units, so (c A, tau) has the equilibrium of (A, tau / c)
    g = games.comal_cycle()
    a = games.regularized_equilibrium(games.matrix_game(10 * np.asarray(g.A)), 0.1)
    b = games.regularized_equilibrium(g, 0.01)
    np.testing.assert_allclose(a.x, b.x, atol=1e-12)
    assert abs(a.x - games.regularized_equilibrium(g, 0.1).x).max() > 1e-3
    assert "not scale-invariant" in games.regularized_equilibrium.__doc__.lower()


# --- uniqueness (issue 10, item 6) -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "game, unique",
    [
        (games.comal_cycle, True),
        (games.duplicated_response, False),  # a segment of equilibria (its docstring)
        (games.dominated_response, True),
        (games.biased_rock_paper_scissors, True),
        (games.rock_paper_scissors, True),
        # row 0 strictly dominates row 1; then column 0 is the column's only best reply: saddle (0, 0), strict
        (lambda: games.matrix_game([[1.0, 2.0], [0.0, -1.0]]), True),
        # row 0 dominant, but the column player is indifferent: every y is optimal
        (lambda: games.matrix_game([[1.0, 1.0], [0.0, 0.0]]), False),
        # a pure saddle (row 1, column 0) in a 3x3 game, strict in both directions
        (lambda: games.matrix_game([[1.0, 5.0, 2.0], [3.0, 4.0, 6.0], [0.0, 7.0, 1.0]]), True),
        (
            lambda: games.condorcet_cycle(4, 0.8),
            False,
        ),  # even cycle: (a, b, a, b)/2 for a + b = 1... all optimal
        (lambda: games.condorcet_cycle(5, 0.8), True),
        (lambda: games.matrix_game(np.zeros((2, 2))), False),
    ],
)
def test_uniqueness_of_named_games(game, unique):
    assert games.solve(game()).unique is unique


def test_uniqueness_of_contextual_games_needs_every_prompt():
    P1, P2 = np.asarray(games.comal_cycle().P), np.asarray(games.rock_paper_scissors().P)
    assert games.solve(games.preference_game(np.stack([P1, P2]))).unique
    D = np.asarray(games.duplicated_response().P)
    E = np.asarray(games.dominated_response().P)
    assert not games.solve(games.preference_game(np.stack([E, D]))).unique
    assert games.regularized_equilibrium(games.duplicated_response(), 0.1).unique  # strictly convex-concave


def _coordinate_spread(A, v):
    """Independent reference (the brief's method): for each player and coordinate, max - min of that coordinate
    over the optimal set {x in simplex: x^T A >= v} (resp. {y: A y <= v}), one LP each; returns the largest."""
    import scipy.optimize

    worst = 0.0
    for M, sign in ((A, 1.0), (A.T, -1.0)):  # row player: -x^T A <= -v;  column player: A y <= v
        k, l = M.shape
        A_ub, b_ub = -sign * M.T, -sign * v * np.ones(l)
        for i in range(k):
            ext = []
            for s in (1.0, -1.0):
                c = np.zeros(k)
                c[i] = s
                r = scipy.optimize.linprog(
                    c, A_ub=A_ub, b_ub=b_ub + 1e-12, A_eq=np.ones((1, k)), b_eq=[1.0], bounds=(0, None)
                )
                assert r.status == 0, r.message
                ext.append(s * r.fun)
            worst = max(worst, ext[1] - ext[0])
    return worst


@st.composite
def _small_games(draw):
    kind = draw(st.sampled_from(["cyclic", "uniform", "duplicated", "dominant"]))
    seed = draw(st.integers(0, 2**31 - 1))
    if kind == "cyclic":  # odd n: unique interior equilibrium; even n: skew of even order -> a segment
        return np.asarray(games.random_preference(seed, draw(st.integers(3, 6)), "cyclic").A)
    if kind == "uniform":
        return np.asarray(games.random_preference(seed, draw(st.integers(2, 6)), "uniform").A)
    A = np.asarray(games.random_preference(seed, 5, "cyclic").A)
    if kind == "duplicated":  # a copy of response 0 that ties with it: never unique
        idx = [0, 1, 2, 3, 4, 0]
        return A[np.ix_(idx, idx)]
    return np.vstack([A, A[0] - 0.01])  # a strictly dominated extra row: unique (the cyclic game's)


@given(_small_games())
def test_uniqueness_matches_coordinate_lps(A):
    eq = games.solve(games.matrix_game(A))
    S = (A - A.min()) / np.ptp(A)
    spread = _coordinate_spread(S, _reference_value(S)[0])
    if eq.unique:
        assert spread <= 1e-6
    else:
        assert spread >= 1e-3


def test_uniqueness_rank_test_catches_an_interior_point_of_a_segment(monkeypatch):
    # The simplex returns vertices, where a segment of equilibria shows as a best response left unplayed. A solver
    # returning the segment's midpoint (every action played) must be caught by the rank half of the test.
    from games import solvers

    mid = np.array([2, 3, 4, 2]) / 11  # s = 1/2 in duplicated_response's (4s, 3, 4, 4(1 - s))/11
    monkeypatch.setattr(solvers, "_lp_row_strategy", lambda S: (mid, mid))
    eq = games.solve(games.duplicated_response())
    assert eq.gap <= 1e-15 and not eq.unique
