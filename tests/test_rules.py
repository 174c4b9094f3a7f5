"""The conformance kit: every registered rule x {float32, float64} x {preference game, matrix game} (the default
run: one rule per family and each wrapper; ``-m slow``: all of them).

A new rule added to ``algorithms.RULES`` gets all of these for free. Reference tests check one step of each
rule against a hand-written NumPy step, fixed points, and the exact equivalences between rules.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import algorithms
import games
from algorithms import base, conformance

RULE_NAMES = sorted(algorithms.RULES)
DTYPES = [jnp.float32, jnp.float64]
RECT = conformance.RECTANGULAR


#: The default run checks one rule per family module (mwu.py, mirror.py, optimistic.py) and each wrapper once
#: (comal, averaged); every registered rule goes through the kit in the slow set (``-m slow``).
DEFAULT_RULES = ("mwu", "inpo", "omwu", "comal", "averaged")


def _default_or_slow(name):
    return () if name in DEFAULT_RULES else (pytest.mark.slow,)


def cases():
    for name in RULE_NAMES:
        rule = algorithms.get(name)
        for dtype in DTYPES:
            for game in conformance.conformance_games(rule, dtype):
                kind = "preference" if game.preference else "matrix"
                yield pytest.param(
                    rule, game, id=f"{name}-{kind}-{jnp.dtype(dtype).name}", marks=_default_or_slow(name)
                )


@pytest.mark.parametrize("rule, game", list(cases()))
def test_step_structure_dtype_simplex_jit(rule, game):
    conformance.check_step(rule, game)


@pytest.mark.parametrize("rule, game", list(cases()))
def test_vmap_over_keys_and_hparams_equals_loop(rule, game):
    conformance.check_vmap(rule, game)


@pytest.mark.parametrize("name", [pytest.param(n, marks=_default_or_slow(n)) for n in RULE_NAMES])
def test_second_run_does_not_recompile(name):
    rule = algorithms.get(name)
    conformance.check_no_recompile(rule, games.comal_cycle())
    assert algorithms.get(name) is rule  # factories return the same object


@pytest.mark.parametrize("name", RULE_NAMES)
def test_validation(name):
    conformance.check_validation(algorithms.get(name))


def test_conformance_kit_catches_a_broken_rule():
    class S(NamedTuple):
        logits: games.Profile
        eta: jax.Array

    def init_state(game, logits, ref, key, eta):
        return S(logits, eta)

    def step(s, oracle):  # forgets to normalise: leaves the simplex
        g = oracle.gradient(s.logits)
        return s._replace(logits=base.tree_map(lambda l, g: l + s.eta * g + 0.1, s.logits, g))

    bad = base.make_rule("unnormalised", init_state, step, hparams={"eta": (0.5, "(0, inf)")})
    with pytest.raises(AssertionError, match="left the simplex"):
        conformance.check_rule(bad)


def test_conformance_kit_shows_its_progress(capsys):
    conformance.check_rule(algorithms.get("mwu"), dtypes=(jnp.float64,), progress=True)
    err = capsys.readouterr().err
    assert "conformance mwu" in err and "/9 " in err  # 2 games x (step, vmap) + 5 checks
    assert "step (preference float64)" in err and "reference" in err  # the check that runs is named
    conformance.check_rule(algorithms.get("mwu"), dtypes=(jnp.float64,), progress=False)
    assert capsys.readouterr().err == ""


class BetaState(NamedTuple):
    logits: games.Profile
    prev: games.Profile
    eta: jax.Array
    beta: jax.Array


def _momentum_rule(interval="[0, 1)"):
    """MWU with a momentum-like weight beta in [0, 1): pi' ∝ pi exp(eta ((1 - beta) r_t + beta r_{t-1}))."""

    def init_state(game, logits, ref, key, eta, beta):
        return BetaState(logits, base.tree_map(jnp.zeros_like, logits), eta, beta)

    def step(s, oracle):
        g = oracle.gradient(s.logits)
        new = base.tree_map(
            lambda l, g, p: base.normalize(l + s.eta * ((1 - s.beta) * g + s.beta * p)), s.logits, g, s.prev
        )
        return s._replace(logits=new, prev=g)

    return base.make_rule(
        "momentum_mwu", init_state, step, hparams={"eta": (0.5, "(0, inf)"), "beta": (0.5, interval)}
    )


