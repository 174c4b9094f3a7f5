"""Game constructors: shapes, flags, and a clear error for every bad input."""

import jax.numpy as jnp
import numpy as np
import pytest

import games
from games import io

PAPER = [[0.5, 0.1, 0.8], [0.9, 0.5, 0.1], [0.2, 0.9, 0.5]]


def test_preference_game_stores_payoff_and_flags():
    g = games.preference_game(PAPER)
    np.testing.assert_allclose(np.asarray(g.A), np.asarray(PAPER) - 0.5, rtol=0, atol=1e-16)
    np.testing.assert_array_equal(np.asarray(g.A), -np.asarray(g.A).T)
    assert g.preference and g.symmetric and not g.contextual
    assert g.shape == (3, 3) and g.weights is None and g.dtype == jnp.float64
    np.testing.assert_allclose(np.asarray(g.P), PAPER)


def test_matrix_game_rectangular_and_symmetry_flag():
    g = games.matrix_game([[1, 2, 3], [4, 5, 6]])
    assert g.shape == (2, 3) and not g.symmetric and not g.preference
    with pytest.raises(ValueError, match="preference games only"):
        _ = g.P
    assert games.biased_rock_paper_scissors().symmetric


def test_contextual_game_default_and_given_weights():
    stack = np.stack([PAPER, np.asarray(PAPER).T])
    g = games.preference_game(stack)
    assert g.contextual and g.shape == (3, 3)
    np.testing.assert_array_equal(np.asarray(g.weights), [0.5, 0.5])
    g = games.preference_game(stack, [0.25, 0.75])
    np.testing.assert_array_equal(np.asarray(g.weights), [0.25, 0.75])


def test_uniform_strategies():
    g = games.matrix_game(np.zeros((2, 3)) + [[1.0, 0, 0], [0, 1.0, 0]])
    np.testing.assert_array_equal(np.asarray(games.uniform(g, 1)), np.full(3, 1 / 3))
    with pytest.raises(ValueError, match="player must be 0"):
        games.uniform(g, 2)


def test_dtype_argument_and_astype():
    g = games.comal_cycle(dtype=jnp.float32)
    assert g.dtype == jnp.float32
    assert g.astype(jnp.float64).dtype == jnp.float64


BAD_P = [
    ("abc", TypeError, "string"),
    ([[True, False], [False, True]], TypeError, "real numbers"),
    ([[0.5, np.nan], [0.5, 0.5]], ValueError, "non-finite"),
    ([[0.5, np.inf], [0.5, 0.5]], ValueError, "non-finite"),
    ([0.5, 0.5], ValueError, "2-D"),
    (np.full((2, 2, 2, 2), 0.5), ValueError, "2-D"),
    ([[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]], ValueError, "square"),
    ([[0.5, 1.2], [-0.2, 0.5]], ValueError, r"\[0, 1\]"),
    ([[0.5, 0.7], [0.7, 0.5]], ValueError, r"P\[0, 1\] \+ P\[1, 0\]"),
    ([[0.4, 0.5], [0.5, 0.6]], ValueError, "diagonal"),
    (np.zeros((0, 0)), ValueError, "empty"),
    ([[0.5]], ValueError, "1x1"),
    ([[0.5, 0.5], [0.5]], ValueError, "ragged"),
    (np.zeros((0, 2, 2)), ValueError, "empty context"),
]


@pytest.mark.parametrize("P, exc, match", BAD_P)
def test_preference_game_rejects(P, exc, match):
    with pytest.raises(exc, match=match):
        games.preference_game(P)


def test_complement_error_reports_the_worst_entry():
    P = np.full((3, 3), 0.5)
    P[0, 1], P[1, 0] = 0.6, 0.4 + 1e-6  # off by 1e-6
    P[1, 2], P[2, 1] = 0.7, 0.3 + 1e-3  # worst: off by 1e-3
    with pytest.raises(ValueError, match=r"P\[1, 2\] \+ P\[2, 1\]"):
        games.preference_game(P)


def test_complement_tolerance_is_1e_9():
    P = np.array([[0.5, 0.3], [0.7 + 5e-10, 0.5]])
    games.preference_game(P)  # within tolerance
    P[1, 0] += 1e-8
    with pytest.raises(ValueError, match="P \\+ P\\^T"):
        games.preference_game(P)


