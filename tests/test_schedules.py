"""Schedules (algorithms.schedules, applied by the runner) and the reference-reset family of ``comal``.

Reference values are literal numbers computed by hand from EQUATIONS.md (a plain-Python script of the sheet's
formulas, not the code), traces recorded from the code before schedules existed, and properties of
the proximal point (KL(pi* || ref_k) never increases across exact re-centrings).
"""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import algorithms
import games
from algorithms import runner
from algorithms import schedules as S
from games import feedback as F
from games import testing

START = np.array([0.2, 0.3, 0.5])
REF = np.array([0.5, 0.3, 0.2])
GAME = games.comal_cycle()
EPS = np.finfo(np.float64).eps  # one ulp of 1: values computed along two paths agree to a few of these


def _policies(rule, steps, **kw):
    return algorithms.run(rule, GAME, steps=steps, record_policy=True, ref=REF, start=START, **kw).policies.x


# ---------------------------------------------------------------------------------------------------------------
# constant hyperparameters: today's traces are those of the code before schedules, up to round-off
# ---------------------------------------------------------------------------------------------------------------

#: The traces of the cases below as produced by main at 2a38ee5 (before schedules existed): the values were
#: written from this code when its traces still hashed bitwise to that commit's sha256 digests (checked for every
#: case when the file was written). Compared with a round-off tolerance, not bitwise: another JAX, XLA or CPU may
#: fuse or vectorise the same arithmetic differently and move the last bits, which says nothing about the rule.
MAIN_TRACES = json.loads((Path(__file__).parent / "golden" / "schedules_traces.json").read_text())
_S0, _R0 = np.array([0.5, 0.3, 0.2]), np.array([0.2, 0.5, 0.3])
_FAST = ("mpo(7)", "comal(egpo,5)/sampled", "loss_based_inpo_32")


