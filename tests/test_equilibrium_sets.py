"""Equilibrium sets (games.equilibria): per-action mass ranges, ranges of linear and worst-case quantities, and
the maximum-entropy selection, against games whose face of equilibria is known by hand."""

import numpy as np
import pytest
import scipy.optimize
import scipy.special
from hypothesis import example, given

import games
from games import testing

# Rock-paper-scissors (payoff +-1/2) plus M, an action that *is* the mixture (R + P) / 2 (its row and column are
# the average of R's and P's). Playing M is playing half R, half P, so the equilibria are every x whose effective
# mixture is uniform: x = (1/3 - m/2, 1/3 - m/2, 1/3, m) for m in [0, 2/3]. Entropy 2 h(1/3 - m/2) + h(m) is
# stationary where log((1/3 - m/2) / m) = 0: m = 2/9, so the max-entropy equilibrium is (2, 2, 3, 2) / 9.
RPS_M = np.array(
    [
        [0.0, -1.0, 1.0, -0.5],
        [1.0, 0.0, -1.0, 0.5],
        [-1.0, 1.0, 0.0, 0.0],
        [0.5, -0.5, 0.0, 0.0],
    ]
)


def rps_m():
    return games.preference_game(RPS_M / 2 + 0.5)


def test_duplicated_actions_split_their_mass_arbitrarily():
    """duplicated_response: (4s/11, 3/11, 4/11, 4(1-s)/11) for s in [0, 1]."""
    s = games.equilibrium_set(games.duplicated_response())
    np.testing.assert_allclose(s.x_min, [0, 3 / 11, 4 / 11, 0], atol=1e-12)
    np.testing.assert_allclose(s.x_max, [4 / 11, 3 / 11, 4 / 11, 4 / 11], atol=1e-12)
    np.testing.assert_array_equal(s.y_min, s.x_min)  # symmetric game: Y* = X*
    np.testing.assert_array_equal(s.y_max, s.x_max)
    assert s.in_every_x.tolist() == [False, True, True, False]
    assert s.in_some_x.tolist() == [True, True, True, True]
    assert s.unique is False and abs(s.value) < 1e-12


def test_an_action_that_is_a_mixture_of_two_others():
    s = games.equilibrium_set(rps_m())
    np.testing.assert_allclose(s.x_min, [0, 0, 1 / 3, 0], atol=1e-12)
    np.testing.assert_allclose(s.x_max, [1 / 3, 1 / 3, 1 / 3, 2 / 3], atol=1e-12)
    assert s.in_every_x.tolist() == [False, False, True, False]
    # mass of R or M: 1/3 + m/2 for m in [0, 2/3]
    lo, hi = games.value_range(rps_m(), [1.0, 0.0, 0.0, 1.0])
    assert lo == pytest.approx(1 / 3, abs=1e-12) and hi == pytest.approx(2 / 3, abs=1e-12)
    lo, hi = games.value_range(rps_m(), [1.0, 0.0, 0.0, 1.0], player=1)
    assert lo == pytest.approx(1 / 3, abs=1e-12) and hi == pytest.approx(2 / 3, abs=1e-12)


def test_worst_case_win_rate_range_against_another_judge():
    """Judge B: M beats everyone with probability 0.8 (B[3, j] = 0.3), the rest tie. On RPS_M's set,
    min_j (x^T B)_j = min(0.3 m, -0.3 (1 - m)) = -0.3 (1 - m): win rates from 0.5 - 0.3 = 0.2 (m = 0) to
    0.5 - 0.1 = 0.4 (m = 2/3)."""
    P = np.full((4, 4), 0.5)
    P[3, :3], P[:3, 3] = 0.8, 0.2
    lo, hi = games.worst_case_win_rate_range(rps_m(), games.preference_game(P))
    assert lo == pytest.approx(0.2, abs=1e-12) and hi == pytest.approx(0.4, abs=1e-12)
    # the ends are attained: at m = 0 and m = 2/3 metrics.worst_case_win_rate gives the same numbers
    for m, want in ((0.0, 0.2), (2 / 3, 0.4)):
        x = np.array([1 / 3 - m / 2, 1 / 3 - m / 2, 1 / 3, m])
        assert float(games.worst_case_win_rate(games.preference_game(P), x)) == pytest.approx(want, abs=1e-12)