@pytest.mark.slow
def test_a_new_hyperparameter_with_its_own_range_passes_the_kit():
    rule = _momentum_rule()
    conformance.check_rule(rule, dtypes=(jnp.float64,))
    with pytest.raises(ValueError, match=r"beta must lie in \[0, 1\), got 1"):
        rule.init(games.comal_cycle(), beta=1.0)
    rule.init(games.comal_cycle(), beta=0.0)  # closed end
    with pytest.raises(ValueError, match="outside its interval"):
        base.make_rule("x", lambda *a, **k: None, lambda s, o: s, hparams={"beta": (1.5, "[0, 1)")})
    with pytest.raises(ValueError, match="interval must look like"):
        base.make_rule("x", lambda *a, **k: None, lambda s, o: s, hparams={"beta": (0.5, "0..1")})


def test_kit_says_when_a_declared_range_is_not_enforced():
    # the kit derives its bad values from the declared interval: a rule whose init checks a wider one fails
    leaky = _momentum_rule("(-inf, inf)")._replace(hparams=_momentum_rule().hparams)
    with pytest.raises(AssertionError, match=r"beta=-0.001 lies outside its declared interval \[0, 1\)"):
        conformance.check_validation(leaky)


def test_structural_options_validated():
    with pytest.raises(ValueError, match="inner_steps must be >= 1"):
        algorithms.get("comal", inner_steps=0)
    with pytest.raises(ValueError, match="does not declare a KL reference"):
        algorithms.comal(algorithms.mwu(), 10)
    with pytest.raises(ValueError, match="valid rules"):
        algorithms.get("nope")
    with pytest.raises(TypeError, match="must be a string"):
        algorithms.get(["mwu"])
    with pytest.raises(ValueError, match="bad structural options"):
        algorithms.get("mwu", inner_steps=3)
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        algorithms.mwu().init(games.comal_cycle(), tau=0.1)
    with pytest.raises(TypeError, match="call the factory"):
        algorithms.comal(algorithms.inpo, 10)
    with pytest.raises(TypeError, match="call the factory"):
        algorithms.run(algorithms.inpo, games.comal_cycle(), steps=1)
    with pytest.raises(ValueError, match="declares no reset"):
        algorithms.comal(algorithms.inpo(), 10, reset=True)
    assert algorithms.get("comal", inner_steps=np.int64(10)) is algorithms.comal(algorithms.inpo(), 10)
    assert algorithms.comal() is algorithms.comal(algorithms.inpo(), 100) is algorithms.get("comal")
    # wrappers use only the declared interface: COMAL around COMAL re-centres the inner rule's reference
    nested = algorithms.comal(algorithms.comal(algorithms.inpo(), 5), 10)
    assert nested.regularized and nested.name == "comal(comal(inpo,5),10)"


def test_register_adds_a_rule_by_name():
    rule = _momentum_rule()
    algorithms.register("momentum_mwu_test", rule)
    try:
        assert algorithms.get("momentum_mwu_test") is rule
        with pytest.raises(ValueError, match="already registered"):
            algorithms.register("momentum_mwu_test", rule)
    finally:
        del algorithms.RULES["momentum_mwu_test"]


def test_games_a_rule_declares_are_checked_before_tracing():
    skew = games.matrix_game(np.asarray(games.comal_cycle().A))
    for name in ("sppo", "iterative_dpo"):
        with pytest.raises(ValueError, match="needs a preference game"):
            algorithms.run(algorithms.get(name), skew, steps=1, self_play=True)
    with pytest.raises(ValueError, match="exact feedback only"):
        algorithms.run(
            algorithms.comal_exact(), games.comal_cycle(), steps=1, feedback=games.feedback.sampled(4)
        )


# --- one step from the paper's equations, as literal numbers ------------------------------------------------
# Worked out independently of this code (float64 NumPy and 30-digit mpmath, agreeing to 4e-16) from the equations
# in the project's equations sheet (EQUATIONS.md; each rule's paper is cited in its module). Game G1: the
# paper's cycle P = [[.5,.1,.8],[.9,.5,.1],[.2,.9,.5]], r_pi = P pi;
# start pi0 = (0.2, 0.3, 0.5), reference ref = (0.5, 0.3, 0.2), eta = 0.5, tau = 0.1 (A pi0 = (0.03, -0.12, 0.06)).