def _case(name):
    kw = dict(steps=60, record_every=20)
    if name == "loss_based_inpo_32" or name == "comal(loss_inpo,10)":
        lb = algorithms.loss_based("inpo", algorithms.policies.tabular(GAME), optimizer_steps=5)
        fb = games.feedback.sampled(32)
        if name == "loss_based_inpo_32":
            return algorithms.run(lb, GAME, steps=20, record_every=10, key=5, feedback=fb)
        return algorithms.run(
            algorithms.comal(lb, 10), GAME, steps=40, record_every=10, key=5, feedback=fb, samples=16
        )
    if name == "sweep_inpo":
        return algorithms.sweep(
            algorithms.inpo(), GAME, steps=40, record_every=10, eta=[0.2, 0.5], seeds=2, start_noise=0.3
        )
    if name == "sweep_comal":
        return algorithms.sweep(
            algorithms.comal(),
            GAME,
            steps=40,
            record_every=10,
            tau=[0.05, 0.1],
            feedback=F.sampled(8),
            seeds=2,
        )
    rule_name, _, mode = name.partition("/")
    rules = {
        "comal(inpo,7)": algorithms.comal(algorithms.inpo(), 7),
        "mpo(7)": algorithms.mpo(7),
        "comal(egpo,5)": algorithms.comal(algorithms.egpo(), 5),
    }
    rule = rules.get(rule_name) or algorithms.get(rule_name)
    if mode == "sampled":
        return algorithms.run(rule, GAME, start=_S0, key=3, feedback=F.sampled(4), **kw)
    return algorithms.run(rule, GAME, start=_S0, ref=_R0, **kw)


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=() if n in _FAST else pytest.mark.slow) for n in MAIN_TRACES]
)
def test_constant_hyperparameters_give_the_traces_before_schedules(name):
    trace, want = _case(name), MAIN_TRACES[name]
    # 20-60 steps of O(1) arithmetic: round-off moves the values by ~1e-15 (relative, or absolute for the gaps
    # near 0); a changed rule, schedule default or feedback draw moves them by far more than 1e-12
    assert sorted(trace.metrics) == sorted(want["metrics"])
    assert sorted(trace.counters) == sorted(want["counters"])
    for k, v in want["metrics"].items():
        np.testing.assert_allclose(
            np.asarray(trace.metrics[k], np.float64), v, rtol=1e-12, atol=1e-15, err_msg=k
        )
    for k, v in want["counters"].items():
        np.testing.assert_array_equal(np.asarray(trace.counters[k]), v, err_msg=k)  # whole numbers: exact
    leaves = jax.tree.leaves(trace.policy)
    assert len(leaves) == len(want["policy"])
    for got, v in zip(leaves, want["policy"]):
        np.testing.assert_allclose(np.asarray(got, np.float64), v, rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------------------------------------------------
# schedules: hand-computed numbers, every rule, the trace's column, compile counts, errors
# ---------------------------------------------------------------------------------------------------------------


def test_inpo_piecewise_eta_three_steps_hand_computed():
    # pi' ∝ pi^(1 - eta_t tau) ref^(eta_t tau) exp(eta_t P pi), tau = 0.1, eta = 0.5, 0.25, 0.1 at t = 0, 1, 2
    # (plain-Python floats from the sheet: step 1 is the existing INPO literal; steps 2-3 use eta 0.25, 0.1)
    eta = S.piecewise([0.5, 0.25, 0.1], [1, 2])
    t = algorithms.run(
        algorithms.inpo(), GAME, steps=3, record_policy=True, ref=REF, start=START, eta=eta, tau=0.1
    )
    expected = [
        [0.21529077593256074, 0.2861854800073673, 0.498523744060072],
        [0.22321336557740026, 0.28028242270793385, 0.4965042117146658],
        [0.2264147215577874, 0.2781158044947238, 0.4954694739474888],
    ]
    np.testing.assert_allclose(np.asarray(t.policies.x[1:]), expected, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(
        np.asarray(t.schedules["eta"]), [0.5, 0.25, 0.1, 0.1]
    )  # in force at records
    df = t.to_dataframe()
    gap = df[df.metric == "gap"]
    assert list(gap["eta"]) == [0.5, 0.25, 0.1, 0.1] and set(gap["tau"]) == {0.1}


def _first_hparam(rule):
    names = [h.name for h in rule.hparams]
    return "eta" if "eta" in names else "tau"


_QUICK_RULES = ("inpo", "comal", "m2wu")


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=() if n in _QUICK_RULES else pytest.mark.slow) for n in sorted(algorithms.RULES)],
)
def test_every_registered_rule_takes_an_optax_schedule(name):
    rule = algorithms.get(name)
    which = _first_hparam(rule)
    sched = optax.exponential_decay(0.5 if which == "eta" else 2.0, 1, 0.9)
    t = algorithms.run(rule, GAME, steps=2, record_every=1, **{which: sched})
    # each record: the value the next update uses; the last (no next update), the value the last one used
    np.testing.assert_allclose(
        np.asarray(t.schedules[which]), [float(sched(i)) for i in (0, 1, 1)], rtol=1e-15
    )
    assert np.all(np.asarray(t.finite))


def test_a_schedule_family_compiles_once(fresh_programs):
    rule = algorithms.mmd()
    algorithms.run(rule, GAME, steps=20, record_every=10, eta=S.exponential(0.5, 0.99))
    before = runner.TRACE_COUNT[rule.name]
    a = algorithms.run(
        rule, GAME, steps=20, record_every=10, eta=S.exponential(0.3, 0.95), tau=S.constant(0.2)
    )
    assert runner.TRACE_COUNT[rule.name] == before + 1  # a new set of scheduled names is a new program
    algorithms.run(rule, GAME, steps=20, record_every=10, eta=S.exponential(0.4, 0.9), tau=S.constant(0.05))
    s = algorithms.sweep(
        rule, GAME, steps=20, record_every=10, seeds=3, eta=S.exponential(0.3, 0.95), tau=0.2
    )
    assert runner.TRACE_COUNT[rule.name] == before + 2  # the sweep's own program, once
    np.testing.assert_allclose(np.asarray(s.metrics["gap"][0]), np.asarray(a.metrics["gap"]), atol=1e-14)
    assert s.schedules["eta"].shape == (3, 3) and s.to_dataframe()["eta"].nunique() == 3