def test_worst_case_win_rate_range_against_the_worst_completion():
    """Every pair unobserved, completed in the worst case (not a preference game: B = -1/2 off the diagonal, so
    P + P^T = 0 there): the robust win rate is 1/2 + min_j -(1 - x_j)/2 = min_j x_j / 2. On RPS_M's set
    min(1/3 - m/2, m) runs from 0 (m = 0 or 2/3) to 2/9 (m = 2/9): win rates 0 to 1/9."""
    worst = games.matrix_game(np.where(np.eye(4) == 1, 0.0, -0.5))
    lo, hi = games.worst_case_win_rate_range(rps_m(), worst)
    assert lo == pytest.approx(0.0, abs=1e-12) and hi == pytest.approx(1 / 9, abs=1e-12)


def test_a_dominated_action_has_max_mass_zero():
    s = games.equilibrium_set(games.dominated_response())
    want = [4 / 11, 3 / 11, 4 / 11, 0]
    np.testing.assert_allclose(s.x_min, want, atol=1e-12)
    np.testing.assert_allclose(s.x_max, want, atol=1e-12)
    assert s.x_max[3] == 0.0 and s.unique and s.in_some_x.tolist() == [True, True, True, False]


def test_a_rectangular_game_has_its_own_column_face():
    """Row x = (a, 1 - a) earns (3a, 3(1 - a), 1): value 1 for a in [1/3, 2/3]; the column player must play the
    constant column 2 (A y <= 1 forces y_0 = y_1 = 0)."""
    g = games.matrix_game([[3.0, 0.0, 1.0], [0.0, 3.0, 1.0]])
    s = games.equilibrium_set(g)
    np.testing.assert_allclose(s.x_min, [1 / 3, 1 / 3], atol=1e-12)
    np.testing.assert_allclose(s.x_max, [2 / 3, 2 / 3], atol=1e-12)
    np.testing.assert_allclose(s.y_min, [0, 0, 1], atol=1e-12)
    np.testing.assert_allclose(s.y_max, [0, 0, 1], atol=1e-12)
    assert s.value == pytest.approx(1.0, abs=1e-12)
    me = games.max_entropy_equilibrium(g)
    np.testing.assert_allclose(me.x, [0.5, 0.5], atol=1e-7)
    np.testing.assert_allclose(me.y, [0, 0, 1], atol=1e-12)
    # a dominant row: the column player is indifferent, so Y* is the whole simplex
    s = games.equilibrium_set(games.matrix_game([[1.0, 1.0], [0.0, 0.0]]))
    assert s.x_min.tolist() == [1.0, 0.0] and s.x_max.tolist() == [1.0, 0.0]
    assert s.y_min.tolist() == [0.0, 0.0] and s.y_max.tolist() == [1.0, 1.0]


def test_contextual_games_per_prompt():
    g = games.preference_game(
        np.stack([np.asarray(games.duplicated_response().P), np.asarray(games.dominated_response().P)]),
        [0.25, 0.75],
    )
    s = games.equilibrium_set(g)
    np.testing.assert_allclose(s.x_min, [[0, 3 / 11, 4 / 11, 0], [4 / 11, 3 / 11, 4 / 11, 0]], atol=1e-12)
    np.testing.assert_allclose(
        s.x_max, [[4 / 11, 3 / 11, 4 / 11, 4 / 11], [4 / 11, 3 / 11, 4 / 11, 0]], atol=1e-12
    )
    assert s.unique is False
    lo, hi = games.value_range(g, np.tile([1.0, 0.0, 0.0, 0.0], (2, 1)))
    np.testing.assert_allclose(lo, [0, 4 / 11], atol=1e-12)
    np.testing.assert_allclose(hi, [4 / 11, 4 / 11], atol=1e-12)
    np.testing.assert_allclose(games.max_entropy_equilibrium(g).x[0] * 11, [2, 3, 4, 2], atol=1e-6)


def test_a_constant_game_every_profile_is_an_equilibrium():
    s = games.equilibrium_set(games.matrix_game(np.ones((2, 3))))
    assert s.x_min.tolist() == [0.0, 0.0] and s.x_max.tolist() == [1.0, 1.0]
    assert s.y_max.tolist() == [1.0, 1.0, 1.0] and not s.unique
    np.testing.assert_allclose(
        games.max_entropy_equilibrium(games.matrix_game(np.ones((2, 3)))).y, [1 / 3] * 3
    )


# ---------------------------------------------------------------------------------------------------------------
# The maximum-entropy selection and the tau -> 0 limit of the regularized equilibrium
# ---------------------------------------------------------------------------------------------------------------


