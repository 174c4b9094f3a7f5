"""The conformance kit: every registered rule x {float32, float64} x {preference game, matrix game}.

A new rule added to ``algorithms.RULES`` gets all of these for free. Reference tests check one step of each
rule against a hand-written NumPy step, fixed points, and the exact equivalences between rules.
"""

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


def cases():
    for name in RULE_NAMES:
        rule = algorithms.get(name)
        for dtype in DTYPES:
            for game in conformance.conformance_games(rule, dtype):
                kind = "preference" if game.preference else "matrix"
                yield pytest.param(rule, game, id=f"{name}-{kind}-{jnp.dtype(dtype).name}")


@pytest.mark.parametrize("rule, game", list(cases()))
def test_step_structure_dtype_simplex_jit(rule, game):
    conformance.check_step(rule, game)


@pytest.mark.parametrize("rule, game", list(cases()))
def test_vmap_over_keys_and_hparams_equals_loop(rule, game):
    conformance.check_vmap(rule, game)


@pytest.mark.parametrize("name", RULE_NAMES)
def test_second_run_does_not_recompile(name):
    rule = algorithms.get(name)
    conformance.check_no_recompile(rule, games.comal_cycle())
    assert algorithms.get(name) is rule  # factories return the same object


@pytest.mark.parametrize("name", RULE_NAMES)
def test_validation(name):
    conformance.check_validation(algorithms.get(name))


def test_conformance_kit_catches_a_broken_rule():
    from typing import Any, NamedTuple

    class S(NamedTuple):
        logits: Any
        eta: jax.Array

    def init(game, logits, ref, key, eta):
        return S(logits, eta)

    def step(s, game):  # forgets to normalise: leaves the simplex
        return s._replace(logits=s.logits + s.eta * base.gradient(game, s.logits) + 0.1)

    bad = base.make_rule("unnormalised", init, step, hparams={"eta": 0.5})
    with pytest.raises(AssertionError, match="left the simplex"):
        conformance.check_rule(bad)


def test_structural_options_validated():
    with pytest.raises(ValueError, match="inner_steps must be >= 1"):
        algorithms.get("comal", inner_steps=0)
    with pytest.raises(ValueError, match="does not solve a KL-regularized game"):
        algorithms.comal(algorithms.mwu(), 10)
    with pytest.raises(ValueError, match="does not solve a KL-regularized game"):
        algorithms.comal(algorithms.comal(), 10)  # a wrapper's state has no top-level ref to re-centre
    with pytest.raises(ValueError, match="valid rules"):
        algorithms.get("nope")
    with pytest.raises(ValueError, match="bad structural options"):
        algorithms.get("mwu", inner_steps=3)
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        algorithms.mwu().init(games.comal_cycle(), tau=0.1)
    assert algorithms.comal() is algorithms.comal(algorithms.inpo(), 100) is algorithms.get("comal")


# --- one step against a hand-written NumPy step (biased start on RPS) -----------------------------------------

RPS = np.asarray(games.rock_paper_scissors().A)


def _lsm(v):
    v = v - v.max()
    return v - np.log(np.exp(v).sum())


def np_step(name, l, ref, eta=0.5, tau=0.1, prev=None):
    A, p = RPS, np.exp(l)
    r = A @ p
    if name in ("mwu", "sppo"):
        return _lsm(l + eta * r)
    if name == "iterative_ipo":
        return _lsm(l + r / tau)
    if name == "inpo":
        return _lsm((1 - eta * tau) * l + eta * tau * ref + eta * r)
    if name == "mmd":
        return _lsm((l + eta * tau * ref + eta * r) / (1 + eta * tau))
    if name == "nash_md":
        mu = _lsm((1 - eta * tau) * l + eta * tau * ref)
        return _lsm(mu + eta * (A @ np.exp(mu)))
    if name == "omwu":
        return _lsm(l + eta * (2 * r - prev))
    if name == "extragradient":
        h = _lsm(l + eta * r)
        return _lsm(l + eta * (A @ np.exp(h)))
    if name == "egpo":
        h = _lsm((1 - eta * tau) * l + eta * tau * ref + eta * r)
        return _lsm(l - eta * tau * (h - ref) + eta * (A @ np.exp(h)))
    raise KeyError(name)


@pytest.mark.parametrize(
    "name", ["mwu", "sppo", "iterative_ipo", "inpo", "mmd", "nash_md", "omwu", "extragradient", "egpo"]
)
def test_one_step_matches_numpy(name):
    game = games.rock_paper_scissors()
    rule = algorithms.get(name)
    ref = np.array([0.5, 0.3, 0.2])
    hp = {"tau": 0.1} if name == "iterative_ipo" else {}
    s = rule.init(game, 3, ref=ref, noise=0.5, **hp)
    l0 = np.asarray(s.logits)
    prev = np.asarray(s.prev) if name == "omwu" else None
    expected = np_step(name, l0, np.log(ref), prev=prev)
    got = np.asarray(rule.step(s, game).logits)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-14)
    if name == "omwu":  # second step uses the stored previous gradient
        s1 = rule.step(s, game)
        np.testing.assert_allclose(
            np.asarray(rule.step(s1, game).logits),
            np_step(name, expected, None, prev=RPS @ np.exp(l0)),
            atol=1e-14,
        )


