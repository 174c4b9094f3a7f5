"""The fast path of ``sweep`` for tiny games: batch-last layout and sums over actions written out.

What is promised: the fast path changes no rule and no result beyond round-off. Every registered rule, swept on
tiny games through both paths, records the same metrics and ends in the same state to ``atol=1e-12`` after 200
steps (observed: below 1e-14); the written-out helpers agree with their ``jnp`` forms to a few ulp.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import algorithms
import games
from algorithms import runner
from games import core

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
    assert runner._batch_last(games.random_preference(0, core.WRITTEN_OUT_MAX_N))
    assert not runner._batch_last(games.random_preference(0, core.WRITTEN_OUT_MAX_N + 1))
    assert not runner._batch_last(games.matrix_game(np.ones((2, 9))))


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 9])
def test_written_out_helpers_match_jnp(n):
    rng = np.random.default_rng(n)
    x = jnp.asarray(rng.normal(size=(4, n)) * 3)
    A = jnp.asarray(rng.normal(size=(4, n, n)))
    ref = lambda x, A: {
        "sum": jnp.sum(x, axis=-1),
        "max": jnp.max(x, axis=-1),
        "min": jnp.min(x, axis=-1),
        "log_softmax": jax.nn.log_softmax(x, axis=-1),
        "logsumexp": jax.scipy.special.logsumexp(x, axis=-1),
        "matvec": jnp.matmul(A, x[..., None])[..., 0],
        "vecmat": jnp.matmul(x[..., None, :], A)[..., 0, :],
    }

    def helpers(x, A):
        return {
            "sum": core.action_sum(x),
            "max": core.action_max(x),
            "min": core.action_min(x),
            "log_softmax": core.log_softmax(x),
            "logsumexp": core.logsumexp(x),
            "matvec": core._matvec(A, x),
            "vecmat": core._vecmat(x, A),
        }

    with core.written_out_sums():
        written = jax.jit(lambda x, A: helpers(x, A))(x, A)  # a fresh jit: its trace is written out
        batch_last = jax.vmap(helpers, in_axes=-1, out_axes=-1)(x.T, jnp.moveaxis(A, 0, -1))
    plain = jax.jit(helpers)(x, A)
    ref = jax.jit(ref)(x, A)
    for k, v in ref.items():
        np.testing.assert_array_equal(plain[k], v, err_msg=k)  # outside the context: the jnp forms
        np.testing.assert_allclose(written[k], v, rtol=1e-14, atol=1e-14, err_msg=k)
        got = jnp.moveaxis(batch_last[k], -1, 0)
        np.testing.assert_allclose(got, v, rtol=1e-14, atol=1e-14, err_msg=k)
    np.testing.assert_array_equal(written["max"], ref["max"])  # max and min are exact
    np.testing.assert_array_equal(written["min"], ref["min"])


def test_written_out_helpers_keep_infinities():
    x = jnp.asarray([[0.0, -jnp.inf, 1.0], [-jnp.inf, -jnp.inf, -jnp.inf]])
    # the infinities must match exactly (assert_allclose requires inf == inf and nan == nan); the finite entries
    # are summed in another order than jax.scipy's, so they agree to a few ulp of values near 1
    eps = np.finfo(np.float64).eps
    with core.written_out_sums():
        np.testing.assert_allclose(
            core.logsumexp(x), jax.scipy.special.logsumexp(x, axis=-1), rtol=4 * eps, atol=0
        )
        np.testing.assert_allclose(
            core.log_softmax(x[:1]), jax.nn.log_softmax(x[:1], axis=-1), rtol=4 * eps, atol=0
        )
