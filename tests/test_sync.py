"""algorithms.sync: the practitioners' reference sync on COMAL's wrapper.

Reference values are literal numbers from the equations (EQUATIONS.md, the TR-DPO / TRL parameter update, the
Ziegler et al. controller) with the arithmetic in a comment; traces computed along two paths (a rule and its
closed-form twin) are compared to a few ulp, never bit for bit.
"""

import math

import jax.numpy as jnp
import numpy as np
import optax
import pytest

import algorithms
import games
from algorithms import losses, policies, schedules, sync

GAME = games.comal_cycle()
START = np.array([0.2, 0.3, 0.5])
REF = np.array([0.5, 0.3, 0.2])
FEATURES = games.library.COMAL_CYCLE_FEATURES
EPS = np.finfo(np.float64).eps  # one ulp of 1
ZERO = optax.sgd(0.0)  # an optimizer that never moves: the inner step leaves the parameters as they are


def _policies(rule, steps, **kw):
    return np.asarray(algorithms.run(rule, GAME, steps=steps, record_policy=True, **kw).policies.x)


# ---------------------------------------------------------------------------------------------------------------
# the K = 1 limit: re-centred after every step, the reference is the iterate, and the regularization is gone
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("beta", [None, 1.0])
@pytest.mark.parametrize("eta", [0.5, 0.3])
def test_inpo_synced_every_step_is_mwu(beta, eta):
    """pi' ∝ pi^(1 - eta tau) ref^(eta tau) exp(eta r) with ref = pi (start = ref, then ref <- pi after every
    step) is pi' ∝ pi exp(eta r): MWU's trace, to a few ulp (the two paths round differently)."""
    synced = _policies(algorithms.comal(algorithms.inpo(), 1, beta=beta), 200, eta=eta, ref=START)
    mwu = _policies(algorithms.mwu(), 200, eta=eta, start=START)
    np.testing.assert_allclose(synced, mwu, rtol=0, atol=64 * EPS)
    assert np.ptp(synced[100:, 0]) > 0.05  # MWU does not settle: it cycles outward on the paper game


def test_soft_sync_every_step_is_not_mwu_and_its_first_recentring_is_the_geometric_mean():
    """With beta < 1 the reference is a moving magnet. Step 1 from the uniform start (= ref) is an MWU step:
    P u = (1.4, 1.5, 1.6) / 3, so pi_1 ∝ exp(0.5 (1.4, 1.5, 1.6) / 3) ∝ exp((0, 1/60, 1/30)); the re-centring
    with beta = 1/2 gives ref_1 ∝ sqrt(u pi_1) ∝ exp((0, 1/120, 1/60))."""
    rule = algorithms.comal(algorithms.inpo(), 1, beta=0.5)
    t = algorithms.run(rule, GAME, steps=1, eta=0.5)
    e = [math.exp(v) for v in (0.0, 1 / 120, 1 / 60)]
    np.testing.assert_allclose(np.exp(t.state.inner.ref.x), [v / sum(e) for v in e], rtol=0, atol=8 * EPS)
    soft = _policies(rule, 200, eta=0.5)
    mwu = _policies(algorithms.mwu(), 200, eta=0.5)
    assert np.max(np.abs(soft - mwu)) > 1e-3


def test_anchored_ipo_synced_every_step_is_iterative_ipo():
    synced = _policies(algorithms.comal(sync.anchored_ipo(), 1), 100, tau=2.0, ref=START)
    ipo = _policies(algorithms.iterative_ipo(), 100, tau=2.0, start=START)
    np.testing.assert_allclose(synced, ipo, rtol=0, atol=64 * EPS)


def test_anchored_dpo_synced_every_step_is_iterative_dpo():
    synced = _policies(algorithms.comal(sync.anchored_dpo(), 1), 30, tau=2.0, ref=START)
    dpo = _policies(algorithms.iterative_dpo(), 30, tau=2.0, start=START)
    np.testing.assert_allclose(synced, dpo, rtol=0, atol=1e-12)  # eight Newton steps per fit, warm-started