def test_constant_schedule_equals_the_number():
    a = algorithms.run(algorithms.egpo(), GAME, steps=30, record_every=10, start=START, eta=0.3)
    b = algorithms.run(algorithms.egpo(), GAME, steps=30, record_every=10, start=START, eta=S.constant(0.3))
    # two programs (eta an argument, or computed from the step inside the scan) that XLA may fuse differently:
    # equal up to a few ulp per step of O(1) values, over 30 steps
    np.testing.assert_allclose(
        np.asarray(a.metrics["gap"]), np.asarray(b.metrics["gap"]), rtol=0, atol=30 * EPS
    )


def test_schedule_families_values():
    assert [int(S.growth(16, rate=2.0, cap=100)(t)) for t in range(4)] == [16, 32, 64, 100]
    assert [int(S.growth(10, power=2.0)(t)) for t in range(3)] == [10, 40, 90]  # 10 (t + 1)^2
    assert float(S.polynomial(1.0, 0.0, 2.0, 4)(2)) == 0.25  # (1 - 2/4)^2
    assert float(S.exponential(0.5, 0.9, 100)(100)) == pytest.approx(0.45, abs=1e-15)


@pytest.mark.parametrize(
    "value, error, words",
    [
        (S.piecewise([0.5, -1.0], [5]), ValueError, "must lie in (0, inf) at every step; at step 5"),
        (lambda t: jnp.where(t < 3, 0.5, jnp.nan), ValueError, "not finite at step 3"),
        (lambda: 0.5, TypeError, "function of the step count"),
        (lambda t: jnp.ones(2) * t, TypeError, "one number per step"),
        (S.piecewise([0.5, 20.0], [7]), ValueError, "eta * tau must be <= 1"),  # joint, along the schedule
    ],
)
def test_bad_schedules_name_the_hyperparameter_and_step(value, error, words):
    with pytest.raises(error) as err:
        algorithms.run(algorithms.inpo(), GAME, steps=10, eta=value)
    assert words in str(err.value) and "eta" in str(err.value)
    if "eta * tau" in words:
        assert "at step 7" in str(err.value)


def test_schedule_errors_before_anything_compiles():
    before = runner.TRACE_COUNT.get("omwu", 0)
    with pytest.raises(ValueError, match="start_noise perturbs the start"):
        algorithms.run(algorithms.omwu(), GAME, steps=2, start_noise=S.constant(0.1))
    lb = algorithms.loss_based("inpo", algorithms.policies.tabular(GAME), optimizer_steps=3)
    with pytest.raises(ValueError, match=r"samples must lie in \[1, 16\] \(whole numbers\).*at step 0"):
        algorithms.run(lb, GAME, steps=2, feedback=games.feedback.sampled(16), samples=S.constant(2.5))
    assert runner.TRACE_COUNT.get("omwu", 0) == before


# ---------------------------------------------------------------------------------------------------------------
# schedules are checked at every step they are used, in the dtype the update reads, and recorded only there
# ---------------------------------------------------------------------------------------------------------------

#: max|A| = 2: INPO's stable range at tau = 0.1 is eta <= 2 tau / (tau^2 + 4) = 0.0499 (0.04 inside, 0.5 not)
SCALE2 = games.matrix_game([[0.0, 2.0, -1.0], [-2.0, 0.0, 1.0], [1.0, -1.0, 0.0]])


def test_step_size_warning_reads_every_step_of_a_schedule(recwarn):
    late = S.piecewise([0.04, 0.5], [100])  # stable for 100 steps, then 10 times the bound
    with pytest.warns(algorithms.StepSizeWarning, match=r"eta=0.5 at step 100 of its schedule"):
        algorithms.run(algorithms.inpo(), SCALE2, steps=110, record_every=110, eta=late)
    with pytest.warns(
        algorithms.StepSizeWarning, match=r"eta=0.5 at step 100"
    ):  # every grid point of a sweep
        algorithms.sweep(algorithms.inpo(), SCALE2, steps=110, record_every=110, eta=late, tau=[0.1, 0.2])
    recwarn.clear()
    algorithms.run(algorithms.inpo(), SCALE2, steps=110, record_every=110, eta=S.constant(0.04))
    assert not [w for w in recwarn if issubclass(w.category, algorithms.StepSizeWarning)]


