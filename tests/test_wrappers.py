"""``base.wrap``: a wrapper states what differs from its inner rule and inherits the rest; ``comal``,
``averaged``, ``comal_exact`` and ``algorithms.sync``'s wrappers are built with it. ``until`` without
``estimate`` reads the game and says so."""

import json
from pathlib import Path
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np
import pytest

import algorithms
import games
from algorithms import base

GOLDEN = Path(__file__).parent / "golden"
GAME = games.comal_cycle()
#: The paper game's preferences, written out (games.comal_cycle): the independent values below start here.
P = np.array([[0.5, 0.1, 0.8], [0.9, 0.5, 0.1], [0.2, 0.9, 0.5]])


class Plain(NamedTuple):
    inner: Any


class WithHp(NamedTuple):
    inner: Any
    hp: dict


def _plain(inner, name="plain", **overrides):
    return base.wrap(
        inner,
        name=name,
        init=lambda s, game, hp: Plain(s),
        step=lambda s, oracle: Plain(inner.step(s.inner, oracle)),
        **overrides,
    )


class _Memo(NamedTuple):
    logits: games.Profile
    ref: games.Profile
    memo: Any
    eta: Any
    tau: Any


def _everything_declared():
    """A rule declaring every optional field (reset, check, working_bytes, own comparisons, preference only)."""

    def init_state(game, logits, ref, key, eta, tau):
        del game, key
        return _Memo(logits, ref, jnp.ones((), logits.x.dtype), eta, tau)

    def step(s, oracle):
        g = oracle.gradient(s.logits)
        oracle.count(0, 1)
        new = base.tree_map(lambda l, r, g: base.normalize((1 - s.eta * s.tau) * l + s.eta * s.tau * r + s.eta * g),
                            s.logits, s.ref, g)  # fmt: skip
        return s._replace(logits=new, memo=s.memo + 1)

    return base.make_rule(
        "memo", init_state, step, hparams={"eta": 0.5, "tau": 0.1}, regularized=True, accepts="preference",
        reset=lambda s: s._replace(memo=jnp.zeros_like(s.memo)), check=base.eta_tau_at_most_one("memo"),
        own_comparisons=True, working_bytes=lambda game, feedback: 123,
    )  # fmt: skip


MEMO = _everything_declared()


# ---------------------------------------------------------------------------------------------------------------
# the helper
# ---------------------------------------------------------------------------------------------------------------


def test_a_wrapper_inherits_every_declaration_it_does_not_override():
    w = _plain(MEMO)
    for field in base.COPIED:
        assert getattr(w, field) is getattr(MEMO, field), field
    assert w.hparams == MEMO.hparams and w.rounds is None and w.name == "plain"
    s = w.init(GAME, 0, start_noise=0.3, tau=0.07)
    inner = MEMO.init(GAME, 0, start_noise=0.3, tau=0.07)
    np.testing.assert_array_equal(w.policy(s).x, MEMO.policy(inner).x)
    assert float(w.tau(s)) == 0.07
    new = games.Profile(jnp.log(jnp.asarray([0.2, 0.3, 0.5])))
    np.testing.assert_array_equal(w.reference(w.with_reference(s, new)).x, new.x)
    assert float(w.reset(s._replace(inner=s.inner._replace(memo=jnp.ones(())))).inner.memo) == 0.0
    assert float(w.with_hparams(s, {"eta": 0.25}).inner.eta) == 0.25
    # the joint check is the inner rule's: eta * tau > 1 is refused through the wrapper
    with pytest.raises(ValueError, match="eta \\* tau must be <= 1"):
        w.init(GAME, eta=20.0, tau=0.1)


def test_overrides_replace_or_drop_one_declaration():
    w = _plain(MEMO, own_comparisons=False, reset=None, accepts="any")
    assert (w.own_comparisons, w.reset, w.accepts) == (False, None, "any")
    assert w.reference is not None and w.check is MEMO.check  # the rest kept


def test_own_hyperparameters_are_validated_filled_and_scheduled():
    own = base.Hparam("k", 3.0, "[1, 10]", integer=True)
    inner = algorithms.inpo()
    w = base.wrap(inner, name="k", init=lambda s, game, hp: WithHp(s, hp),
                  step=lambda s, o: s._replace(inner=inner.step(s.inner, o)), hparams=(own,))  # fmt: skip
    assert [h.name for h in w.hparams] == ["eta", "tau", "start_noise", "k"]
    s = w.init(GAME)
    assert float(s.hp["k"]) == 3.0 and s.hp["k"].dtype == GAME.dtype
    assert float(w.init(GAME, k=7).hp["k"]) == 7.0
    with pytest.raises(ValueError, match=r"k must lie in \[1, 10\] \(whole numbers\), got 11"):
        w.init(GAME, k=11)
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        w.init(GAME, bogus=1.0)
    moved = w.with_hparams(s, {"k": 5, "eta": 0.3})
    assert float(moved.hp["k"]) == 5.0 and float(moved.inner.eta) == 0.3
    # a name the inner rule declares already is not declared again: the value goes to the inner rule
    shadow = base.wrap(inner, name="s", init=lambda s, game, hp: WithHp(s, hp), step=lambda s, o: s,
                       hparams=(base.Hparam("eta", 0.9, "(0, inf)"),))  # fmt: skip
    s = shadow.init(GAME, eta=0.2)
    assert [h.name for h in shadow.hparams] == ["eta", "tau", "start_noise"]
    assert (float(s.inner.eta), float(s.hp["eta"])) == (0.2, 0.9)


