"""The fast path of ``sweep`` for tiny games: batch-last layout and sums over actions written out.

What is promised: the fast path changes no rule and no result beyond round-off. Every registered rule, swept on
tiny games through both paths, records the same metrics and ends in the same state to ``atol=1e-12`` after 200
steps (observed: below 1e-14); the rewrite (:func:`algorithms.layout.written_out`) agrees with the plain ``jnp``
forms to a few ulp.
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import algorithms
import games
from algorithms import runner
from algorithms.layout import WRITTEN_OUT_MAX_N, written_out

#: What the two paths may differ by after 200 steps (metrics and final state, absolute).
ATOL = 1e-12


def _both_paths(monkeypatch, call):
    out = {}
    for fast in (True, False):
        monkeypatch.setattr(runner, "_batch_last", lambda game, fast=fast: fast)
        out[fast] = call()
    return out[True], out[False]


def _assert_traces_close(fast, plain):
    assert fast.metrics.keys() == plain.metrics.keys()
    for k in plain.metrics:
        np.testing.assert_allclose(fast.metrics[k], plain.metrics[k], rtol=0, atol=ATOL, err_msg=k)
    for k in plain.counters:
        np.testing.assert_array_equal(fast.counters[k], plain.counters[k], err_msg=k)
    np.testing.assert_array_equal(fast.finite, plain.finite)
    for a, b in zip(jax.tree.leaves(fast.state), jax.tree.leaves(plain.state), strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=0, atol=ATOL)


#: the default run: one rule per family and each wrapper; -m slow: every registered rule
_DEFAULT_RULES = ("mwu", "inpo", "omwu", "comal", "averaged")


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=() if n in _DEFAULT_RULES else pytest.mark.slow)
        for n in sorted(algorithms.RULES)
    ],
)
def test_fast_path_equals_plain_path_for_every_rule(monkeypatch, name):
    rule = algorithms.get(name)
    gs = [games.random_preference(s, 3, "cyclic") for s in range(3)]
    call = lambda: algorithms.sweep(
        rule, gs, steps=200, record_every=20, seeds=2, start_noise=0.1, record_policy=True
    )
    fast, plain = _both_paths(monkeypatch, call)
    _assert_traces_close(fast, plain)
    np.testing.assert_allclose(fast.policies.x, plain.policies.x, rtol=0, atol=ATOL)


@pytest.mark.parametrize(
    "name", ["mwu", *(pytest.param(n, marks=pytest.mark.slow) for n in ("inpo", "omwu", "comal"))]
)
def test_fast_path_two_players_contextual_and_sampled(monkeypatch, name):
    rule = algorithms.get(name)
    mg = [games.matrix_game(np.random.default_rng(s).normal(size=(2, 4))) for s in range(2)]
    fast, plain = _both_paths(monkeypatch, lambda: algorithms.sweep(rule, mg, steps=200, record_every=50))
    _assert_traces_close(fast, plain)
    P = np.stack([np.asarray(games.comal_cycle().P), np.asarray(games.comal_cycle().P).T])
    ctx = games.preference_game(P, [0.3, 0.7])
    sampled = games.feedback.sampled(4)
    call = lambda: algorithms.sweep(rule, ctx, steps=200, record_every=50, seeds=3, feedback=sampled)
    fast, plain = _both_paths(monkeypatch, call)
    _assert_traces_close(fast, plain)
    assert "gap_by_context" in fast.metrics


def test_fast_path_is_taken_for_at_most_eight_actions():
    assert runner._batch_last(games.random_preference(0, WRITTEN_OUT_MAX_N))
    assert not runner._batch_last(games.random_preference(0, WRITTEN_OUT_MAX_N + 1))
    assert not runner._batch_last(games.matrix_game(np.ones((2, 9))))


def _plain(x, A):
    """Sums over actions as the rules, feedback models and metrics write them: plain ``jnp``."""
    return {
        "sum": jnp.sum(x, axis=-1),
        "max": jnp.max(x, axis=-1),
        "min": jnp.min(x, axis=-1),
        "log_softmax": jax.nn.log_softmax(x, axis=-1),
        "logsumexp": jax.scipy.special.logsumexp(x, axis=-1),
        "matvec": jnp.matmul(A, x[..., None])[..., 0],
        "vecmat": jnp.matmul(x[..., None, :], A)[..., 0, :],
    }


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 9])
def test_written_out_matches_the_plain_forms(n):
    rng = np.random.default_rng(n)
    x = jnp.asarray(rng.normal(size=(4, n)) * 3)
    A = jnp.asarray(rng.normal(size=(4, n, n)))
    ref = jax.jit(_plain)(x, A)
    written = jax.jit(written_out(_plain))(x, A)
    batch_last = jax.jit(jax.vmap(written_out(_plain), in_axes=-1, out_axes=-1))(x.T, jnp.moveaxis(A, 0, -1))
    for k, v in ref.items():
        np.testing.assert_allclose(written[k], v, rtol=1e-14, atol=1e-14, err_msg=k)
        got = jnp.moveaxis(batch_last[k], -1, 0)
        np.testing.assert_allclose(got, v, rtol=1e-14, atol=1e-14, err_msg=k)
    np.testing.assert_array_equal(written["max"], ref["max"])  # max and min are exact
    np.testing.assert_array_equal(written["min"], ref["min"])
    # the rewrite is what ran: up to 8 actions no reduction and no matrix product is left
    prims = {e.primitive.name for e in jax.make_jaxpr(written_out(_plain))(x[0], A[0]).jaxpr.eqns}
    assert prims.isdisjoint({"reduce_sum", "reduce_max", "reduce_min", "dot_general"}) == (n <= 8), prims


def test_written_out_rewrites_the_metrics_of_games():
    game, p = games.random_preference(0, 3, "cyclic"), jnp.asarray([0.2, 0.3, 0.5])
    gap = lambda p: games.metrics.duality_gap(game, p, p)
    np.testing.assert_allclose(written_out(gap)(p), gap(p), rtol=1e-14, atol=1e-15)
    assert "reduce_max" not in {e.primitive.name for e in jax.make_jaxpr(written_out(gap))(p).jaxpr.eqns}


def test_written_out_rewrites_loops_and_keeps_infinities():
    x = jnp.asarray([[0.0, -jnp.inf, 1.0], [-jnp.inf, -jnp.inf, -jnp.inf]])
    # the infinities must match exactly (assert_allclose requires inf == inf and nan == nan); the finite entries
    # are summed in another order than jax.scipy's, so they agree to a few ulp of values near 1
    eps = np.finfo(np.float64).eps
    lse = lambda x: jax.scipy.special.logsumexp(x, axis=-1)
    np.testing.assert_allclose(written_out(lse)(x), lse(x), rtol=4 * eps, atol=0)
    np.testing.assert_allclose(
        written_out(jax.nn.log_softmax)(x[:1]), jax.nn.log_softmax(x[:1], axis=-1), rtol=4 * eps, atol=0
    )

    def loop(x):  # a scan inside a step (COMAL's inner steps) is rewritten too
        return jax.lax.scan(lambda c, _: (jax.nn.log_softmax(c + 1.0), jnp.sum(c)), x, None, length=3)

    body = jax.make_jaxpr(written_out(loop))(x[0]).jaxpr.eqns[0].params["jaxpr"].jaxpr
    assert "reduce_sum" not in {e.primitive.name for e in body.eqns}
    for a, b in zip(jax.tree.leaves(written_out(loop)(x[0])), jax.tree.leaves(loop(x[0]))):
        np.testing.assert_allclose(a, b, rtol=4 * eps, atol=0)


def test_no_module_of_games_is_switched_by_algorithms():
    """The simulation owns the layout (:func:`algorithms.layout.written_out`): algorithms sets no flag in games."""
    root = Path(algorithms.__file__).parent
    for path in root.glob("*.py"):
        assert "written_out_sums()" not in path.read_text(), path.name  # (a docstring may name it)
    for path in Path(games.__file__).parent.glob("*.py"):  # and games holds no trace-time switch to set
        assert "contextvars" not in path.read_text(), path.name