@pytest.mark.parametrize(
    "weights, match",
    [
        ([1.0], r"shape \(2,\)"),
        ([0.5, 0.25, 0.25], r"shape \(2,\)"),
        ([-0.5, 1.5], "non-negative"),
        ([0.5, 0.6], "sum to 1"),
        ([np.nan, 0.5], "non-finite"),
    ],
)
def test_bad_weights(weights, match):
    with pytest.raises(ValueError, match=match):
        games.preference_game(np.stack([PAPER, PAPER]), weights)


def test_weights_for_a_single_game_rejected():
    with pytest.raises(ValueError, match="contextual"):
        games.matrix_game([[1, 0], [0, 1]], [1.0])


@pytest.mark.parametrize(
    "A, exc",
    [
        ("x", TypeError),
        ([[1, np.nan]], ValueError),
        ([[1.0]], ValueError),
        ([1, 2], ValueError),
        ([[1], [2, 3]], ValueError),
    ],
)
def test_matrix_game_rejects(A, exc):
    with pytest.raises(exc):
        games.matrix_game(A)


def test_no_silent_clipping():
    with pytest.raises(ValueError):
        games.preference_game([[0.5, 1 + 1e-6], [-1e-6, 0.5]])


def test_stack_games_rejects_mismatch():
    with pytest.raises(ValueError, match="does not match"):
        games.stack_games([games.comal_cycle(), games.condorcet_cycle(5, 0.8)])
    s = games.stack_games([games.comal_cycle(), games.rock_paper_scissors()])
    assert s.A.shape == (2, 3, 3)


# --- library ------------------------------------------------------------------------------------------------


def test_condorcet_cycle_structure():
    g = games.condorcet_cycle(5, 0.8)
    P = np.asarray(g.P)
    for i in range(5):
        assert P[i, (i + 1) % 5] == pytest.approx(0.8)
        assert P[i, (i + 2) % 5] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="n must be >= 3"):
        games.condorcet_cycle(2, 0.8)
    with pytest.raises(ValueError, match=r"p must lie in \[0.0, 1.0\]"):
        games.condorcet_cycle(3, 1.5)
    with pytest.raises(TypeError):
        games.condorcet_cycle(3.0, 0.5)


def test_bradley_terry_is_sigmoid_of_reward_difference():
    r = np.array([0.0, 1.0, -2.0])
    P = np.asarray(games.bradley_terry(r).P)
    np.testing.assert_allclose(P[1, 2], 1 / (1 + np.exp(-3.0)), rtol=1e-14)
    with pytest.raises(ValueError):
        games.bradley_terry([1.0])


@pytest.mark.parametrize("kind", games.library.RANDOM_KINDS)
def test_random_preference_is_reproducible(kind):
    a = games.random_preference(7, 5, kind)
    b = games.random_preference(7, 5, kind)
    np.testing.assert_array_equal(np.asarray(a.A), np.asarray(b.A))
    import jax

    c = games.random_preference(jax.random.PRNGKey(7), 5, kind)
    assert c.shape == (5, 5)
    with pytest.raises(ValueError, match="valid kinds"):
        games.random_preference(7, 5, "nope")


def test_cyclic_family_has_no_pure_equilibrium():
    for seed in range(50):
        eq = games.solve(games.random_preference(seed, 5, "cyclic"))
        assert eq.x.max() < 1 - 1e-6


# --- io -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".npy", ".json", ".csv"])
def test_io_roundtrip(tmp_path, suffix):
    g = games.comal_cycle()
    path = io.save(g, tmp_path / f"g{suffix}")
    h = io.load(path, kind="preference")
    np.testing.assert_array_equal(np.asarray(h.A), np.asarray(g.A))
    m = games.matrix_game([[1.0, 2.0, 3.0], [0.0, -1.0, 0.5]])
    h = io.load(io.save(m, tmp_path / f"m{suffix}"), kind="matrix")
    np.testing.assert_array_equal(np.asarray(h.A), np.asarray(m.A))


def test_io_json_contextual_with_weights(tmp_path):
    g = games.preference_game(np.stack([PAPER, np.asarray(PAPER).T]), [0.3, 0.7])
    h = io.load(io.save(g, tmp_path / "c.json"))
    np.testing.assert_allclose(np.asarray(h.weights), [0.3, 0.7])
    assert h.contextual


