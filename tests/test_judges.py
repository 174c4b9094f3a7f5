"""Judges as feedback models (games.judges), the orders of sampled duels (games.feedback), fitted preference
models (games.fitted) and Xu et al.'s PNT / SNTD (games.metrics). Expected values are worked out by hand
(written as literal numbers or fractions), closed forms, or hand-solved games."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import algorithms
import games
from games import Profile, fitted
from games import judges as J
from games.feedback import Oracle

PAPER = np.array([[0.5, 0.1, 0.8], [0.9, 0.5, 0.1], [0.2, 0.9, 0.5]])
HALF = np.full((3, 3), 0.5)
# float64 round-off of a sum like 0.1 + 0.1: a few ulp of 1
ULP = 4e-16


# --- one bias at a time, 3x3, by hand -----------------------------------------------------------------------------


def test_position_bias_adds_b_to_the_first_shown_and_clips():
    got = np.asarray(J.first_wins(J.Judge(position=0.1), PAPER))
    want = [[0.6, 0.2, 0.9], [1.0, 0.6, 0.2], [0.3, 1.0, 0.6]]
    np.testing.assert_allclose(got, want, rtol=0, atol=ULP)
    clipped = np.asarray(J.first_wins(J.Judge(position=0.2), PAPER))
    assert clipped[1, 0] == 1.0 and clipped[2, 1] == 1.0  # 0.9 + 0.2 clipped to 1
    np.testing.assert_allclose(clipped[0, 1], 0.3, atol=ULP)
    negative = np.asarray(J.first_wins(J.Judge(position=-0.2), PAPER))
    np.testing.assert_allclose(negative[0], [0.3, 0.0, 0.6], atol=ULP)  # 0.1 - 0.2 clipped to 0


def test_style_bias_is_a_logit_bonus_per_unit_of_feature():
    # P = 1/2 everywhere, s = (0, 1, 2), lambda = ln 2: J_ij = 2^(s_i - s_j) / (1 + 2^(s_i - s_j))
    got = np.asarray(J.first_wins(J.Judge(style=math.log(2)), HALF, features=[0.0, 1.0, 2.0]))
    want = [[0.5, 1 / 3, 1 / 5], [2 / 3, 0.5, 1 / 3], [4 / 5, 2 / 3, 0.5]]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-15)


def test_self_preference_favours_the_judges_own_responses():
    # beta = ln 3 on response 0: it wins 3/4 against the others, the others tie
    got = np.asarray(
        J.first_wins(J.Judge(self_preference=math.log(3)), HALF, own=np.array([True, False, False]))
    )
    want = [[0.5, 0.75, 0.75], [0.25, 0.5, 0.5], [0.25, 0.5, 0.5]]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-15)


def test_label_noise_flips_with_probability_eps():
    got = np.asarray(J.first_wins(J.Judge(noise=0.1), PAPER))
    # 0.9 * 0.1 + 0.1 * 0.9 = 0.18; 0.9 * 0.8 + 0.1 * 0.2 = 0.74; 0.9 * 0.5 + 0.1 * 0.5 = 0.5
    np.testing.assert_allclose(got[0], [0.5, 0.18, 0.74], atol=ULP)
    np.testing.assert_allclose(got[2, 1], 0.9 * 0.9 + 0.1 * 0.1, atol=ULP)


def test_biases_compose_and_run_under_jit_and_vmap():
    zero = jnp.zeros(2)
    batch = J.Judge(jnp.array([0.0, 0.1]), zero, zero, jnp.array([0.0, 0.5]))
    out = jax.jit(jax.vmap(lambda j: J.first_wins(j, PAPER)))(batch)
    np.testing.assert_allclose(out[0], PAPER, atol=0)
    np.testing.assert_allclose(out[1], np.full((3, 3), 0.5), atol=ULP)  # eps = 1/2: a coin


def test_user_judge_and_lengths():
    Jm = J.user_judge(lambda i, j: 0.5 + 0.25 * (i < j) - 0.25 * (i > j), 3)
    assert Jm.tolist() == [[0.5, 0.75, 0.75], [0.25, 0.5, 0.75], [0.25, 0.25, 0.5]]
    g = games.sequence_game(vocab=3, length=2)  # aa ab ac ba bb bc ca cb cc; 'a' ends a sequence
    assert J.lengths(g).tolist() == [0, 0, 0, 1, 2, 2, 1, 2, 2]


def test_bad_inputs_are_refused_by_name():
    with pytest.raises(ValueError, match="position must be a finite number in"):
        J.judge(position=1.5)
    with pytest.raises(ValueError, match="noise"):
        J.judge(noise=-0.1)
    with pytest.raises(TypeError, match="style must be a real number"):
        J.judge(style="big")
    with pytest.raises(ValueError, match="needs features="):
        J.first_wins(J.Judge(style=1.0), PAPER)
    with pytest.raises(ValueError, match="needs own="):
        J.first_wins(J.Judge(self_preference=1.0), PAPER)
    with pytest.raises(TypeError, match="expects a games.judges.Judge"):
        J.first_wins((0.1, 0, 0, 0), PAPER)
    with pytest.raises(ValueError, match="must return shape"):
        J.user_judge(lambda i, j: i, 3)
    with pytest.raises(ValueError, match="order must be one of fixed, random, both, got 'sideways'"):
        games.feedback.sampled(4, order="sideways")
    with pytest.raises(ValueError, match="order applies to kind 'sampled' only"):
        games.feedback.Feedback("exact", order="both")
    with pytest.raises(ValueError, match="order must be one of"):
        J.price(games.comal_cycle(), games.comal_cycle(), order="up")
    with pytest.raises(ValueError, match="shape"):
        J.judge_game(games.comal_cycle(), np.full((4, 4), 0.5))


# --- skew-symmetry and the presentation modes ---------------------------------------------------------------------


def test_a_fixed_order_breaks_skew_symmetry_and_symmetrizing_restores_P_exactly():
    Jm = np.asarray(J.first_wins(J.Judge(position=0.026), PAPER))
    np.testing.assert_allclose(Jm + Jm.T, np.full((3, 3), 1.052), atol=ULP)  # 1 + 2b: not a preference
    K = np.asarray(J.skew_part(Jm))
    np.testing.assert_allclose(K, PAPER, rtol=0, atol=ULP)  # (P + b + 1 - P^T - b) / 2 = P (P + P^T = 1)
    np.testing.assert_allclose(K + K.T, np.ones((3, 3)), atol=ULP)
    truth = games.comal_cycle()
    g = J.judge_game(truth, Jm)
    assert J.played_game(g, "fixed") is g
    np.testing.assert_allclose(np.asarray(J.played_game(g, "both").P), PAPER, atol=ULP)


def _mean_and_var(game, fb, pi, draws=3000):
    logits = Profile(jnp.log(jnp.asarray(pi)))

    def one(k):
        return Oracle(game, fb, k).gradient(logits).x

    est = np.asarray(jax.jit(jax.vmap(one))(jax.random.split(jax.random.key(0), draws)))
    return est.mean(0), est.var(0)


@pytest.mark.parametrize("counts", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_random_and_both_orders_restore_skew_symmetry_in_expectation(counts):
    # b = 0.1 on the paper game, pi uniform: under a fixed order each action's judged win rate is its row mean
    # plus b; under random or both orders it is the row mean of P: (1.4, 1.5, 1.6) / 3.
    truth = games.comal_cycle()
    g = J.judge_game(truth, J.first_wins(J.Judge(position=0.1), truth.P))
    pi = np.full(3, 1 / 3)
    true_grad = np.array([1.4, 1.5, 1.6]) / 3 - 0.5
    samples = 40
    for order, shift in (("fixed", 0.1), ("random", 0.0), ("both", 0.0)):
        fb = games.feedback.sampled(samples, order)
        if counts:
            mean, var = _mean_and_var_counts(g, fb, pi)
        else:
            mean, var = _mean_and_var(g, fb, pi)
        se = np.sqrt(var / 3000)
        assert np.all(np.abs(mean - (true_grad + shift)) < 5 * se + 1e-12), (order, mean)
        if order == "random":
            var_random = var
        if order == "both":
            assert np.all(var < var_random)  # two verdicts per duel: a smaller variance


def _mean_and_var_counts(game, fb, pi, draws=3000):
    logits = Profile(jnp.log(jnp.asarray(pi)))

    def one(k):
        return Oracle(game, dataclasses.replace(fb, counts=True), k).gradient(logits).x

    est = np.asarray(jax.jit(jax.vmap(one))(jax.random.split(jax.random.key(1), draws)))
    return est.mean(0), est.var(0)


@pytest.mark.slow
def test_both_orders_variance_matches_the_hand_computed_outcome_distribution():
    # a 3-action judge with J[0, 1] = 0.9 and J[1, 0] = 0.3 (position-biased), opponent always action 1:
    # action 0's duel outcome is 1 w.p. 0.9 * 0.7 = 0.63, 0 w.p. 0.1 * 0.3 = 0.03, 1/2 w.p. 0.34:
    # mean 0.63 + 0.17 = 0.8, variance 0.63 + 0.34 / 4 - 0.64 = 0.075 per duel
    Jm = np.array([[0.6, 0.9, 0.5], [0.3, 0.6, 0.5], [0.5, 0.5, 0.6]])
    base = games.preference_game(HALF)
    g = J.judge_game(base, Jm)
    pi = np.array([1e-300, 1.0, 1e-300])
    for counts in (False, True):
        f = _mean_and_var_counts if counts else _mean_and_var
        mean, var = f(g, games.feedback.sampled(10, "both"), pi, draws=4000)
        assert abs(mean[0] - 0.3) < 5 * math.sqrt(0.0075 / 4000)
        assert abs(var[0] - 0.0075) < 0.0012  # 10 duels: 0.075 / 10


def test_counters_count_each_judgment_and_a_symmetrized_one_twice():
    truth = games.comal_cycle()
    g = J.judge_game(truth, J.first_wins(J.Judge(position=0.05), truth.P))
    counts = {}
    for order in ("fixed", "random", "both"):
        tr = algorithms.run(algorithms.get("mwu"), g, steps=10, feedback=games.feedback.sampled(8, order))
        counts[order] = int(tr.counters["comparisons"][-1])
    assert counts == {"fixed": 240, "random": 240, "both": 480}  # 10 steps x 8 duels x 3 actions (x 2)


# --- the price of a judge ---------------------------------------------------------------------------------------


def test_an_unclipped_position_bias_costs_a_fixed_order_learner_nothing():
    truth = games.comal_cycle()
    g = J.judge_game(truth, J.first_wins(J.Judge(position=0.026), truth.P))
    for order in ("fixed", "random", "both"):
        p = J.price(g, truth, order)
        assert p.unique
        np.testing.assert_allclose(p.policy, [4 / 11, 3 / 11, 4 / 11], atol=1e-6)
        assert p.exploitability[1] < 1e-5 and p.tv[1] < 1e-5


def test_a_clipped_position_bias_moves_the_fixed_order_equilibrium_as_solved_by_hand():
    # b = 0.2: J = [[.7,.3,1],[1,.7,.3],[.4,1,.7]] (0.9 + 0.2 clipped). The symmetric game G = J - 1/2 has
    # one symmetric equilibrium, interior: G pi = v 1 gives pi = (37/100, 3/10, 33/100) (no pure or
    # two-action symmetric equilibrium: checked by hand). Under P: pi^T A = (21/1000, -2/125, -9/1000), so
    # the true gap is 4/125 and TV to (4, 3, 4)/11 is 37/1100.
    truth = games.comal_cycle()
    g = J.judge_game(truth, J.first_wins(J.Judge(position=0.2), truth.P))
    np.testing.assert_allclose(J.symmetric_equilibrium(g), [0.37, 0.3, 0.33], atol=1e-6)
    p = J.price(g, truth, "fixed")
    assert p.unique
    np.testing.assert_allclose(p.exploitability, [4 / 125, 4 / 125], atol=1e-5)
    np.testing.assert_allclose(p.win_rate, [0.5 - 2 / 125] * 2, atol=1e-5)
    np.testing.assert_allclose(p.tv, [37 / 1100] * 2, atol=1e-5)
    # random or both orders: K = P off the clipped pairs; (J[1,0] + 1 - J[0,1]) / 2 = 0.85, not 0.9
    q = J.price(g, truth, "both")
    assert q.exploitability[1] > 0


def test_style_bias_moves_the_equilibrium_to_the_favoured_response_as_lambda_grows():
    # BT rewards (0, 0.5, 1), response 0 longer by 2: logit J_02 = -1 + 2 lambda, logit J_01 = -0.5 + 2 lambda.
    # Response 2 is the Condorcet winner for lambda < 1/2, response 0 for lambda > 1/2.
    truth = games.bradley_terry([0.0, 0.5, 1.0])
    s = np.array([2.0, 0.0, 0.0])
    for lam, pure in ((0.0, 2), (0.4, 2), (0.6, 0), (3.0, 0)):
        g = J.judge_game(truth, J.first_wins(J.Judge(style=lam), truth.P, features=s))
        p = J.price(g, truth, "random")
        np.testing.assert_allclose(p.policy, np.eye(3)[pure], atol=1e-7)
        if pure == 0:  # the true gap of response 0: -2 (sigma(-1) - 1/2)
            np.testing.assert_allclose(p.exploitability, [0.4621171572600098] * 2, atol=1e-5)  # LP tolerance
            np.testing.assert_allclose(p.tv, [1.0, 1.0], atol=1e-5)
        else:
            assert p.exploitability[1] < 1e-6  # LP tolerance


def test_label_noise_keeps_the_equilibrium():
    truth = games.comal_cycle()
    g = J.judge_game(truth, J.first_wins(J.Judge(noise=0.3), truth.P))
    p = J.price(g, truth, "fixed")
    np.testing.assert_allclose(p.policy, [4 / 11, 3 / 11, 4 / 11], atol=1e-6)


def test_self_preference_hands_the_judges_response_the_game():
    # paper game, the judge owns response 1 with beta = ln 9 (odds x 9): J_10 = 81/82 (odds 9 x 9), J_12 = 1/2
    # (odds 1/9 x 9), J_02 = 0.8 unchanged. Equilibria (pi^T A_J >= 0): column 1 forces pi_0 = 0, column 0
    # needs (81/82 - 1/2) s >= 0.3 (1 - s): the set is {(0, s, 1 - s) : s >= s0}, s0 = 0.3 / (0.3 + 40/82)
    truth = games.comal_cycle()
    g = J.judge_game(truth, J.first_wins(J.Judge(self_preference=math.log(9)), truth.P, own=np.eye(3)[1] > 0))
    np.testing.assert_allclose(np.asarray(g.P)[[1, 1], [0, 2]], [81 / 82, 0.5], atol=1e-15)
    p = J.price(g, truth, "random")
    s0 = 0.3 / (0.3 + 40 / 82)
    np.testing.assert_allclose(p.mass[0], [0, s0, 0], atol=1e-5)
    np.testing.assert_allclose(p.mass[1], [0, 1, 1 - s0], atol=1e-5)
    assert not p.unique
    # true payoff columns of (0, s, 1 - s): (0.7 s - 0.3, 0.4 (1 - s), -0.4 s); the least is -0.4 s for
    # s >= 3/11, so the true gap is 0.8 s: from 0.8 s0 to 0.8 (the judge's own response, pure)
    np.testing.assert_allclose(p.exploitability, [0.8 * s0, 0.8], atol=1e-5)


def test_price_reports_ranges_over_a_non_unique_equilibrium_set():
    # duplicated response: equilibria (4s, 3, 4, 4(1 - s)) / 11; TV between two of them up to 4/11
    g = games.duplicated_response()
    p = J.price(g, g)
    assert not p.unique
    np.testing.assert_allclose(p.exploitability, [0, 0], atol=1e-6)
    np.testing.assert_allclose(p.tv, [0, 4 / 11], atol=1e-5)
    np.testing.assert_allclose(p.mass[1], [4 / 11, 3 / 11, 4 / 11, 4 / 11], atol=1e-5)


# --- PNT and SNTD -----------------------------------------------------------------------------------------------


def test_pnt_by_hand():
    assert float(games.pnt(HALF)) == 0.25  # 2 of 8 equally likely verdict patterns cycle
    assert float(games.pnt(np.asarray(games.rock_paper_scissors().P))) == 1.0
    order = np.triu(np.ones((3, 3)), 1) + 0.5 * np.eye(3)  # 0 > 1 > 2 for certain
    assert float(games.pnt(order)) == 0.0 and float(games.pnt(order, "both")) == 0.0
    # paper game, one order: 0.1 * 0.1 * (1 - 0.8) + 0.9 * 0.9 * 0.8 = 0.65
    np.testing.assert_allclose(float(games.pnt(PAPER)), 0.65, atol=ULP)


def test_pnt_both_orders_on_a_coin_judge_by_enumeration():
    # W = 1/2: each pair (win, tie, loss) = (1/4, 1/2, 1/4). Non-transitive patterns (Xu et al.'s rule):
    # AB tie: BC != AC -> P = 1/2 * (1 - (1/16 + 1/4 + 1/16)) = 1/2 * 5/8 = 5/16
    # AB strict, BC tie: AB != AC -> 1/2 * 1/2 * (1 - P(AC == AB)) = 1/4 * (1 - 1/4 * 2 ... ) per sign:
    #   AB = 1 (1/4): AC != 1 w.p. 3/4; AB = 0: AC != 0 w.p. 3/4 -> 1/2 * 1/2 * 3/4 = 3/16
    # AB, BC strict, AC tie: AB != 1 - BC: AB == BC -> (1/4 * 1/4) * 2 * 1/2 = 1/16
    # all strict: cycles (1,1,0), (0,0,1): 2 * (1/4)^3 = 1/32
    want = 5 / 16 + 3 / 16 + 1 / 16 + 1 / 32
    np.testing.assert_allclose(float(games.pnt(HALF, "both")), want, atol=ULP)


def test_sntd_by_hand():
    assert abs(float(games.sntd(np.asarray(games.bradley_terry([0.0, 1.0, 3.0]).P)))) < 1e-15
    # a 3-cycle with p = 2/3 on every edge: AB = BC = 2/3, AC = 1/3, logits (ln 2, ln 2, -ln 2);
    # predictions: AC^ = sigma(2 ln 2) = 4/5, AB^ = BC^ = sigma(-2 ln 2) = 1/5
    cyc = np.array([[0.5, 2 / 3, 1 / 3], [1 / 3, 0.5, 2 / 3], [2 / 3, 1 / 3, 0.5]])

    def h(p):
        return -(p * math.log(p) + (1 - p) * math.log(1 - p))

    def jsd(p, q):
        return h((p + q) / 2) - (h(p) + h(q)) / 2

    want = (jsd(2 / 3, 1 / 5) * 2 + jsd(1 / 3, 4 / 5)) / 3
    np.testing.assert_allclose(float(games.sntd(cyc, "single")), want, rtol=1e-13)
    np.testing.assert_allclose(float(games.sntd(cyc)), want, rtol=1e-13)  # skew: both orders are the same


def test_position_bias_makes_a_transitive_game_look_non_transitive():
    bt = games.bradley_terry([0.0, 1.0, 2.0]).P
    base = float(games.sntd(J.first_wins(J.Judge(), bt), "single"))
    biased = float(games.sntd(J.first_wins(J.Judge(position=0.3), bt), "single"))
    switched = float(games.sntd(J.first_wins(J.Judge(position=0.3), bt), "both"))
    assert abs(base) < 1e-15 and biased > 1e-2 and switched < biased


# --- fitted models ------------------------------------------------------------------------------------------------


def test_empirical_with_a_prior_by_hand():
    np.testing.assert_allclose(fitted.empirical([[0, 3], [1, 0]], prior=1.0), [[0.5, 2 / 3], [1 / 3, 0.5]])
    np.testing.assert_allclose(fitted.empirical(np.zeros((2, 2)), prior=0.0), HALF[:2, :2])


def test_bradley_terry_recovers_the_scores_of_a_bt_game_and_guesses_on_a_cycle():
    bt = games.bradley_terry([0.0, 1.0, 2.0])
    W = np.asarray(bt.P) * 1000 * (1 - np.eye(3))  # expected counts: the MLE is the truth (prior 0)
    Phat = fitted.bradley_terry(W, prior=0.0)
    np.testing.assert_allclose(np.log(Phat[2, 0] / Phat[0, 2]), 2.0, atol=1e-9)
    np.testing.assert_allclose(np.log(Phat[1, 0] / Phat[0, 1]), 1.0, atol=1e-9)
    cyc = np.asarray(games.condorcet_cycle(3, 0.9).P) * 1000 * (1 - np.eye(3))
    np.testing.assert_allclose(fitted.bradley_terry(cyc), HALF, atol=1e-12)  # equal scores: a random guess


def test_gpm_recovers_the_cycle():
    cyc = np.asarray(games.condorcet_cycle(3, 0.9).P) * 10000 * (1 - np.eye(3))
    Phat, v = fitted.gpm(cyc)
    np.testing.assert_allclose(Phat, np.asarray(games.condorcet_cycle(3, 0.9).P), atol=2e-3)
    np.testing.assert_allclose(Phat + Phat.T, np.ones((3, 3)), atol=1e-15)  # skew by construction
    truth = games.comal_cycle()
    p = J.price(fitted.fitted_game(fitted.gpm(np.asarray(truth.P) * 1e5 * (1 - np.eye(3)))[0], truth), truth)
    assert p.exploitability[1] < 1e-3


def test_fitted_inputs_are_validated():
    with pytest.raises(ValueError, match="square"):
        fitted.empirical(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=">= 0"):
        fitted.empirical(-np.ones((2, 2)))
    with pytest.raises(ValueError, match="no finite MLE"):
        fitted.bradley_terry([[0, 1], [0, 0]], prior=0.0)
    with pytest.raises(TypeError, match="prior"):
        fitted.gpm(np.ones((3, 3)), prior="x")
    W = fitted.sample_wins(games.comal_cycle(), 500, 3)
    assert W.sum() == 500 and np.all(np.diag(W) == 0)


def test_the_played_game_of_a_sequence_game_keeps_its_sequences():
    truth = games.sequence_game(3, 2, "reward_cycle", cycle=0.5)
    g = J.judge_game(truth, J.first_wins(J.Judge(position=0.1), truth.P))
    k = J.played_game(g, "random")
    assert k.sequences == truth.sequences and g.sequences == truth.sequences
    games.stack_games([g, k])  # a sweep over both stacks them
