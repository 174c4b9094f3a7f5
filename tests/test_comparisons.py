"""Games from comparison records: literal counts -> literal P, ties, missing modes, Bradley-Terry, robust LP.

Every expected number is worked out by hand from the data construction of the equations sheet (comparison
data: counts, rates, margins, Bradley-Terry with ties as half wins, worst case over unobserved pairs).
"""

import warnings

import jax
import numpy as np
import pandas as pd
import pytest

import games
from games import comparisons as gc


def records(rows, prompt=None):
    """rows: (left, right, winner, times)."""
    out = [(l, r, w) for l, r, w, k in rows for _ in range(k)]
    df = pd.DataFrame(out, columns=["left", "right", "winner"])
    if prompt is not None:
        df["prompt"] = prompt
    return df


# The 4-model example: a-b: a 2 wins, b 1, 1 tie (n=4); b-c: b 1 win, 1 tie (n=2); c-a: c 3 wins (n=3);
# d-a: 2 ties (n=2). Never compared: b-d, c-d.
FOUR = records(
    [
        ("a", "b", "left", 2),
        ("b", "a", "left", 1),
        ("a", "b", "tie", 1),
        ("b", "c", "left", 1),
        ("c", "b", "tie", 1),
        ("c", "a", "left", 3),
        ("d", "a", "tie", 2),
    ]
)


def test_literal_counts_to_literal_P():
    c = gc.tally(FOUR)
    assert c.labels == ("a", "b", "c", "d")
    W = [[0, 2, 0, 0], [1, 0, 1, 0], [3, 0, 0, 0], [0, 0, 0, 0]]
    T = [[0, 1, 0, 2], [1, 0, 1, 0], [0, 1, 0, 0], [2, 0, 0, 0]]
    assert c.wins[0].tolist() == W and c.ties[0].tolist() == T
    assert c.num_records == 11 and c.unobserved() == 2
    P = np.asarray(games.from_comparisons(FOUR, missing="tie").P)
    expected = [
        [0.5, 0.625, 0.0, 0.5],  # a>b: (2 + 1/2)/4; a>c: 0/3; a>d: (0 + 2/2)/2
        [0.375, 0.5, 0.75, 0.5],  # b>c: (1 + 1/2)/2; b-d unobserved: 1/2
        [1.0, 0.25, 0.5, 0.5],  # c>a: 3/3; c-d unobserved
        [0.5, 0.5, 0.5, 0.5],
    ]
    np.testing.assert_allclose(P, expected, rtol=0, atol=1e-15)


def test_ties_dropped_and_prior():
    # ties=0: a>b = 2/3, b>c = 1/1, and d-a (only ties) becomes unobserved: 3 missing pairs
    g = games.from_comparisons(FOUR, missing="tie", ties=0)
    P = np.asarray(g.P)
    np.testing.assert_allclose([P[0, 1], P[1, 2], P[2, 0], P[3, 0]], [2 / 3, 1.0, 1.0, 0.5], atol=1e-15)
    with pytest.raises(ValueError, match="^3 of the 6 pairs"):
        games.from_comparisons(FOUR, ties=0)
    # Beta(1, 1): a>b = (2.5+1)/(4+2) = 7/12; b>c = (1.5+1)/(2+2) = 5/8; c>a = (3+1)/(3+2) = 4/5; d>a = 2/4
    P = np.asarray(games.from_comparisons(FOUR, missing="tie", prior=1.0).P)
    np.testing.assert_allclose(
        [P[0, 1], P[1, 2], P[2, 0], P[3, 0]], [7 / 12, 5 / 8, 4 / 5, 1 / 2], atol=1e-15
    )