def test_io_errors(tmp_path):
    with pytest.raises(ValueError, match="unsupported file type"):
        io.save(games.comal_cycle(), tmp_path / "g.pkl")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="not a plain numeric"):
        io.load(tmp_path / "obj.npy", kind="preference")
    np.save(tmp_path / "bad.npy", np.full((2, 2), 0.9))
    with pytest.raises(ValueError, match="diagonal"):
        io.load(tmp_path / "bad.npy", kind="preference")
    with pytest.raises(ValueError, match="kind is required"):
        io.load(tmp_path / "bad.npy")
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(ValueError, match="invalid JSON"):
        io.load(tmp_path / "x.json")
    io.save(games.comal_cycle(), tmp_path / "p.json")
    with pytest.raises(ValueError, match="holds a preference game"):
        io.load(tmp_path / "p.json", kind="matrix")


# --- properties: every valid matrix passes, every corruption of one entry is named ------------------------------

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from games.testing import preference_games  # noqa: E402


@given(preference_games(min_n=3, max_n=6), st.data())
def test_any_single_entry_corruption_is_rejected(g, data):
    P = np.asarray(g.P).copy()
    n = P.shape[0]
    games.preference_game(P)  # the uncorrupted matrix is valid
    i, j = data.draw(st.integers(0, n - 1)), data.draw(st.integers(0, n - 1))
    delta = data.draw(st.sampled_from([-1, 1])) * data.draw(st.floats(1e-8, 0.5))
    P[i, j] += delta
    with pytest.raises(ValueError, match=r"P \+ P\^T|diagonal|\[0, 1\]"):
        games.preference_game(P)
    P[i, j] = np.nan
    with pytest.raises(ValueError, match=rf"non-finite entry nan at index \({i}, {j}\)"):
        games.preference_game(P)


# --- dtype= is validated (issue 10, item 4) ---------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [int, "int32", bool, complex, "complex64", "U3", object])
def test_non_float_dtype_rejected(dtype):
    # before: dtype=int stored an all-zero A (P - 1/2 truncated), bool and complex were accepted
    with pytest.raises(TypeError, match="dtype must be"):
        games.preference_game(PAPER, dtype=dtype)
    with pytest.raises(TypeError, match="dtype must be"):
        games.matrix_game([[0.0, 1.0], [1.0, 0.0]], dtype=dtype)


@pytest.mark.parametrize("dtype", ["float16", jnp.float16, "bfloat16", jnp.bfloat16])
def test_half_precision_rejected_with_a_clear_message(dtype):
    with pytest.raises(ValueError, match="float16 is not supported: .* use float32 or float64"):
        games.comal_cycle(dtype=dtype)


def test_overflow_after_the_cast_is_refused():
    # before: float32 stored inf for 1e300
    with pytest.raises(ValueError, match=r"A\[0, 1\] = 1e\+300 overflows float32"):
        games.matrix_game([[0, 1e300], [1, 0]], dtype="float32")
    g = games.matrix_game([[0, 1e300], [1, 0]])  # fits float64
    with pytest.raises(ValueError, match="overflows float32"):
        g.astype(jnp.float32)
    with pytest.raises(TypeError, match="dtype must be"):
        g.astype(int)


def test_float_dtype_spellings():
    for dt in ("float32", np.float32, jnp.float32):
        assert games.comal_cycle(dtype=dt).dtype == jnp.float32
    assert games.comal_cycle(dtype=float).dtype == jnp.float64  # Python float: JAX's default float (x64 on)


def test_float64_without_x64_is_an_error_not_a_silent_float32():
    import jax

    with jax.enable_x64(False):
        assert games.comal_cycle().dtype == jnp.float32  # the default follows the switch
        assert games.comal_cycle(dtype=float).dtype == jnp.float32
        with pytest.raises(ValueError, match="float64 needs x64"):
            games.comal_cycle(dtype="float64")
        with pytest.raises(ValueError, match="float64 needs x64"):
            games.matrix_game([[0.0, 1.0], [1.0, 0.0]], dtype=np.float64)