def test_anchored_dpo_one_step_on_a_bradley_terry_game():
    """On P(a > b) = sigmoid(s_a - s_b) with s = (0, 1/2, 1) the population BT fit recovers s (up to a constant;
    ridge 1e-9), so DPO against REF from START lands on REF exp(s / 2) ∝ REF * exp((0, 1/4, 1/2)), whatever the
    start."""
    bt = games.bradley_terry([0.0, 0.5, 1.0])
    t = algorithms.run(sync.anchored_dpo(), bt, steps=1, tau=2.0, ridge=1e-9, ref=REF, start=START)
    w = [0.5, 0.3 * math.exp(0.25), 0.2 * math.exp(0.5)]
    np.testing.assert_allclose(np.asarray(t.policy.x), [v / sum(w) for v in w], rtol=0, atol=1e-8)


def test_anchored_ipo_is_inpo_at_eta_tau_one():
    """pi' ∝ ref exp(r / tau) is INPO's pi^(1 - eta tau) ref^(eta tau) exp(eta r) at eta = 1 / tau."""
    a = _policies(sync.anchored_ipo(), 50, tau=2.0, ref=REF, start=START)
    b = _policies(algorithms.inpo(), 50, eta=0.5, tau=2.0, ref=REF, start=START)
    np.testing.assert_allclose(a, b, rtol=0, atol=16 * EPS)


def test_anchored_ipo_one_step_by_hand():
    """From START against REF at tau = 2: r = P START = (0.5*0.2 + 0.1*0.3 + 0.8*0.5, 0.9*0.2 + 0.5*0.3 +
    0.1*0.5, 0.2*0.2 + 0.9*0.3 + 0.5*0.5) = (0.53, 0.38, 0.56); pi_1 ∝ REF exp(r / 2)."""
    t = algorithms.run(sync.anchored_ipo(), GAME, steps=1, tau=2.0, ref=REF, start=START)
    w = [0.5 * math.exp(0.53 / 2), 0.3 * math.exp(0.38 / 2), 0.2 * math.exp(0.56 / 2)]
    np.testing.assert_allclose(np.asarray(t.policy.x), [v / sum(w) for v in w], rtol=0, atol=8 * EPS)


# ---------------------------------------------------------------------------------------------------------------
# presets
# ---------------------------------------------------------------------------------------------------------------


def test_presets_are_the_wrapper_with_the_practitioners_parameters():
    inner = algorithms.inpo()
    assert sync.tr_dpo(inner) is algorithms.comal(inner, 512, beta=0.6)  # TR-DPO's alpha = 0.6, 512 steps
    assert sync.tr_dpo(inner, alpha=1, sync_steps=8) is algorithms.comal(inner, 8, beta=1.0)
    assert sync.tr_dpo() is algorithms.comal(sync.anchored_dpo(), 512, beta=0.6)
    assert sync.hard_sync(sync_steps=64) is algorithms.comal(algorithms.inpo(), 64)
    assert sync.hard_sync(sync.anchored_ipo(), sync_steps=4) is algorithms.comal(sync.anchored_ipo(), 4)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: sync.tr_dpo(alpha=0.0), "tr_dpo: alpha must lie in (0, 1], got 0.0"),
        (lambda: sync.tr_dpo(alpha=1.5), "tr_dpo: alpha must lie in (0, 1], got 1.5"),
        (lambda: sync.tr_dpo(sync_steps=0), "tr_dpo: sync_steps"),
        (lambda: sync.hard_sync(sync_steps=-3), "hard_sync: sync_steps"),
        (lambda: sync.hard_sync(algorithms.mwu(), sync_steps=3), "mwu does not declare a KL reference"),
        (lambda: sync.adaptive_kl(algorithms.mwu()), "mwu does not declare a KL reference"),
        (lambda: sync.adaptive_kl(algorithms.inpo(), target=0), "target must be a finite number > 0, got 0"),
        (lambda: sync.adaptive_kl(algorithms.inpo(), horizon=0.5), "horizon must be >= 1 step"),
        (lambda: sync.adaptive_kl(algorithms.m2wu(10)), "must declare the hyperparameter tau"),
        (lambda: sync.parameter_sync("ipo", policies.tabular(GAME)), "loss 'ipo' reads no reference"),
        (lambda: sync.parameter_sync("inpo", policies.tabular(GAME), alpha=2), "alpha must lie in (0, 1]"),
    ],
)
def test_bad_arguments_raise_naming_the_value(call, message):
    with pytest.raises(ValueError) as err:
        call()
    assert message in str(err.value)