def test_margins_game():
    # n_bar = (4 + 2 + 3 + 2) / 4 = 11/4; A_ij = (W_ij - W_ji) / (2 n_bar) = (W_ij - W_ji) / 5.5
    g = games.from_comparisons(FOUR, missing="tie", kind="margins")
    A = np.asarray(g.A)
    assert not g.preference and g.symmetric
    np.testing.assert_allclose(
        [A[0, 1], A[1, 2], A[2, 0], A[3, 0]], [1 / 5.5, 1 / 5.5, 3 / 5.5, 0.0], atol=1e-15
    )
    np.testing.assert_array_equal(A, -A.T)


def test_missing_is_required_and_counted():
    with pytest.raises(
        ValueError, match="2 of the 6 pairs were never compared.*'tie'.*'bradley_terry'.*'worst_case'"
    ):
        games.from_comparisons(FOUR)
    with pytest.raises(ValueError, match="missing must be one of"):
        games.from_comparisons(FOUR, missing="zero")


def test_worst_case_missing():
    A = np.asarray(games.from_comparisons(FOUR, missing="worst_case").A)
    # unobserved b-d and c-d: -1/2 on both sides; observed entries are P - 1/2
    for i, j in [(1, 3), (3, 1), (2, 3), (3, 2)]:
        assert A[i, j] == -0.5
    np.testing.assert_allclose([A[0, 1], A[1, 0], A[2, 0]], [0.125, -0.125, 0.5], atol=1e-15)


def _mm_bradley_terry(w, iters=20000):
    """Hunter's (2004) MM iteration from the equations sheet: p_i <- sum_j w_ij / sum_j n_ij / (p_i + p_j)."""
    n = w.shape[0]
    nn = w + w.T
    p = np.ones(n)
    for _ in range(iters):
        p = w.sum(1) / (nn / (p[:, None] + p[None, :])).sum(1)
        p /= np.exp(np.log(p).mean())
    return np.log(p)


def test_bradley_terry_missing_against_mm():
    c = gc.tally(FOUR)
    w = np.array([[0, 2.5, 0, 1], [1.5, 0, 1.5, 0], [3, 0.5, 0, 0], [1, 0, 0, 0]])  # W + T/2
    s = _mm_bradley_terry(w)
    fit = games.bradley_terry_fit(c)
    np.testing.assert_allclose(fit.scores.to_numpy(), s, atol=1e-8)
    P = np.asarray(games.from_comparisons(FOUR, missing="bradley_terry").P)
    sig = lambda z: 1 / (1 + np.exp(-z))
    np.testing.assert_allclose([P[1, 3], P[2, 3]], [sig(s[1] - s[3]), sig(s[2] - s[3])], atol=1e-8)
    assert P[0, 1] == 0.625  # observed pairs keep their rates


def test_bradley_terry_two_models_closed_form():
    # W_12 = 3, W_21 = 1, T = 2: s_1 - s_2 = log((3 + 1) / (1 + 1)) = log 2;
    # L = 4 log sigma(log 2) + 2 log sigma(-log 2) = 4 log(2/3) + 2 log(1/3)
    df = records([("x", "y", "left", 3), ("y", "x", "left", 1), ("x", "y", "tie", 2)])
    fit = games.bradley_terry_fit(gc.tally(df))
    assert abs((fit.scores["x"] - fit.scores["y"]) - np.log(2.0)) < 1e-12
    assert abs(fit.log_likelihood - (4 * np.log(2 / 3) + 2 * np.log(1 / 3))) < 1e-12
    assert fit.leader == "x" and abs(fit.scores.sum()) < 1e-12