G1_START = np.array([0.2, 0.3, 0.5])
G1_REF = np.array([0.5, 0.3, 0.2])
ONE_STEP_G1 = {
    # pi' ∝ pi exp(eta r_pi)  (MWU; SPPO's exact form (4.1); iterative IPO with tau_IPO = 2, i.e. eta = 1/2)
    "mwu": [0.2028645327696641, 0.2823093733262117, 0.5148260939041241],
    "sppo": [0.2028645327696641, 0.2823093733262117, 0.5148260939041241],
    "iterative_ipo": [0.2028645327696641, 0.2823093733262117, 0.5148260939041241],
    # pi' ∝ pi^(1 - eta tau) ref^(eta tau) exp(eta r_pi)
    "inpo": [0.2152907759325607, 0.2861854800073673, 0.49852374406007194],
    # pi' ∝ [pi ref^(eta tau) exp(eta r_pi)]^(1 / (1 + eta tau))
    "mmd": [0.21454552436379776, 0.28684029438889774, 0.4986141812473045],
    # mu ∝ pi^(1 - eta tau) ref^(eta tau); pi' ∝ mu exp(eta r_mu)
    "nash_md": [0.2145120802345307, 0.2876854232242628, 0.49780249654120645],
    # h ∝ pi exp(eta r_pi); pi' ∝ pi exp(eta r_h)
    "extragradient": [0.2043517181355489, 0.28206946608670425, 0.5135788157777468],
    # h ∝ pi^(1 - eta tau) ref^(eta tau) exp(eta r_pi); pi' ∝ pi^(1 - eta tau) ref^(eta tau) exp(eta r_h)
    # (the full-gradient form pi' ∝ pi (ref / h)^(eta tau) exp(eta r_h) gives
    # [0.21527060619145263, 0.2881263529002763, 0.49660304090827107], 7.9e-4 away)
    "egpo": [0.21605582161317036, 0.28743573935630723, 0.49650843903052244],
    # pi' ∝ pi exp(eta (2 r_t - r_{t-1})) with r_{-1} = r_0: the first step is MWU
    "omwu": [0.2028645327696641, 0.2823093733262117, 0.5148260939041241],
    # s = argmin -sum_ab pi(a) pi(b) P(a > b) log sigmoid(s_a - s_b) + 1e-3/2 |s|^2
    #   = (0.16366270096477553, -0.45241959349290284, 0.28875689252812725); pi' ∝ pi exp(s / 2)
    "iterative_dpo": [0.2099213400943635, 0.23140209086782623, 0.5586765690378103],
}
HPARAMS_G1 = {"iterative_ipo": {"tau": 2.0}, "iterative_dpo": {"tau": 2.0, "ridge": 1e-3}}


def _policies(rule, game, steps, **kw):
    t = algorithms.run(rule, game, steps=steps, record_policy=True, **kw)
    return t.policies


@pytest.mark.parametrize("name", sorted(ONE_STEP_G1))
def test_one_step_literal_numbers_paper_game(name):
    hp = HPARAMS_G1.get(
        name, {"eta": 0.5, "tau": 0.1} if name in ("inpo", "mmd", "nash_md", "egpo") else {"eta": 0.5}
    )
    p = _policies(algorithms.get(name), games.comal_cycle(), 1, ref=G1_REF, start=G1_START, **hp)
    np.testing.assert_allclose(np.asarray(p.x[0]), G1_START, rtol=0, atol=1e-15)
    np.testing.assert_allclose(
        np.asarray(p.x[1]), ONE_STEP_G1[name], rtol=0, atol=1e-13 if name == "iterative_dpo" else 1e-15
    )


def test_omwu_second_step_uses_the_previous_gradient():
    # pi_2 ∝ pi_1 exp(eta (2 r_{pi_1} - r_{pi_0}))
    p = _policies(algorithms.omwu(), games.comal_cycle(), 2, ref=G1_REF, start=G1_START, eta=0.5)
    np.testing.assert_allclose(
        np.asarray(p.x[2]), [0.2084780813410126, 0.26480410204878224, 0.5267178166102052], atol=1e-15
    )