def test_iterative_dpo_step_matches_numpy_bt_fit():
    game, rule = games.comal_cycle(), algorithms.iterative_dpo()
    s = rule.init(game, 0, noise=0.5, tau=2.0)
    pi, P = np.exp(np.asarray(s.logits)), np.asarray(game.P)
    # independent BT fit: plain gradient descent to convergence on the same population loss
    r = np.zeros(3)
    for _ in range(200_000):
        d = r[:, None] - r[None, :]
        sig = 1 / (1 + np.exp(-d))
        w = pi[:, None] * pi[None, :]
        grad = -(w * P * (1 - sig)).sum(1) + (w * P * (1 - sig)).sum(0) + 1e-3 * r
        r -= 2.0 * grad
    expected = _lsm(np.asarray(s.logits) + r / 2.0)
    np.testing.assert_allclose(np.asarray(rule.step(s, game).logits), expected, atol=1e-8)


def test_comal_step_is_inner_step_then_recentre():
    game, inner = games.comal_cycle(), algorithms.inpo()
    rule = algorithms.comal(inner, 3)
    t = rule.init(game, 0, noise=0.4)
    for k in range(1, 7):
        manual = inner.step(t.inner, game)  # COMAL's step = the inner step, then a select on the counter
        t = rule.step(t, game)
        np.testing.assert_array_equal(np.asarray(t.inner.logits), np.asarray(manual.logits))
        expected_ref = manual.logits if k % 3 == 0 else manual.ref
        np.testing.assert_array_equal(np.asarray(t.inner.ref), np.asarray(expected_ref))
    assert int(t.t) == 6


# --- fixed points ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["inpo", "mmd", "egpo", "comal_exact"])
def test_regularized_equilibrium_is_fixed_point(name):
    game, rule = games.comal_cycle(), algorithms.get(name)
    eq = games.regularized_equilibrium(game, 0.1)
    s = rule.init(game, tau=0.1)
    if name == "comal_exact":  # prox step from ref = pi: its fixed points are Nash equilibria
        eq = games.solve(game)
        s = s._replace(logits=jnp.log(eq.x), ref=jnp.log(eq.x))
    else:
        s = s._replace(logits=jnp.log(eq.x))
    np.testing.assert_allclose(np.exp(np.asarray(rule.step(s, game).logits)), eq.x, atol=1e-13)


@pytest.mark.parametrize("name", ["mwu", "sppo", "omwu", "extragradient"])
def test_nash_is_fixed_point(name):
    game, rule = games.comal_cycle(), algorithms.get(name)
    nash = games.solve(game).x
    s = rule.init(game)._replace(logits=jnp.log(nash))
    if name == "omwu":
        s = s._replace(prev=base.gradient(game, s.logits))
    np.testing.assert_allclose(np.exp(np.asarray(rule.step(s, game).logits)), nash, atol=1e-14)


# --- exact equivalences (whole trajectories) ---------------------------------------------------------------------


def _gaps(rule, **hp):
    t = algorithms.run(rule, games.comal_cycle(), steps=300, key=2, noise=0.3, **hp)
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


# --- the README's new-rule example -----------------------------------------------------------------------------


def test_documented_new_rule_example_works():
    import re

    src = base.__doc__
    code = re.search(r"Writing a new rule.*?::\n\n(.*?)\n\"?\"?\"?$", src, re.S).group(1)
    lines = [l[4:] if l.startswith("    ") else l for l in code.splitlines()]
    assert len([l for l in lines if l.strip()]) <= 20
    ns = {}
    exec("\n".join(lines), ns)
    rule = ns["optimistic_inpo"]
    game = games.comal_cycle()
    trace = algorithms.run(rule, game, steps=3000, record_every=100)
    reg = games.regularized_equilibrium(game, 0.1)
    assert float(trace.metrics["gap"][-1]) == pytest.approx(reg.gap, abs=1e-9)
    # and COMAL accepts it as an inner rule, reaching the exact Nash policy
    t = algorithms.run(algorithms.comal(rule, 100), game, steps=5000, record_every=100)
    assert float(t.metrics["gap"][-1]) < 1e-10


@pytest.mark.parametrize("name", ["inpo", "nash_md", "egpo", "comal"])
def test_eta_tau_joint_constraint(name):
    rule = algorithms.get(name)
    with pytest.raises(ValueError, match="eta \\* tau must be <= 1"):
        algorithms.run(rule, games.comal_cycle(), steps=1, eta=2.0, tau=1.0)
    with pytest.raises(ValueError, match="got eta=4, tau=0.5"):
        algorithms.sweep(rule, games.comal_cycle(), steps=1, eta=[0.5, 4.0], tau=[0.1, 0.5])
    algorithms.run(algorithms.mmd(), games.comal_cycle(), steps=1, eta=2.0, tau=1.0)  # MMD has no such limit