def test_wrap_refuses_bad_input_naming_it():
    inner = algorithms.inpo()
    ok = dict(name="w", init=lambda s, g, hp: Plain(s), step=lambda s, o: s)
    with pytest.raises(TypeError, match="call the factory"):
        base.wrap(algorithms.inpo, **ok)
    with pytest.raises(ValueError, match="non-empty string, got ''"):
        base.wrap(inner, **{**ok, "name": ""})
    with pytest.raises(TypeError, match="step must be callable, got 3"):
        base.wrap(inner, **{**ok, "step": 3})
    with pytest.raises(TypeError, match="polcy is no declaration"):
        base.wrap(inner, **ok, polcy=lambda s: s)
    with pytest.raises(TypeError, match="hparams must be Hparam entries, got 'k'"):
        base.wrap(inner, **ok, hparams=("k",))
    with pytest.raises(ValueError, match="start_noise"):
        base.wrap(inner, **ok, hparams=(base.Hparam("start_noise", 0.0, "[0, inf)"),))
    with pytest.raises(ValueError, match="k named twice"):
        base.wrap(inner, **ok, hparams=(base.Hparam("k", 1.0),) * 2)


# ---------------------------------------------------------------------------------------------------------------
# the library's wrappers keep their inner rule's declarations
# ---------------------------------------------------------------------------------------------------------------


def test_averaged_keeps_its_inner_rules_declarations():
    avg = algorithms.averaged(MEMO)
    assert avg.regularized and avg.tau is not None and avg.reset is not None
    for field in base.COPIED:
        assert getattr(avg, field) is getattr(MEMO, field), field
    assert avg.hparams == MEMO.hparams and avg.with_hparams is not None
    s = avg.init(GAME, tau=0.07)
    assert float(avg.tau(s)) == 0.07
    np.testing.assert_array_equal(avg.reference(s).x, jnp.log(jnp.full(3, 1 / 3)))
    assert algorithms.averaged(algorithms.comal(algorithms.inpo(), 10)).rounds is not None
    # the policy is the average: after one step, the mean of the start (uniform) and the first iterate
    inner = algorithms.inpo()
    t = algorithms.run(algorithms.averaged(inner), GAME, steps=1, record_policy=True)
    one = algorithms.run(inner, GAME, steps=1, record_policy=True)
    np.testing.assert_allclose(t.policies.x[-1], (1 / 3 + one.policies.x[-1]) / 2, rtol=1e-15, atol=0)
    assert "regularized_gap" in t.metrics  # the average's gap to the inner rule's reference


def test_comal_keeps_its_inner_rules_declarations():
    c = algorithms.comal(MEMO, 10)
    assert c.accepts == "preference" and c.own_comparisons and c.reset is not None and c.rounds is not None
    assert c.working_bytes is MEMO.working_bytes and c.check is MEMO.check


# ---------------------------------------------------------------------------------------------------------------
# comal_exact: COMAL around the exact regularized solve
# ---------------------------------------------------------------------------------------------------------------


def test_regularized_exact_lands_on_the_fixed_point_of_the_regularized_game():
    """One step from ref = (0.2, 0.3, 0.5), tau = 0.1: self-play's ``x ∝ ref exp(A x / tau)``, A = P - 1/2. The
    literal values come from a damped fixed-point iteration in NumPy (z <- 0.99 z + 0.01 log(ref exp(A x/tau)),
    200 000 times, residual 2.5e-15), not from the library's mirror-prox + Newton solve."""
    ref = np.array([0.2, 0.3, 0.5])
    t = algorithms.run(algorithms.regularized_exact(), GAME, steps=2, ref=ref, tau=0.1, record_policy=True)
    x = np.asarray(t.policies.x[1])
    np.testing.assert_allclose(x, [0.3432326748745616, 0.21281899014068612, 0.44394833498475234], atol=1e-12)
    fixed = ref * np.exp((P - 0.5) @ x / 0.1)
    np.testing.assert_allclose(x, fixed / fixed.sum(), atol=1e-13)  # the defining equation itself
    # the reference stays where it is: the second step solves the same game again
    np.testing.assert_array_equal(t.policies.x[2], t.policies.x[1])
    np.testing.assert_array_equal(np.exp(t.state.ref.x), ref)