def test_comal_recentres_after_every_k_inner_steps():
    # inner INPO, K = 2: steps 1, 2 use ref0; after step 2 ref = pi_2; step 3 uses ref = pi_2
    rule = algorithms.comal(algorithms.inpo(), 2)
    t = algorithms.run(rule, games.comal_cycle(), steps=3, ref=G1_REF, start=G1_START, record_policy=True)
    expected = [
        [0.2152907759325607, 0.2861854800073673, 0.49852374406007194],
        [0.23132999941541982, 0.2743854754736193, 0.4942845251109609],
        [0.23570796127551594, 0.26019355600691674, 0.5040984827175673],
    ]
    np.testing.assert_allclose(np.asarray(t.policies.x[1:]), expected, atol=1e-15)
    np.testing.assert_allclose(np.exp(np.asarray(rule.reference(t.state).x)), expected[1], atol=1e-15)
    assert int(t.state.t) == 3


# Game G2 (two players): A = conformance.RECTANGULAR (3x4), x0 = (0.5, 0.2, 0.3), y0 = (0.1, 0.2, 0.3, 0.4),
# ref_x = (0.2, 0.5, 0.3), ref_y = (0.4, 0.3, 0.2, 0.1); x ascends A y, y ascends -A^T x, simultaneously.
G2_START = (np.array([0.5, 0.2, 0.3]), np.array([0.1, 0.2, 0.3, 0.4]))
G2_REF = (np.array([0.2, 0.5, 0.3]), np.array([0.4, 0.3, 0.2, 0.1]))
ONE_STEP_G2 = {
    "mwu": (
        [0.5336040259834126, 0.20817171825593853, 0.25822425576064884],
        [0.09555392912616298, 0.19890711790185256, 0.28523205574927585, 0.42030689722270864],
    ),
    "mmd": (
        [0.5162850496929327, 0.22004334796385677, 0.2636716023432106],
        [0.1045848497435578, 0.20737628914074377, 0.28672604293005866, 0.4013128181856398],
    ),
    "extragradient": (
        [0.5328907986426974, 0.20926271890260797, 0.25784648245469466],
        [0.0964738896818103, 0.2012697280765363, 0.28368219808414485, 0.4185741841575086],
    ),
    "egpo": (
        [0.5155465801347762, 0.22167805106365907, 0.2627753688015647],
        [0.10618768640893253, 0.20874986110003219, 0.2856747981052982, 0.39938765438573703],
    ),
}


@pytest.mark.parametrize("name", sorted(ONE_STEP_G2))
def test_one_step_literal_numbers_two_players(name):
    hp = {"eta": 0.5, "tau": 0.1} if name in ("mmd", "egpo") else {"eta": 0.5}
    game = games.matrix_game(RECT)
    p = _policies(algorithms.get(name), game, 1, ref=G2_REF, start=G2_START, **hp)
    np.testing.assert_allclose(np.asarray(p.x[1]), ONE_STEP_G2[name][0], atol=1e-15)
    np.testing.assert_allclose(np.asarray(p.y[1]), ONE_STEP_G2[name][1], atol=1e-15)


def test_omwu_two_players_second_step():
    # x2 ∝ x1 exp(eta A (2 y1 - y0)), y2 ∝ y1 exp(-eta A^T (2 x1 - x0))
    p = _policies(algorithms.omwu(), games.matrix_game(RECT), 2, ref=G2_REF, start=G2_START, eta=0.5)
    np.testing.assert_allclose(
        np.asarray(p.x[2]), [0.5631496144743439, 0.21710562933553548, 0.2197447561901207], atol=1e-15
    )
    np.testing.assert_allclose(
        np.asarray(p.y[2]),
        [0.09289723808142497, 0.20216694495264617, 0.2677479388438018, 0.437187878122127],
        atol=1e-15,
    )


# --- fixed points with a non-uniform reference, on a game where A and -A have different equilibria -------------
# G3 = the paper's cycle plus a strictly dominated 4th response (games.dominated_response()); ref = (.4, .3, .2, .1),
# tau = 0.1: the regularized equilibrium pi ∝ ref exp(A pi / tau) (solved independently by Newton, residual 6e-17).

G3_REF = np.array([0.4, 0.3, 0.2, 0.1])
G3_REG = np.array([0.32687023852112, 0.33710096307663945, 0.3339119318291717, 0.002116866573068807])