def test_float32_schedules_are_checked_as_the_update_reads_them():
    g32 = GAME.astype(np.float32)
    tiny = lambda t: jnp.where(t < 5, 0.1, 1e-50)  # 0 in float32: outside tau's (0, inf)
    with pytest.raises(ValueError, match=r"tau must lie in \(0, inf\).*at step 5 it is 0 in float32"):
        algorithms.run(algorithms.inpo(), g32, steps=10, tau=tiny)
    huge = lambda t: jnp.where(t < 5, 0.1, 1e39)  # inf in float32, as the constant 1e39 is
    with pytest.raises(ValueError, match=r"schedule for eta does not fit float32 at step 5: 1e\+39"):
        algorithms.run(algorithms.mwu(), g32, steps=10, eta=huge)
    with pytest.raises(ValueError, match=r"eta=1e\+39 does not fit float32"):
        algorithms.run(algorithms.mwu(), g32, steps=10, eta=1e39)


def test_joint_check_along_a_schedule_covers_every_grid_point():
    # eta tau = 1.5 * 1.0 > 1 from step 3 on the grid point tau = 1 (step 0's 0.5 * 1.0 passes)
    with pytest.raises(ValueError, match=r"eta \* tau must be <= 1.*at step 3 of the schedule of eta"):
        algorithms.sweep(algorithms.inpo(), GAME, steps=6, eta=S.piecewise([0.5, 1.5], [3]), tau=[0.1, 1.0])


def test_trace_records_only_schedule_values_that_updates_use():
    # the schedule is NaN at t = steps, a count no update uses: never evaluated into the data
    eta = lambda t: jnp.where(t < 10, 0.1 + 0.01 * t, jnp.nan)
    t = algorithms.run(algorithms.mwu(), GAME, steps=10, record_every=5, eta=eta)
    # records at steps 0 and 5 hold the value the next update uses (t = 0, 5); the last, the value the last
    # update used (t = 9). 0.1 + 0.01 t in JAX against the literals: a few ulp
    np.testing.assert_allclose(np.asarray(t.schedules["eta"]), [0.1, 0.15, 0.19], rtol=0, atol=4 * EPS)
    assert np.isfinite(t.to_dataframe()["eta"]).all()


def test_constant_of_a_non_number_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match=r"schedules.constant: value must be a number.*'abc'"):
        algorithms.run(algorithms.mwu(), GAME, steps=2, eta=S.constant("abc"))
    with pytest.raises(TypeError, match=r"schedules.exponential: rate must be a number.*None"):
        algorithms.run(algorithms.mwu(), GAME, steps=2, eta=S.exponential(0.5, None))


@pytest.mark.parametrize("value", [[S.constant(0.1), S.constant(0.2)], [0.1, S.piecewise([0.1, 0.05], [5])]])
def test_a_schedule_in_a_grid_is_a_clear_conflict(value):
    for call in (algorithms.sweep, algorithms.run):
        with pytest.raises(ValueError, match=r"tau is a grid that holds a schedule.*conflict"):
            call(algorithms.inpo(), GAME, steps=2, tau=value)


def test_a_float_schedule_for_a_count_says_how_to_round_and_rounded_runs():
    lb = algorithms.loss_based("inpo", algorithms.policies.tabular(GAME), optimizer_steps=1)
    fb = games.feedback.sampled(32)
    grow = optax.exponential_decay(2.0, 3, 16.0)  # 2 * 16 ** (t / 3): 2, 5.04, 12.7, 32
    with pytest.raises(ValueError, match=r"at step 1 it is 5.03.*algorithms.schedules.rounded"):
        algorithms.run(lb, GAME, steps=4, feedback=fb, samples=grow)
    t = algorithms.run(lb, GAME, steps=4, feedback=fb, samples=S.rounded(grow))  # nearest: 2, 5, 13, 32
    assert int(t.counters["comparisons"][-1]) == 2 + 5 + 13 + 32
    np.testing.assert_array_equal(np.asarray(t.schedules["samples"]), [2, 5, 13, 32, 32])