def test_alpha_of_the_wrong_type_is_a_type_error():
    with pytest.raises(TypeError, match="tr_dpo: alpha must be a number, got '0.6'"):
        sync.tr_dpo(alpha="0.6")


# ---------------------------------------------------------------------------------------------------------------
# losses against a synced reference
# ---------------------------------------------------------------------------------------------------------------


def _pair():
    """One pair: pi(y_w) = 1/2, pi(y_l) = 1/4, ref uniform over 3, so h_ref = log((1/2)/(1/4)) = log 2."""
    a = lambda v: jnp.asarray([[v]])  # noqa: E731
    third = math.log(1 / 3)
    return losses.Pairs(a(math.log(0.5)), a(math.log(0.25)), a(0.0), a(0.0), a(third), a(third), a(1.0))


def test_losses_against_the_reference_by_hand():
    # IPO: (log 2 - 1/(2*2))^2 = 0.4431471805599453^2
    assert float(sync.LOSSES["ipo_ref"].fn(_pair(), tau=2.0)) == pytest.approx(0.1963794236, abs=1e-10)
    # DPO: -log sigmoid(2 log 2) = -log(4/5) = log 1.25
    assert float(sync.LOSSES["dpo_ref"].fn(_pair(), tau=2.0)) == pytest.approx(0.22314355, abs=1e-8)


def test_ipo_loss_against_the_reference_lands_on_anchored_ipo():
    """The population minimizer of (h_ref - 1/(2 tau))^2 over pairs from pi_t is ref exp(r / tau)."""
    rule = algorithms.loss_based(sync.LOSSES["ipo_ref"], policies.tabular(GAME), optimizer_steps=400)
    a = algorithms.run(rule, GAME, steps=3, tau=2.0, ref=REF)
    b = algorithms.run(sync.anchored_ipo(), GAME, steps=3, tau=2.0, ref=REF)
    np.testing.assert_allclose(np.asarray(a.policy.x), np.asarray(b.policy.x), rtol=0, atol=1e-10)


# ---------------------------------------------------------------------------------------------------------------
# parameter-space EMA against log-space mixing
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("wrapper", ["parameters", "log space"])
def test_one_soft_update_by_hand(wrapper):
    """theta = (log 4, 0, 0), theta_ref = 0, alpha = 1/2: theta_ref' = (log 2, 0, 0), ref' = (2, 1, 1) / 4; in
    log space ref' ∝ sqrt(pi ref) with pi = (4, 1, 1) / 6: ∝ (2, 1, 1), the same."""
    pol = policies.tabular(GAME)
    if wrapper == "parameters":
        rule = sync.parameter_sync("inpo", pol, sync_steps=1, alpha=0.5, optimizer=ZERO)
        state = rule.init(GAME)
        state = state._replace(inner=state.inner._replace(params=jnp.log(jnp.asarray([[4.0, 1.0, 1.0]]))))
    else:
        rule = algorithms.comal(algorithms.loss_based("inpo", pol, optimizer=ZERO), 1, beta=0.5)
        state = rule.init(GAME)
        inner = state.inner._replace(params=jnp.log(jnp.asarray([[4.0, 1.0, 1.0]])))
        state = state._replace(inner=inner)
    oracle = games.feedback.Oracle(GAME, games.feedback.exact(), None)
    ref = rule.reference(rule.step(state, oracle))
    np.testing.assert_allclose(np.exp(ref.x), [0.5, 0.25, 0.25], rtol=0, atol=4 * EPS)