def test_max_entropy_equilibrium_by_hand():
    eq = games.max_entropy_equilibrium(rps_m())
    np.testing.assert_allclose(eq.x, [2 / 9, 2 / 9, 1 / 3, 2 / 9], atol=1e-7)
    np.testing.assert_array_equal(eq.y, eq.x)
    assert eq.gap < 1e-9 and eq.certificate < 1e-6 and eq.unique is False and eq.tau == 0.0
    # unique equilibrium: the selection is that equilibrium
    np.testing.assert_allclose(games.max_entropy_equilibrium(games.dominated_response()).x * 11, [4, 3, 4, 0])


@pytest.mark.parametrize("tau", [1e-3, 1e-4])
def test_regularized_equilibrium_tends_to_the_max_entropy_one(tau):
    """The docstring's proof: with the uniform reference the tau -> 0 limit is the max-entropy equilibrium.
    Measured on RPS_M: the distance is about 0.27 tau (first order in tau)."""
    reg = games.regularized_equilibrium(rps_m(), tau)
    err = np.abs(reg.x - np.array([2, 2, 3, 2]) / 9).max()
    assert 0.1 * tau < err < 0.5 * tau
    # and not to another equilibrium: the LP vertex solve() returns is far from it
    assert np.abs(games.solve(rps_m()).x - reg.x).max() > 0.05


def segment_of_equilibria(game):
    """Independent of the LPs: an even cyclic game with an interior equilibrium has X* = ker A cap simplex (a
    segment p + t d, t in [t0, t1], as ker A is 2-dimensional)."""
    A = np.asarray(game.A, np.float64)
    _, sv, Vt = np.linalg.svd(A)
    N = Vt[sv < 1e-10 * sv[0]].T  # [n, 2]
    sums = N.sum(0)
    p = N @ sums / (sums @ sums)  # sum(p) = 1
    d = N @ np.array([-sums[1], sums[0]])  # sum(d) = 0
    with np.errstate(divide="ignore"):
        ts = -p / d
    t0, t1 = ts[d > 0].max(), ts[d < 0].min()
    return p, d, t0, t1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_segment_of_equilibria_against_its_kernel(seed):
    g = games.random_preference(seed, 4, "cyclic")
    p, d, t0, t1 = segment_of_equilibria(g)
    ends = np.stack([p + t0 * d, p + t1 * d])
    s = games.equilibrium_set(g)
    np.testing.assert_allclose(s.x_min, ends.min(0), atol=1e-9)
    np.testing.assert_allclose(s.x_max, ends.max(0), atol=1e-9)
    negH = lambda t: float(np.sum(scipy.special.xlogy(p + t * d, p + t * d)))
    t = scipy.optimize.minimize_scalar(negH, bounds=(t0, t1), method="bounded", options={"xatol": 1e-12}).x
    me = games.max_entropy_equilibrium(g)
    np.testing.assert_allclose(me.x, p + t * d, atol=1e-6)
    reg = games.regularized_equilibrium(g, 1e-4)
    assert np.abs(reg.x - me.x).max() < 1e-3


# ---------------------------------------------------------------------------------------------------------------
# Properties over random games
# ---------------------------------------------------------------------------------------------------------------


@given(testing.cyclic_games(max_n=7, unique=True))
def test_a_unique_equilibrium_is_its_own_set(game):
    eq, s = games.solve(game), games.equilibrium_set(game)
    assert eq.unique and s.unique
    np.testing.assert_allclose(s.x_min, eq.x, atol=1e-9, rtol=0)
    np.testing.assert_allclose(s.x_max, eq.x, atol=1e-9, rtol=0)


@given(testing.preference_games(max_n=6))
def test_the_returned_equilibrium_lies_within_the_bounds(game):
    eq, s = games.solve(game), games.equilibrium_set(game)
    assert np.all(s.x_min <= eq.x + 1e-9) and np.all(eq.x <= s.x_max + 1e-9)
    me = games.max_entropy_equilibrium(game)
    assert np.all(s.x_min <= me.x + 1e-9) and np.all(me.x <= s.x_max + 1e-9) and me.certificate < 1e-6


@given(testing.payoff_matrices(max_size=5))
# badly scaled: the column strategy (0, 1) is 1.4e-14 short of the value, inside HiGHS's feasibility tolerance,
# and the face LPs found y_min = (0, ...) while solve called the equilibrium unique
@example(np.array([[1.0, 0.0], [0.0, 1.19e-7]]))
def test_both_players_bounds_hold_on_general_matrix_games(A):
    game = games.matrix_game(A)
    eq, s = games.solve(game), games.equilibrium_set(game)
    for lo, p, hi in ((s.x_min, eq.x, s.x_max), (s.y_min, eq.y, s.y_max)):
        assert np.all(lo <= p + 1e-9) and np.all(p <= hi + 1e-9)
    assert s.unique or not eq.unique  # a unique equilibrium is a one-point set