# ---------------------------------------------------------------------------------------------------------------
# the wrapper: inner-steps schedules over rounds, soft re-centring, until
# ---------------------------------------------------------------------------------------------------------------


def test_inner_steps_schedule_counts_outer_rounds():
    # K_0 = 1, K_k = 2: re-centre after steps 1 and 3 (INPO eta .5 tau .1; plain-Python sheet numbers)
    rule = algorithms.comal(algorithms.inpo(), 100)
    t = algorithms.run(
        rule,
        GAME,
        steps=4,
        record_policy=True,
        ref=REF,
        start=START,
        inner_steps=S.piecewise([1.0, 2.0], [1]),
    )
    expected = [
        [0.21529077593256074, 0.2861854800073673, 0.498523744060072],
        [0.21896040591181878, 0.2702516145621075, 0.5107879795260736],
        [0.22364994251841225, 0.2555250887059266, 0.5208249687756612],
        [0.2296359773830401, 0.2406347302834701, 0.5297292923334898],
    ]
    np.testing.assert_allclose(np.asarray(t.policies.x[1:]), expected, rtol=0, atol=1e-15)
    np.testing.assert_allclose(np.exp(np.asarray(rule.reference(t.state).x)), expected[2], atol=1e-15)
    assert int(t.state.rounds) == 2 and list(np.asarray(t.schedules["inner_steps"])) == [1, 2, 2, 2, 2]
    # K_k = 1, 2, 3 over rounds: re-centre after steps 1, 3 and 6 (a schedule over steps would give 1 and 4)
    t = algorithms.run(
        rule, GAME, steps=6, record_policy=True, inner_steps=S.piecewise([1.0, 2.0, 3.0], [1, 2])
    )
    assert int(t.state.rounds) == 3
    np.testing.assert_allclose(
        np.exp(np.asarray(rule.reference(t.state).x)), np.asarray(t.policies.x[6]), rtol=0, atol=1e-15
    )


def test_soft_recentring_hand_computed_and_beta_one_is_the_hard_reset():
    # K = 1, beta = 1/2: ref_1 ∝ ref_0^(1/2) pi_1^(1/2), then pi_2 = INPO(pi_1; ref_1)
    soft = algorithms.comal(algorithms.inpo(), 1, beta=0.5)
    p = _policies(soft, 2)
    np.testing.assert_allclose(
        np.asarray(p[2]), [0.22509637938937632, 0.2723544303259565, 0.5025491902846672], atol=1e-15
    )
    # beta = 1/4 (the hyperparameter overrides the factory's default): ref_1 ∝ ref_0^(3/4) pi_1^(1/4)
    p = _policies(soft, 2, beta=0.25)
    np.testing.assert_allclose(
        np.asarray(p[2]), [0.2282011014854617, 0.27337908431323704, 0.49841981420130127], atol=1e-15
    )
    hard = algorithms.comal(algorithms.inpo(), 3)
    a = _policies(algorithms.comal(algorithms.inpo(), 3, beta=0.9), 10, beta=1.0)
    # beta = 1 mixes the logs, (1 - beta) log ref + beta log pi, then normalises; the hard reset copies pi: the
    # same numbers up to round-off (a few ulp per re-centring, over 10 steps of probabilities below 1)
    np.testing.assert_allclose(np.asarray(a), np.asarray(_policies(hard, 10)), rtol=0, atol=10 * EPS)
    with pytest.raises(ValueError, match=r"beta must lie in \(0, 1\]"):
        algorithms.comal(algorithms.inpo(), 3, beta=0.0)