@pytest.mark.parametrize(
    "policy", [policies.tabular(GAME), policies.loglinear(FEATURES)], ids=lambda p: p.name
)
def test_parameter_ema_coincides_with_log_space_mixing_for_affine_logits(policy):
    """Logits affine in theta: the parameter EMA is the log-space mixing (module docstring), to round-off."""
    pe = sync.parameter_sync("inpo", policy, sync_steps=3, alpha=0.3, optimizer_steps=20)
    ls = algorithms.comal(algorithms.loss_based("inpo", policy, optimizer_steps=20), 3, beta=0.3)
    a, b = _policies(pe, 60), _policies(ls, 60)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    assert np.ptp(a[:, 0]) > 0.05  # the runs moved


@pytest.mark.slow  # an MLP trained twice; the affine cases stay in the default run
def test_parameter_ema_differs_from_log_space_mixing_for_an_mlp_but_not_at_alpha_one():
    pol = policies.mlp(FEATURES, hidden=(6,))
    pe = sync.parameter_sync("inpo", pol, sync_steps=3, alpha=0.3)
    ls = algorithms.comal(algorithms.loss_based("inpo", pol), 3, beta=0.3)
    np.testing.assert_allclose(_policies(pe, 30, beta=1.0), _policies(ls, 30, beta=1.0), rtol=0, atol=1e-12)
    assert np.max(np.abs(_policies(pe, 30) - _policies(ls, 30))) > 1e-4


def test_parameter_sync_sweeps_its_interval_and_alpha_in_one_program():
    pe = sync.parameter_sync("inpo", policies.tabular(GAME), sync_steps=3, alpha=0.3, optimizer_steps=5)
    t = algorithms.sweep(pe, GAME, steps=20, record_every=20, inner_steps=[1, 4], beta=[0.5, 1.0])
    assert t.axes == ("inner_steps", "beta")
    one = algorithms.run(pe, GAME, steps=20, record_every=20, inner_steps=4, beta=0.5)
    np.testing.assert_allclose(np.asarray(t.policy.x)[1, 0], np.asarray(one.policy.x), rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------------------------------------------
# the adaptive KL weight
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "start, target, tau, expected",
    [
        # KL((1/2, 1/4, 1/4) || u) = 1/2 ln(3/2) + 1/2 ln(3/4) = 1/2 ln(1.125) = 0.0588915178...;
        # error = 0.0588915178 / 0.05 - 1 = 0.1778303566; tau' = 0.1 (1 + 0.1778303566 / 2)
        ([0.5, 0.25, 0.25], 0.05, 0.1, 0.10889151782819172),
        ([0.5, 0.25, 0.25], 0.01, 0.1, 0.11),  # error 4.89 clipped to 0.2: 0.1 (1 + 0.2 / 2)
        (None, 0.05, 0.1, 0.09),  # KL = 0 (start = ref): error -1 clipped to -0.2: 0.1 (1 - 0.2 / 2)
        ([0.5, 0.25, 0.25], 0.01, 1.9, 2.0),  # 1.9 * 1.1 = 2.09, clamped at tau_max = 2
    ],
)
def test_adaptive_kl_one_update_by_hand(start, target, tau, expected):
    rule = sync.adaptive_kl(algorithms.inpo(), target=target, horizon=2.0)
    t = algorithms.run(
        rule, GAME, steps=1, start=None if start is None else np.asarray(start), tau=tau, eta=0.5
    )
    assert float(rule.tau(t.state)) == pytest.approx(expected, rel=0, abs=4 * EPS)
    # the step itself used the tau in force before it (the controller updates after the batch)
    plain = algorithms.run(
        algorithms.inpo(), GAME, steps=1, start=start and np.asarray(start), tau=tau, eta=0.5
    )
    np.testing.assert_allclose(np.asarray(t.policy.x), np.asarray(plain.policy.x), rtol=0, atol=4 * EPS)


