"""A loss-based rule under ``sampled(K, counts=True)``: the judged pairs drawn as their counts over the n^2
ordered cells, against the pairs drawn one by one.

The reference values are the cell probabilities of one judged pair, worked out by hand from the paper matrix
``P = [[.5, .1, .8], [.9, .5, .1], [.2, .9, .5]]`` at the uniform policy: a pair (a, b) is drawn with
probability 1/9; with hard labels a beats b with probability P[a, b], and (a, b) or (b, a) can be the drawn
order, so the judged (winner, loser) = (i, j), i != j, has probability 2/9 P[i, j], and a tie (i, i) 1/9.
"""

import numpy as np
import pytest
from scipy import stats

import algorithms
import games
from algorithms import policies

GAME = games.comal_cycle()
SEEDS = 20000
# one judged pair from uniform, hard labels: P(winner i, loser j) = 2/9 P[i, j]; the three ties 1/9 each
HARD = {
    "tie": 3 / 9,
    (0, 1): 2 / 9 * 0.1,
    (1, 0): 2 / 9 * 0.9,
    (0, 2): 2 / 9 * 0.8,
    (2, 0): 2 / 9 * 0.2,
    (1, 2): 2 / 9 * 0.1,
    (2, 1): 2 / 9 * 0.9,
}
# soft labels: the drawn pair {a, b} (2/9 each, whichever order) weighted by P; the favourite gains
SOFT = {"tie": 3 / 9, (1, 0): 2 / 9, (0, 2): 2 / 9, (2, 1): 2 / 9}


def _outcomes(labels: str, counts: bool) -> dict:
    """One INPO step on one judged pair (of K = 8 drawn) from uniform, over SEEDS seeds: the frequency of
    each (action gaining most, action losing most), or 'tie' (a pair (i, i) leaves the policy unchanged:
    its log-ratio is 0 whatever the parameters). One optimizer step: on a single pair the square loss has
    curvature 4 along theta_w - theta_l, so SGD 0.5 flips h between two values and an even number of steps
    lands back on the start."""
    rule = algorithms.loss_based("inpo", policies.tabular(GAME), labels=labels, optimizer_steps=1)
    fb = games.feedback.sampled(8, counts=counts)
    tr = algorithms.sweep(rule, GAME, steps=1, record_every=1, seeds=SEEDS, feedback=fb, samples=1)
    d = np.asarray(tr.policy.x) - 1 / 3  # [seeds, 3]
    tie = np.abs(d).max(axis=1) < 1e-12
    keys = ["tie" if t else (int(i), int(j)) for t, i, j in zip(tie, d.argmax(axis=1), d.argmin(axis=1))]
    values, freq = np.unique(np.array([str(k) for k in keys]), return_counts=True)
    return dict(zip(values, freq))


#: The default run draws each feedback and each kind of label once (hard labels as pairs, soft as counts); ``-m
#: slow`` draws all four.
@pytest.mark.parametrize(
    "labels, expected, counts",
    [
        pytest.param("hard", HARD, False, id="hard-pairs"),
        pytest.param("hard", HARD, True, id="hard-counts", marks=pytest.mark.slow),
        pytest.param("soft", SOFT, False, id="soft-pairs", marks=pytest.mark.slow),
        pytest.param("soft", SOFT, True, id="soft-counts"),
    ],
)
def test_one_judged_pair_falls_in_each_cell_with_its_hand_computed_probability(labels, expected, counts):
    seen = _outcomes(labels, counts)
    assert set(seen) <= {str(k) for k in expected}, seen  # no outcome the hand count rules out
    observed = np.array([seen.get(str(k), 0) for k in expected])
    p = stats.chisquare(observed, SEEDS * np.array(list(expected.values()))).pvalue
    assert p > 1e-3, (observed, p)


@pytest.mark.slow  # 2 x 20,000 seeds of a contextual batch; by default the hand-computed cells above check draws
@pytest.mark.parametrize("labels", ["hard", "soft"])
def test_counts_and_pairs_give_the_same_one_step_distribution_on_a_contextual_batch(labels):
    """Two prompts drawn of three (rho non-uniform), 16 judged pairs each, a non-uniform start: the mean and
    the spread of the policy after one step agree between the two draws within 4 standard errors."""
    transitive = 0.5 + 0.3 * (np.triu(np.ones((3, 3)), 1) - np.tril(np.ones((3, 3)), -1))
    game = games.preference_game(np.stack([GAME.P, GAME.P.T, transitive]), weights=[0.5, 0.3, 0.2])
    start = np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1], [0.3, 0.3, 0.4]])
    x = {}
    for counts in (False, True):
        rule = algorithms.loss_based("inpo", policies.tabular(game), prompts=2, labels=labels)
        fb = games.feedback.sampled(64, counts=counts)
        tr = algorithms.sweep(
            rule, game, steps=1, record_every=1, seeds=SEEDS, feedback=fb, samples=16, start=start
        )
        x[counts] = np.asarray(tr.policy.x).reshape(SEEDS, -1)
    se = np.sqrt((x[False].var(0) + x[True].var(0)) / SEEDS)
    assert np.all(np.abs(x[False].mean(0) - x[True].mean(0)) < 4 * se + 1e-15)
    # the spreads: log of the std ratio within 4 standard errors, each log-std's error by the delta method,
    # Var(log s) ~ (kurtosis - 1) / (4 N): the draws are far from normal (kurtosis up to 8 here, where the normal
    # theory's 1 / (2 N) assumes 3 and made a 4-sigma bound of a 2.3-sigma deviation)
    kurtosis = [((a - a.mean(0)) ** 4).mean(0) / a.var(0) ** 2 for a in x.values()]
    se_log = np.sqrt(sum((k - 1) / (4 * SEEDS) for k in kurtosis))
    log_ratio = np.log(x[True].std(0) / x[False].std(0))
    assert np.all(np.abs(log_ratio) < 4 * se_log), (log_ratio, se_log)