@pytest.mark.parametrize("name", ["inpo", "mmd", "egpo", "comal_exact"])
def test_regularized_equilibrium_is_a_fixed_point(name):
    game = games.dominated_response()
    hp = {"tau": 0.1} if name == "comal_exact" else {"eta": 0.5, "tau": 0.1}
    if name == "comal_exact":  # one exact prox step from ref = G3_REF lands on the regularized equilibrium
        p = _policies(algorithms.get(name), game, 1, ref=G3_REF, start=G3_REF, **hp)
        np.testing.assert_allclose(np.asarray(p.x[1]), G3_REG, atol=1e-13)
        return
    p = _policies(algorithms.get(name), game, 3, ref=G3_REF, start=G3_REG, **hp)
    np.testing.assert_allclose(np.asarray(p.x), np.broadcast_to(G3_REG, (4, 4)), atol=1e-14)
    # the solver agrees with the independent value
    np.testing.assert_allclose(games.regularized_equilibrium(game, 0.1, G3_REF).x, G3_REG, atol=1e-14)


# --- direction: one small step raises the player's (regularized) payoff against the current opponent ----------

SMALL = {"eta": 1e-3, "tau": 0.1}


def _small_hparams(rule):
    names = {h.name for h in rule.hparams}
    hp = {k: v for k, v in SMALL.items() if k in names}
    if names >= {"tau"} and "eta" not in names:
        hp = {"tau": 1e3}  # iterative IPO/DPO: eta = 1/tau
    return hp


DIRECTION_RULES = [n for n in sorted(algorithms.RULES) if n not in ("comal_exact",)]


@pytest.mark.parametrize("name", DIRECTION_RULES)
def test_one_small_step_raises_payoff_against_current_opponent(name):
    """x_{t+1}^T A y_t - tau KL(x_{t+1} || ref) > x_t^T A y_t - tau KL(x_t || ref) (tau = 0 if unregularized);
    on the dominated-response game from a non-uniform start, a sign flip lowers it."""
    rule = algorithms.get(name)
    game = games.dominated_response()
    start, ref = np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.25, 0.25, 0.3, 0.2])
    hp = _small_hparams(rule)
    p = _policies(rule, game, 1, ref=ref, start=start, **hp)
    x0, x1 = np.asarray(p.x[0]), np.asarray(p.x[1])
    A = np.asarray(game.A)
    tau = hp.get("tau", 0.0) if rule.regularized else 0.0

    def value(x):
        return x @ A @ x0 - tau * np.sum(x * np.log(x / ref))

    assert value(x1) > value(x0) + 1e-7, (value(x1), value(x0))


# --- exact equivalences (whole trajectories) ---------------------------------------------------------------------


def _gaps(rule, **hp):
    t = algorithms.run(rule, games.comal_cycle(), steps=300, key=2, start_noise=0.3, **hp)
    return np.asarray(t.metrics["gap"]), np.asarray(t.policy[0])


@pytest.mark.parametrize("eta", [0.1, 0.5, 1.3])
def test_sppo_is_mwu(eta):
    for a, b in zip(_gaps(algorithms.sppo(), eta=eta), _gaps(algorithms.mwu(), eta=eta)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("tau", [0.5, 2.0, 10.0])
def test_iterative_ipo_is_mwu_with_inverse_tau(tau):
    for a, b in zip(_gaps(algorithms.iterative_ipo(), tau=tau), _gaps(algorithms.mwu(), eta=1 / tau)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("eta, tau", [(0.5, 0.1), (2.0, 0.3), (0.1, 1.0)])
def test_mmd_is_inpo_with_rescaled_step(eta, tau):
    a = _gaps(algorithms.mmd(), eta=eta, tau=tau)
    b = _gaps(algorithms.inpo(), eta=eta / (1 + eta * tau), tau=tau)
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=1e-10, atol=1e-13)


def test_mpo_is_comal_with_mmd_inner():
    a = _gaps(algorithms.mpo(50))
    b = _gaps(algorithms.comal(algorithms.mmd(), 50))
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("name", ["inpo", "nash_md", "egpo", "comal"])
def test_eta_tau_joint_constraint(name):
    rule = algorithms.get(name)
    with pytest.raises(ValueError, match="eta \\* tau must be <= 1"):
        algorithms.run(rule, games.comal_cycle(), steps=1, eta=2.0, tau=1.0)
    with pytest.raises(ValueError, match="got eta=4, tau=0.5"):
        algorithms.sweep(rule, games.comal_cycle(), steps=1, eta=[0.5, 4.0], tau=[0.1, 0.5])
    algorithms.run(algorithms.mmd(), games.comal_cycle(), steps=1, eta=2.0, tau=1.0)  # MMD has no such limit