def test_adaptive_kl_drives_the_kl_to_its_target():
    """A target reachable where INPO converges (KL(pi_tau || u) of the regularized equilibrium is 0.0045 at
    tau = 0.2 and 0.0013 at tau = 0.5): the controller settles on the tau whose regularized equilibrium (solved
    by games, not by the rule) has KL = target, and the iterate sits there."""
    rule = sync.adaptive_kl(algorithms.inpo(), target=0.002, horizon=10.0)
    t = algorithms.run(rule, GAME, steps=3000, record_every=3000, tau=0.5)
    kl = float(sync.kl_to_reference(algorithms.base.Profile(jnp.log(t.policy.x)), rule.reference(t.state)))
    assert kl == pytest.approx(0.002, rel=1e-3)
    x = np.asarray(games.regularized_equilibrium(GAME, float(rule.tau(t.state))).x)
    assert float(np.sum(x * np.log(3 * x))) == pytest.approx(0.002, rel=1e-3)


def test_adaptive_kl_inside_comal_and_under_sweep():
    rule = algorithms.comal(sync.adaptive_kl(algorithms.inpo(), target=0.01), 16)
    t = algorithms.sweep(rule, GAME, steps=64, record_every=64, kl_target=[0.001, 0.01], inner_steps=[8, 16])
    assert t.axes == ("kl_target", "inner_steps") and bool(np.all(t.finite))
    one = algorithms.run(rule, GAME, steps=64, record_every=64, kl_target=0.001, inner_steps=16)
    np.testing.assert_allclose(np.asarray(t.policy.x)[0, 1], np.asarray(one.policy.x), rtol=0, atol=1e-12)
    taus = np.asarray(t.state.inner.inner.tau)
    assert (
        float(rule.tau(one.state)) == pytest.approx(float(taus[0, 1]), abs=4 * EPS)
        and taus[0, 1] != taus[1, 1]
    )


def test_adaptive_kl_refuses_a_schedule_for_tau():
    rule = sync.adaptive_kl(algorithms.inpo())
    with pytest.raises(TypeError, match="tau is set by the KL controller"):  # the runner's probe, eagerly
        algorithms.run(rule, GAME, steps=4, tau=schedules.exponential(0.1, 0.99))


def test_kl_to_reference_of_a_contextual_profile_is_the_weighted_mean():
    """Prompt 0: KL((1/2, 1/2) || (1/2, 1/2)) = 0; prompt 1: KL((1, 0) || (1/2, 1/2)) = log 2; weights
    (3/4, 1/4): (log 2) / 4."""
    lp = jnp.log(jnp.asarray([[0.5, 0.5], [1.0 - 1e-300, 1e-300]]))
    lr = jnp.log(jnp.full((2, 2), 0.5))
    kl = sync.kl_to_reference(
        algorithms.base.Profile(lp), algorithms.base.Profile(lr), jnp.asarray([0.75, 0.25])
    )
    assert float(kl) == pytest.approx(math.log(2) / 4, abs=4 * EPS)


@pytest.mark.slow
@pytest.mark.parametrize(
    "rule",
    [
        sync.anchored_ipo(),
        sync.anchored_dpo(),
        sync.adaptive_kl(algorithms.inpo()),
        sync.tr_dpo(algorithms.inpo(), sync_steps=4),
        sync.parameter_sync("inpo", policies.tabular(GAME), sync_steps=4, optimizer_steps=2),
    ],
    ids=lambda r: r.name,
)
def test_conformance(rule):
    algorithms.conformance.check_rule(rule, dtypes=(jnp.float64,))