# ---------------------------------------------------------------------------------------------------------------
# Bad input and failing solvers
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: games.equilibrium_set(np.eye(2)), TypeError, "ndarray"),
        (lambda: games.equilibrium_set(games.comal_cycle(), support_tol=0.0), ValueError, "0.0"),
        (lambda: games.equilibrium_set(games.comal_cycle(), support_tol=True), TypeError, "True"),
        (lambda: games.equilibrium_set(games.comal_cycle(), support_tol="1e-9"), TypeError, "1e-9"),
        (lambda: games.value_range(games.comal_cycle(), [1.0, 0.0]), ValueError, r"\(2,\)"),
        (lambda: games.value_range(games.comal_cycle(), [1.0, np.nan, 0.0]), ValueError, "nan"),
        (lambda: games.value_range(games.comal_cycle(), "abc"), TypeError, "abc"),
        (lambda: games.value_range(games.comal_cycle(), [1.0, 0.0, 0.0], player=2), ValueError, "2"),
        (lambda: games.value_range(games.comal_cycle(), [1.0, 0.0, 0.0], player=True), ValueError, "True"),
        (
            lambda: games.worst_case_win_rate_range(games.comal_cycle(), games.matrix_game(np.ones((3, 2)))),
            ValueError,
            "shape",
        ),
        (
            lambda: games.worst_case_win_rate_range(games.comal_cycle(), games.duplicated_response()),
            ValueError,
            r"\(4, 4\)",
        ),
        (lambda: games.worst_case_win_rate_range(games.comal_cycle(), "gpt4"), TypeError, "str"),
        (lambda: games.max_entropy_equilibrium(games.comal_cycle(), tol=-1), ValueError, "-1"),
    ],
)
def test_bad_input_is_refused_by_name(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_a_wrong_lp_answer_fails_its_certificate(monkeypatch):
    """HiGHS replaced by a solver that reports 'optimal' for a point off the face, or a non-optimal status (on a
    game with many equilibria: where solve finds one, the face is that point and no face LP runs)."""
    real = scipy.optimize.linprog
    face_lp = lambda kw: kw["bounds"][-1] == (0, None)  # solve()'s LP has a free value variable last

    def off_face(*args, **kw):
        res = real(*args, **kw)
        if face_lp(kw):
            res.x = np.full_like(
                res.x, 1.0 / res.x.size
            )  # uniform: (1/2, 1/4, 1/4) on the cycle, no equilibrium
        return res

    monkeypatch.setattr(scipy.optimize, "linprog", off_face)
    with pytest.raises(games.SolverError, match="face LP .* certificate failed: infeasibility"):
        games.equilibrium_set(games.duplicated_response())

    def not_optimal(*args, **kw):
        res = real(*args, **kw)
        if face_lp(kw):
            res.status, res.message = 1, "iteration limit reached"
        return res

    monkeypatch.setattr(scipy.optimize, "linprog", not_optimal)
    with pytest.raises(games.SolverError, match="face LP .*failed: status 1: iteration limit"):
        games.value_range(games.duplicated_response(), [1.0, 0.0, 0.0, 0.0])


def test_max_entropy_on_a_face_with_implicit_equalities():
    """LLMFAO's crowd margins game: its face is a slab of width ~1e-9 in the full space (every column some
    equilibrium plays is tight at every point), where SLSQP on the inequalities reported them incompatible. The
    selection lies in the set's bounds, plays exactly the 31 models some equilibrium plays, and is an
    equilibrium (gap ~ 0; 31 and the 1e-12 from the audit of issue 33, not from this code)."""
    g = games.from_comparisons(
        games.datasets.llmfao_comparisons("crowd").pooled(), kind="margins", missing="tie", dtype="float64"
    )
    s, me = games.equilibrium_set(g), games.max_entropy_equilibrium(g)
    assert int(s.in_some_x.sum()) == 31 and not s.in_every_x.any() and not s.unique
    assert np.all(s.x_min - 1e-9 <= me.x) and np.all(me.x <= s.x_max + 1e-9)
    assert int((me.x > 1e-9).sum()) == 31 and me.gap < 1e-12 and me.certificate < 1e-6