def test_until_recentres_once_the_regularized_gap_is_small_and_counts_the_test():
    eps = 1e-6
    rule = algorithms.comal(algorithms.inpo(), 10_000, until=eps)
    t = algorithms.run(rule, GAME, steps=400, record_every=1, record_policy=True, start=START, ref=START)
    calls = np.asarray(t.counters["oracle_calls"])
    assert calls[-1] == 800  # one inner gradient and one gap test per step
    pol = np.asarray(t.policies.x)
    # a round ends at step s exactly when gap_tau(pi_s; ref) <= eps: recompute the gap from the game
    ref, ends = START, []
    gap = jax.jit(lambda p, r: games.metrics.regularized_gap(GAME, p, 0.1, r))  # one program for 400 calls
    for s in range(1, 401):
        g = float(gap(jnp.asarray(pol[s]), jnp.asarray(ref)))
        if g <= eps:
            ref, ends = pol[s], ends + [s]
    assert len(ends) == int(t.state.rounds) >= 3
    est = algorithms.comal(algorithms.inpo(), 10_000, until=eps, estimate=True)
    e = algorithms.run(est, GAME, steps=400, record_every=400, start=START, ref=START)
    np.testing.assert_allclose(np.asarray(e.metrics["gap"]), np.asarray(t.metrics["gap"])[::400], atol=1e-15)
    s = algorithms.run(est, GAME, steps=40, record_every=40, feedback=F.sampled(8), key=1)
    assert int(s.counters["comparisons"][-1]) == 40 * 2 * 8 * 3  # the estimate is paid for in comparisons


def test_wrapper_options_are_validated():
    with pytest.raises(ValueError, match="estimate=True needs until"):
        algorithms.comal(algorithms.inpo(), 10, estimate=True)
    with pytest.raises(ValueError, match="until must be a finite eps"):
        algorithms.comal(algorithms.inpo(), 10, until=0.0)
    with pytest.raises(ValueError, match="declares no tau"):
        algorithms.comal(algorithms.mutation_mwu(), 10, until=1e-3)
    with pytest.raises(ValueError, match=r"inner_steps must lie in \[1, inf\)"):
        algorithms.run(algorithms.comal(), GAME, steps=2, inner_steps=0)


# ---------------------------------------------------------------------------------------------------------------
# new rules: literal one-step numbers from the sheet, and their relations
# ---------------------------------------------------------------------------------------------------------------


def test_m2wu_one_step_hand_computed():
    # pi' ∝ pi exp(eta (P pi + mu (ref - pi) / pi)), eta = 0.5, mu = 0.1, pi = (.2, .3, .5), ref = (.5, .3, .2)
    p = _policies(algorithms.m2wu(None), 1, eta=0.5, mu=0.1)
    np.testing.assert_allclose(
        np.asarray(p[1]), [0.2185367252654522, 0.28214445386667925, 0.49931882086786866], rtol=0, atol=1e-15
    )


def test_nash_mp_one_step_hand_computed():
    # h ∝ [pi ref^(eta tau) exp(eta P pi)]^(1/(1+eta tau)) = (0.21454552, 0.28684029, 0.49861418);
    # pi' ∝ [pi ref^(eta tau) exp(eta P h)]^(1/(1+eta tau)); eta = 0.5, tau = 0.1
    p = _policies(algorithms.nash_mp(), 1, eta=0.5, tau=0.1)
    np.testing.assert_allclose(
        np.asarray(p[1]), [0.2152379283289077, 0.28797498231069407, 0.4967870893603983], rtol=0, atol=1e-15
    )


def test_m2wu_slingshot_resets_after_every_update_freq_steps():
    # the slingshot is the wrapper: after step K the reference is the policy of step K
    rule = algorithms.m2wu(3)
    t = algorithms.run(rule, GAME, steps=4, record_policy=True, start=START, ref=REF)
    # the reference is stored as log-probabilities and the recorded policy is normalised from the logits, so
    # exp(log p) and p agree to round-off only (5.6e-17 apart with JAX 0.10): a few ulp of values below 1
    np.testing.assert_allclose(
        np.exp(np.asarray(rule.reference(t.state).x)), np.asarray(t.policies.x[3]), rtol=0, atol=4 * EPS
    )
    assert "regularized_gap" not in t.metrics  # its perturbation is not J_tau's