def test_float32_P_is_accepted_at_float32_precision():
    # before: preference_game(g.P) refused a float32 game's own P (P + P^T = 0.99999997)
    g = games.comal_cycle(dtype=jnp.float32)
    P32 = g.P
    assert P32.dtype == jnp.float32
    h = games.preference_game(P32, dtype=jnp.float32)
    # P = A + 1/2 rounded to float32 carries at most one float32 ulp at 1 (2^-24) of the payoff
    np.testing.assert_allclose(np.asarray(h.A), np.asarray(g.A), rtol=0, atol=2**-24)
    # the tolerance follows the input's precision: the same defect in float64 input is still refused
    with pytest.raises(ValueError, match=r"P \+ P\^T must equal 1 \(within 1.0e-09\)"):
        games.preference_game(np.asarray(P32, np.float64))
    # and float32 input is still checked: an error 100x float32 round-off is refused
    bad = np.asarray(P32).copy()
    bad[0, 1] += np.float32(1e-5)
    with pytest.raises(ValueError, match=r"within 9.5e-07"):
        games.preference_game(bad)


# --- seeds and keys: one check for every keyed function (items 8, 12) -----------------------------------------


@pytest.mark.parametrize(
    "key, exc, match",
    [
        (-1, ValueError, "got -1"),
        (2**63, ValueError, "got 9223372036854775808"),
        (np.int64(-5), ValueError, "got -5"),
        (np.uint64(2**64 - 1), ValueError, "got 18446744073709551615"),
        (1.5, TypeError, r"got 1.5 \(float\)"),
        (3.0, TypeError, r"got 3.0 \(float\)"),
        (True, TypeError, "got the bool True"),
        (np.bool_(False), TypeError, "got the bool False"),
        ("7", TypeError, r"got '7' \(str\)"),
        (None, TypeError, r"got None \(NoneType\)"),
        (np.array([1, 2], np.int32), TypeError, "dtype int32"),
        (np.array([1, 2, 3], np.uint32), TypeError, r"shape \(3,\)"),
        (np.array(1.0), TypeError, "dtype float64"),
    ],
)
def test_check_seed_rejects(key, exc, match):
    with pytest.raises(exc, match=rf"^key must be a non-negative integer seed below 2\*\*63 .*{match}"):
        games.core.check_seed(key, "key")
    with pytest.raises(exc, match="key must be"):  # random_preference used to give numpy's bare message
        games.random_preference(key, 3)


def test_check_seed_accepts_and_names_the_argument():
    import jax

    from games.core import check_seed

    assert check_seed(0) == 0 and check_seed(2**63 - 1) == 2**63 - 1
    assert check_seed(np.uint32(5)) == 5 and type(check_seed(np.int64(5))) is int
    assert check_seed(np.array(7)) == 7
    raw = check_seed(jax.random.PRNGKey(3))
    np.testing.assert_array_equal(np.asarray(raw), [0, 3])
    np.testing.assert_array_equal(np.asarray(check_seed(jax.random.key(3))), [0, 3])
    with pytest.raises(ValueError, match="^seed must be"):
        check_seed(-1, "seed")
    # the largest seed works end to end; an int and a NumPy int give the same game
    assert games.random_preference(2**63 - 1, 3, "uniform").shape == (3, 3)
    np.testing.assert_array_equal(
        np.asarray(games.random_preference(np.int64(11), 4).A), np.asarray(games.random_preference(11, 4).A)
    )
    with pytest.raises(ValueError, match="single jax.random key"):
        games.random_preference(jax.random.split(jax.random.PRNGKey(0), 2), 3)


@pytest.mark.parametrize("kind", ["cyclic", "mixed"])
def test_random_cycles_need_three_responses(kind):
    # before: n=2 raised an unrelated "P + P^T must equal 1" for most seeds
    with pytest.raises(ValueError, match=f"n must be >= 3 for kind='{kind}'"):
        games.random_preference(0, 2, kind)
    assert games.random_preference(0, 3, kind).shape == (3, 3)


def test_random_uniform_two_responses_is_fine():
    for seed in range(20):
        P = np.asarray(games.random_preference(seed, 2, "uniform").P)
        assert P[0, 1] + P[1, 0] == pytest.approx(1.0, abs=1e-15)