def test_bradley_terry_gradient_zero_at_fit_random():
    rng = np.random.default_rng(3)
    n = 6
    i = rng.integers(0, n, 400)
    j = (i + rng.integers(1, n, 400)) % n
    df = pd.DataFrame({"left": [f"m{k}" for k in i], "right": [f"m{k}" for k in j]})
    df["winner"] = rng.choice(["left", "right", "tie"], 400, p=[0.5, 0.3, 0.2])
    c = gc.tally(df)
    w = c.wins[0] + 0.5 * c.ties[0]

    def loglik(s):  # written out: sum_{i != j} w_ij log(1 / (1 + exp(-(s_i - s_j))))
        return sum(w[a, b] * -np.log1p(np.exp(-(s[a] - s[b]))) for a in range(n) for b in range(n) if a != b)

    fit = games.bradley_terry_fit(c)
    s = fit.scores.to_numpy()
    h = 1e-6
    grad = [(loglik(s + h * e) - loglik(s - h * e)) / (2 * h) for e in np.eye(n)]
    np.testing.assert_allclose(grad, 0.0, atol=1e-6)
    assert abs(fit.log_likelihood - loglik(s)) < 1e-9
    # the gradient at s = 0 is sum_j (w_ij - n_ij / 2): the fit moves a model up exactly when it won more
    g0 = [(loglik(h * e) - loglik(-h * e)) / (2 * h) for e in np.eye(n)]
    np.testing.assert_allclose(g0, (w - (w + w.T) / 2).sum(1), atol=1e-5)
    np.testing.assert_array_equal(np.argsort(s), np.argsort(_mm_bradley_terry(w)))


def test_bradley_terry_no_mle():
    df = records([("a", "b", "left", 2), ("b", "c", "left", 1), ("c", "b", "left", 1)])
    with pytest.raises(ValueError, match=r"does not exist.*\['a'\] never lost"):
        games.bradley_terry_fit(gc.tally(df))


def test_robust_lp_against_brute_force():
    # 3 models: a>b 3 of 4 (P = 3/4), b>c 4 of 5 (P = 4/5); a-c never compared
    df = records([("a", "b", "left", 3), ("b", "a", "left", 1), ("b", "c", "left", 4), ("c", "b", "left", 1)])
    g = games.from_comparisons(df, missing="worst_case")
    eq = games.solve(g)
    # brute force: every completion P_ac in a grid of [0, 1], every x on a 1/300 grid of the simplex
    k = 300
    xs = np.array([(i, j, k - i - j) for i in range(k + 1) for j in range(k + 1 - i)]) / k
    worst = np.full(len(xs), np.inf)
    for p in np.linspace(0, 1, 11):
        P = np.array([[0.5, 0.75, p], [0.25, 0.5, 0.8], [1 - p, 0.2, 0.5]])
        worst = np.minimum(worst, (xs @ (P - 0.5)).min(1))
    assert abs(worst.max() - eq.value) < 2e-3
    # and the LP's strategy attains its value against every completion (up to the certificate)
    for p in np.linspace(0, 1, 101):
        P = np.array([[0.5, 0.75, p], [0.25, 0.5, 0.8], [1 - p, 0.2, 0.5]])
        assert (eq.x @ (P - 0.5)).min() >= eq.value - 1e-9
    assert eq.value < 0  # nothing is safe against an adversarial completion here


def test_contextual_weights():
    df = pd.concat([records([("a", "b", "left", 3)], "p1"), records([("a", "b", "right", 1)], "p2")])
    g = games.from_comparisons(df, prompt="prompt")
    assert g.contextual and g.labels == ("a", "b")
    np.testing.assert_allclose(np.asarray(g.weights), [0.75, 0.25])
    np.testing.assert_allclose(np.asarray(g.P)[:, 0, 1], [1.0, 0.0])
    g = games.from_comparisons(df, prompt="prompt", weights="uniform")
    np.testing.assert_allclose(np.asarray(g.weights), [0.5, 0.5])
    # one prompt: a single game
    g = games.from_comparisons(records([("a", "b", "left", 3)], "only"), prompt="prompt")
    assert not g.contextual


