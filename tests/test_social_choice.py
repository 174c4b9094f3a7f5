"""Condorcet winner, Smith set, cyclic triads, Hodge decomposition, exploitability: hand-worked examples."""

import numpy as np
import pandas as pd
import pytest

import games
from games import social_choice as sc


def wins(pairs):
    """One record 'left beats right' per (winner, loser, times)."""
    rows = [(w, l, "left") for w, l, k in pairs for _ in range(k)]
    return pd.DataFrame(rows, columns=["left", "right", "winner"])


# a > b > c > a (a cycle), each of them beats d and e, and d > e
TOP_CYCLE = wins(
    [("a", "b", 1), ("b", "c", 1), ("c", "a", 1)] + [(x, y, 1) for x in "abc" for y in "de"] + [("d", "e", 1)]
)


def test_condorcet_and_smith():
    g = games.from_comparisons(TOP_CYCLE)
    assert sc.condorcet_winner(g) is None
    assert sc.smith_set(g) == ["a", "b", "c"]
    # without the cycle (b > a instead of a > b... c > a kept): b beats a and c, c beats a: b is the Condorcet winner
    g = games.from_comparisons(wins([("b", "a", 1), ("b", "c", 1), ("c", "a", 1)]))
    assert sc.condorcet_winner(g) == "b" and sc.smith_set(g) == ["b"]
    # a tie joins the top: b ~ a (P = 1/2) means a is not beaten by b, so {a, b} (a > c) is the Smith set
    df = pd.concat(
        [
            wins([("b", "c", 1), ("a", "c", 1)]),
            pd.DataFrame([("a", "b", "tie")], columns=["left", "right", "winner"]),
        ]
    )
    g = games.from_comparisons(df)
    assert sc.condorcet_winner(g) is None and sc.smith_set(g) == ["a", "b"]


def test_cyclic_triads_hand_count():
    # triples of TOP_CYCLE (all 10 observed): abc is the only strict cycle
    t = sc.cyclic_triads(games.tally(TOP_CYCLE))
    assert (t.cyclic, t.observed, t.share) == (1, 10, 0.1)
    # drop the pair d-e: triples with d and e are no longer fully observed: abc, abd, abe, acd, ace, bcd, bce = 7
    t = sc.cyclic_triads(games.tally(TOP_CYCLE.iloc[:-1]))
    assert (t.cyclic, t.observed) == (1, 7)


def test_hodge_pure_parts():
    # transitive: a > b > c with rates from one model of scores -> gradient only
    df = wins([("a", "b", 3), ("b", "a", 1), ("b", "c", 3), ("c", "b", 1), ("a", "c", 3), ("c", "a", 1)])
    # flow Y_ab = Y_bc = 1/4, Y_ac = 1/4: not a gradient (1/4 + 1/4 != 1/4); with equal weights the curl part is
    # the projection on (1, 1, -1)/sqrt(3): (Y . u)^2 = (1/4 + 1/4 - 1/4)^2 / 3 = 1/48 of ||Y||^2 = 3/16: 1/9
    h = sc.hodge_decomposition(games.tally(df))
    assert abs(h.curl - 1 / 9) < 1e-12 and abs(h.gradient - 8 / 9) < 1e-12 and abs(h.harmonic) < 1e-12
    # a 3-cycle: curl only
    h = sc.hodge_decomposition(games.tally(wins([("a", "b", 1), ("b", "c", 1), ("c", "a", 1)])))
    assert abs(h.curl - 1) < 1e-12 and h.triangles == 1
    # a 4-cycle without chords has no triangle: harmonic only
    h = sc.hodge_decomposition(
        games.tally(wins([("a", "b", 1), ("b", "c", 1), ("c", "d", 1), ("d", "a", 1)]))
    )
    assert abs(h.harmonic - 1) < 1e-12 and h.triangles == 0 and abs(h.gradient) < 1e-12


def test_hodge_shares_sum_to_one_on_data():
    h = sc.hodge_decomposition(games.datasets.llmfao_comparisons("gpt4").pooled())
    assert abs(h.gradient + h.curl + h.harmonic - 1) < 1e-9
    assert min(h.gradient, h.curl, h.harmonic) > -1e-12


def test_exploitability_of_a_pure_leader():
    # a beats b with P = 3/4 but loses to c with P = 1/3 (c 2 of 3); b-c: c 1 of 2
    df = wins([("a", "b", 3), ("b", "a", 1), ("c", "a", 2), ("a", "c", 1), ("b", "c", 1), ("c", "b", 1)])
    g = games.from_comparisons(df)
    e = sc.exploitability(g, "a")
    assert (
        abs(e.worst_case_win_rate - 1 / 3) < 1e-12 and abs(e.gap - 1 / 3) < 1e-12 and e.best_response == "c"
    )
    with pytest.raises(ValueError, match="'z' is not an action"):
        sc.exploitability(g, "z")
    np.testing.assert_array_equal(sc.pure(g, "b"), [0.0, 1.0, 0.0])