def test_comal_exact_is_comal_around_the_exact_solve_and_its_traces_are_todays():
    rule = algorithms.comal_exact()
    assert rule.name == "comal_exact" and rule.exact_only and rule.rounds is not None
    assert [h.name for h in rule.hparams] == ["tau", "start_noise"]  # one round = one solve: K is not a knob
    golden = json.loads((GOLDEN / "comal_exact_before_wrap.json").read_text())
    t = algorithms.run(rule, GAME, steps=8, key=3, start_noise=0.2, tau=0.1, record_policy=True)
    # the same operations in the same order as comal_exact's own loop did (bitwise equal when recorded, at XLA's
    # default optimisation; the default test run compiles without it, which rounds differently): a few ulp of
    # each value, or of the payoff scale (1/2) for the two gaps, each a difference of such terms
    ulp = 4 * np.finfo(np.float64).eps
    np.testing.assert_allclose(t.metrics["gap"], golden["gap"], rtol=0, atol=ulp / 2)
    np.testing.assert_allclose(t.metrics["regularized_gap"], golden["regularized_gap"], rtol=0, atol=ulp / 2)
    np.testing.assert_allclose(t.policies.x, golden["policies"], rtol=ulp, atol=0)
    assert list(np.asarray(t.counters["oracle_calls"])) == golden["oracle_calls"]
    assert int(t.state.rounds) == 8 and float(t.state.inner.residual) < 1e-12
    # from a start equal to the reference it is comal(regularized_exact(), 1) itself
    plain = algorithms.run(algorithms.comal(algorithms.regularized_exact(), 1), GAME, steps=3, tau=0.1)
    again = algorithms.run(rule, GAME, steps=3, tau=0.1)
    np.testing.assert_array_equal(plain.metrics["gap"], again.metrics["gap"])


def test_regularized_exact_validates_its_structure():
    with pytest.raises(ValueError, match="max_iter"):
        algorithms.regularized_exact(0)
    with pytest.raises(TypeError, match="max_iter"):
        algorithms.regularized_exact(2.5)
    assert algorithms.regularized_exact(10) is algorithms.regularized_exact(10)


# ---------------------------------------------------------------------------------------------------------------
# until: the analysis oracle says that it reads the game
# ---------------------------------------------------------------------------------------------------------------


def test_until_from_the_game_is_refused_under_sampled_feedback_unless_asked_for():
    rule = algorithms.comal(algorithms.inpo(), 50, until=1e-3)
    assert rule.exact_only and rule.name == "comal(inpo,50,until=0.001)"
    for fb in (games.feedback.sampled(8), games.feedback.noisy(0.1)):
        with pytest.raises(ValueError, match=r"comal\(inpo,50,until=0.001\) reads the whole game"):
            algorithms.run(rule, GAME, steps=2, feedback=fb)
    oracle = algorithms.comal(algorithms.inpo(), 50, until=1e-3, reads_game=True)
    assert not oracle.exact_only and oracle.name == "comal(inpo,50,until=0.001,reads_game)"
    t = algorithms.run(oracle, GAME, steps=2, feedback=games.feedback.sampled(8))
    assert list(np.asarray(t.counters["oracle_calls"])) == [0, 2, 4]  # one gradient + one gap read per step
    est = algorithms.comal(algorithms.inpo(), 50, until=1e-3, estimate=True)
    assert not est.exact_only  # the practical one: its own estimate


def test_until_around_a_rule_that_judges_its_own_comparisons_needs_reads_game():
    inner = MEMO  # declares own_comparisons
    with pytest.raises(ValueError, match="pass reads_game=True"):
        algorithms.comal(inner, 50, until=1e-3)
    with pytest.raises(ValueError, match="reads_game=True"):
        algorithms.comal(inner, 50, until=1e-3, estimate=True)
    rule = algorithms.comal(inner, 50, until=1e-3, reads_game=True)
    assert rule.own_comparisons and rule.name.endswith(",until=0.001,reads_game)")


def test_reads_game_is_validated():
    inpo = algorithms.inpo()
    with pytest.raises(ValueError, match="reads_game=True needs until=eps"):
        algorithms.comal(inpo, 10, reads_game=True)
    with pytest.raises(ValueError, match="contradict"):
        algorithms.comal(inpo, 10, until=1e-3, estimate=True, reads_game=True)
    with pytest.raises(TypeError, match="reads_game must be a bool, got 'yes'"):
        algorithms.comal(inpo, 10, until=1e-3, reads_game="yes")
