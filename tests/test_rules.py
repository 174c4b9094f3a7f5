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
from algorithms import base

RULE_NAMES = sorted(algorithms.RULES)
DTYPES = [jnp.float32, jnp.float64]
RECT = np.array([[0.3, -0.2, 0.5, 0.1], [-0.4, 0.6, -0.1, 0.2], [0.2, 0.1, -0.3, -0.5]])


def make_game(kind, dtype):
    if kind == "preference":
        return games.comal_cycle(dtype=dtype)
    return games.matrix_game(RECT, dtype=dtype)


def cases():
    for name in RULE_NAMES:
        rule = algorithms.get(name)
        for dtype in DTYPES:
            yield pytest.param(rule, "preference", dtype, id=f"{name}-preference-{jnp.dtype(dtype).name}")
            if not rule.self_play_only:
                yield pytest.param(rule, "matrix", dtype, id=f"{name}-matrix-{jnp.dtype(dtype).name}")


def _floats(tree):
    return [l for l in jax.tree.leaves(tree) if jnp.issubdtype(l.dtype, jnp.inexact)]


@pytest.mark.parametrize("rule, kind, dtype", list(cases()))
def test_state_structure_dtype_simplex_and_jit(rule, kind, dtype):
    game = make_game(kind, dtype)
    s0 = rule.init(game, 1, noise=0.3)
    s1 = rule.step(s0, game)
    assert jax.tree.structure(s1) == jax.tree.structure(s0)
    for a, b in zip(jax.tree.leaves(s0), jax.tree.leaves(s1)):
        assert a.shape == b.shape and a.dtype == b.dtype
    assert all(l.dtype == jnp.dtype(dtype) for l in _floats(s1))
    x, y = rule.policy(s1)
    m, n = game.shape
    assert x.shape == (m,) and y.shape == (n,)
    atol = 1e-5 if dtype == jnp.float32 else 1e-12
    for p in (x, y):
        assert float(p.min()) >= 0 and abs(float(p.sum()) - 1) < atol
    s1_jit = jax.jit(rule.step)(s0, game)
    for a, b in zip(jax.tree.leaves(s1), jax.tree.leaves(s1_jit)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=10 * atol, atol=10 * atol)


@pytest.mark.parametrize("rule, kind, dtype", [c for c in cases() if c.values[2] == jnp.float64])
def test_vmap_over_keys_and_hparams_equals_loop(rule, kind, dtype):
    game = make_game(kind, dtype)
    spec = dict(rule.hparams)
    keys = jnp.stack([base.as_key(k) for k in (0, 1, 2)])
    hp = {k: jnp.asarray([v, 0.8 * v, 1.2 * v]) for k, v in spec.items() if k != "noise"}
    hp["noise"] = jnp.asarray([0.1, 0.2, 0.3])

    def two_steps(k, hp):
        s = rule.init(game, k, **hp)
        return rule.step(rule.step(s, game), game)

    batched = jax.vmap(two_steps)(keys, hp)
    for i in range(3):
        single = two_steps(keys[i], {k: v[i] for k, v in hp.items()})
        for a, b in zip(jax.tree.leaves(batched), jax.tree.leaves(single)):
            np.testing.assert_allclose(np.asarray(a[i]), np.asarray(b), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", RULE_NAMES)
def test_second_run_does_not_recompile(name):
    from algorithms.runner import _simulate_jit

    rule, game = algorithms.get(name), games.comal_cycle()
    algorithms.run(rule, game, steps=4, key=0)
    before = _simulate_jit._cache_size()
    hp = {k: 0.7 * v + 0.01 for k, v in rule.hparams}
    algorithms.run(rule, game, steps=4, key=5, **hp)
    assert _simulate_jit._cache_size() == before
    assert algorithms.get(name) is rule  # factories return the same object


@pytest.mark.parametrize("name", [n for n in RULE_NAMES if algorithms.get(n).self_play_only])
def test_self_play_rule_rejects_non_symmetric_game(name):
    with pytest.raises(ValueError, match="self-play"):
        algorithms.get(name).init(games.matrix_game(RECT))


@pytest.mark.parametrize("name", RULE_NAMES)
@pytest.mark.parametrize("bad", [{"eta": 0.0}, {"eta": -1.0}, {"tau": -0.1}, {"eta": float("nan")}, {"noise": -1}])
def test_bad_hparams_raise_before_compiling(name, bad):
    rule = algorithms.get(name)
    if not set(bad) <= set(dict(rule.hparams)):
        bad = {"bogus": 1.0}
    with pytest.raises(ValueError):
        rule.init(games.comal_cycle(), **bad)
    with pytest.raises(ValueError):
        algorithms.run(rule, games.comal_cycle(), steps=10, **bad)


def test_structural_options_validated():
    with pytest.raises(ValueError, match="inner_steps must be >= 1"):
        algorithms.get("comal", inner_steps=0)
    with pytest.raises(ValueError, match="does not solve a KL-regularized game"):
        algorithms.comal(algorithms.mwu(), 10)
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
            np.asarray(rule.step(s1, game).logits), np_step(name, expected, None, prev=RPS @ np.exp(l0)), atol=1e-14
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
    s = rule.init(game, 0, noise=0.4)
    t = s
    for k in range(1, 7):
        t = rule.step(t, game)
        manual = inner.step(s.inner if k == 1 else prev_inner, game)
        np.testing.assert_allclose(np.asarray(t.inner.logits), np.asarray(manual.logits), atol=1e-15)
        expected_ref = manual.logits if k % 3 == 0 else manual.ref
        np.testing.assert_array_equal(np.asarray(t.inner.ref), np.asarray(expected_ref))
        prev_inner = t.inner


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