def test_m2wu_matches_the_authors_reset_timing():
    # The loop of CyberAgentAILab/m2wu (algorithms/m2wu.py), transcribed: update, t += 1, then ref <- pi when
    # t % update_freq == 0. No offset: the same trajectory, across four resets.
    K, eta, mu, P = 3, 0.5, 0.1, np.asarray(GAME.P)
    pi, ref, want = START.copy(), REF.copy(), [START.copy()]
    for t in range(1, 13):
        values = np.exp(eta * (P @ pi + mu * (ref - pi) / pi)) * pi
        pi = values / values.sum()
        if t % K == 0:
            ref = pi.copy()
        want.append(pi)
    got = _policies(algorithms.m2wu(K), 12, eta=eta, mu=mu)
    # the same arithmetic in another order (log domain here, probabilities there): a few ulp of values below 1
    np.testing.assert_allclose(np.asarray(got), np.array(want), rtol=0, atol=16 * EPS)


def test_nash_prox_is_nash_mp_in_the_wrapper():
    a = _policies(algorithms.nash_prox(5), 12)
    b = _policies(algorithms.comal(algorithms.nash_mp(), 5), 12)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# ---------------------------------------------------------------------------------------------------------------
# proximal-point monotonicity: KL(pi* || ref_k) never increases across exact re-centrings
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.slow
@settings(max_examples=8)
@given(data=st.data(), game=testing.cyclic_games(3, 7, unique=True), tau=st.sampled_from([0.05, 0.2, 1.0]))
def test_exact_proximal_point_kl_to_nash_never_increases(data, game, tau):
    eq = games.solve(game)
    assert eq.unique  # odd n: the cyclic family has a unique interior equilibrium
    s = data.draw(testing.policies(game, min_prob=1e-2))  # a non-uniform start (and reference)
    t = algorithms.run(algorithms.comal_exact(), game, steps=6, start=s, nash=eq, tau=tau)
    kl = np.asarray(t.metrics["kl_to_nash"])  # comal_exact: pi_k = ref_k
    assert np.all(np.diff(kl) <= 1e-12 * max(1.0, kl[0])), kl


def _np_regularized_gap(A, x, tau, ref):
    """The sheet's regularized gap of a self-play policy (NumPy): both players' entropic best responses."""
    lse = lambda v: v.max() + np.log(np.exp(v - v.max()).sum())  # noqa: E731
    kl = float(np.sum(x * np.log(x / ref)))
    return tau * lse(np.log(ref) + A @ x / tau) + tau * lse(np.log(ref) - x @ A / tau) + 2 * tau * kl


@pytest.mark.slow  # six games x 1,500 steps; the exact proximal-point property above stays in the default run
@settings(max_examples=6)
@given(data=st.data(), game=testing.cyclic_games(3, 5, unique=True), tau=st.sampled_from([0.1, 0.5]))
def test_wrapper_until_tiny_eps_kl_to_nash_never_increases_across_recentrings(data, game, tau):
    eq, eps = games.solve(game), 1e-11
    rule = algorithms.comal(algorithms.mmd(), 20_000, until=eps)
    s = data.draw(testing.policies(game, min_prob=1e-2))  # a non-uniform start and reference
    t = algorithms.run(rule, game, steps=1500, start=s, ref=s, eta=0.5, tau=tau, record_policy=True)
    x, A = np.asarray(t.policies.x), np.asarray(game.A)
    # the references: the start, then the policy at each step whose gap to the current one is <= eps
    kl_of = lambda r: float(np.sum(eq.x * np.log(eq.x / r)))  # noqa: E731
    ref, kl = s, [kl_of(s)]
    for k in range(1, x.shape[0]):
        if _np_regularized_gap(A, x[k], tau, ref) <= eps:
            ref = x[k]
            kl.append(kl_of(ref))
    assert len(kl) >= 3
    assert np.all(np.diff(kl) <= 1e-9), kl


@pytest.mark.slow  # the README's example: its own study-sized runs (test_examples runs it standalone too)
def test_readme_schedules_example_runs_as_written(capsys):
    from tests.test_readme import block_after

    exec(compile(block_after("schedules"), "README-schedules", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in out[1:5]] == ["0.5000", "0.4500", "0.4050", "0.3649"]
    rounds, gap = out[5].split()
    assert int(rounds) == 10 and 1e-5 < float(gap) < 2e-5  # as the comments say
    rounds, calls, gap = out[6].split()
    assert (int(rounds), int(calls)) == (199, 4000) and float(gap) < 2e-6