def test_count_column_and_outcome_mapping(tmp_path):
    df = pd.DataFrame({"model_a": ["a", "b"], "model_b": ["b", "a"], "who": ["A", "TIE"], "k": [3, 2]})
    kw = dict(
        left="model_a",
        right="model_b",
        winner="who",
        count="k",
        outcomes={"A": "left", "B": "right", "TIE": "tie"},
    )
    c = gc.tally(df, **kw)
    assert c.wins[0].tolist() == [[0, 3], [0, 0]] and c.ties[0].tolist() == [[0, 2], [2, 0]]
    path = tmp_path / "c.csv"
    df.to_csv(path, index=False)
    np.testing.assert_array_equal(gc.tally(path, **kw).wins, c.wins)


@pytest.mark.parametrize(
    "frame, kwargs, message",
    [
        (
            pd.DataFrame({"left": ["a", "a"], "right": ["b", "b"], "winner": ["left", "draw"]}),
            {},
            "row 1 has winner 'draw'",
        ),
        (
            pd.DataFrame({"left": ["a", "c"], "right": ["b", "c"], "winner": ["left", "tie"]}),
            {},
            "row 1 compares model 'c' with itself",
        ),
        (
            pd.DataFrame({"left": ["a", None], "right": ["b", "a"], "winner": ["left", "tie"]}),
            {},
            "row 1 has a missing value .* 'left'",
        ),
        (pd.DataFrame({"left": [], "right": [], "winner": []}), {}, "empty"),
        (
            pd.DataFrame({"left": ["a", "a"], "right": ["b", "b"], "winner": ["left", "tie"], "k": [1, 1.5]}),
            {"count": "k"},
            "row 1 has count '1.5'",
        ),
        (
            pd.DataFrame({"left": ["a", "a"], "right": ["b", "b"], "winner": ["left", "tie"], "k": [1, -1]}),
            {"count": "k"},
            "row 1 has count '-1'",
        ),
        (
            pd.DataFrame({"left": ["a"], "right": ["b"], "winner": ["left"]}),
            {"prompt": "p"},
            r"no column\(s\) \['p'\]",
        ),
    ],
)
def test_bad_records(frame, kwargs, message):
    with pytest.raises(ValueError, match=message):
        gc.tally(frame, **kwargs)


def test_bad_options():
    with pytest.raises(TypeError, match="DataFrame or a CSV path"):
        gc.tally([("a", "b", "left")])
    with pytest.raises(ValueError, match="file not found"):
        gc.tally("/nonexistent/file.csv")
    with pytest.raises(ValueError, match="kind must be one of"):
        games.from_comparisons(FOUR, missing="tie", kind="votes")
    with pytest.raises(ValueError, match="prior applies to kind='rates' only"):
        games.from_comparisons(FOUR, missing="tie", kind="margins", prior=1.0)
    with pytest.raises(ValueError, match="prior must be"):
        games.from_comparisons(FOUR, missing="tie", prior=0.0)
    with pytest.raises(ValueError, match="ties must be"):
        games.from_comparisons(FOUR, missing="tie", ties=-0.5)
    with pytest.raises(ValueError, match=r"outcomes\['x'\] = 'win'"):
        gc.tally(FOUR, outcomes={"x": "win"})


def test_whitespace_names_warn():
    df = pd.DataFrame({"left": ["GPT 4", "GPT  4 "], "right": ["b", "b"], "winner": ["left", "tie"]})
    with pytest.warns(UserWarning, match="differ only by whitespace"):
        c = gc.tally(df)
    assert c.num_models == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gc.tally(FOUR)


def test_labels_travel_through_jit_and_stack():
    g = games.from_comparisons(FOUR, missing="tie")
    out = jax.jit(lambda g: g)(g)
    assert out.labels == ("a", "b", "c", "d")
    assert games.stack_games([g, g]).labels == g.labels
    with pytest.raises(ValueError, match="labels must be distinct"):
        games.preference_game(np.full((2, 2), 0.5), labels=["a", "a"])
    with pytest.raises(ValueError, match="one entry per action"):
        games.preference_game(np.full((2, 2), 0.5), labels=["a"])
