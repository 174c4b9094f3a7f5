"""The conformance kit: the invariants every update rule must satisfy, as plain functions.

``check_rule(rule)`` runs all of them on the paper's game (and on a rectangular matrix game unless the rule is
self-play only), in float32 and float64, and raises ``AssertionError`` naming the first violation and what to
change. The test suite runs it over every entry of ``algorithms.RULES``; a new rule gets the same checks with one
call::

    from algorithms import conformance
    conformance.check_rule(my_rule)

Checks: the state keeps its structure and dtypes; policies stay on the simplex; ``jit`` and eager steps agree;
``vmap`` over keys and hyperparameters equals a loop; a second ``run`` with new seeds and hyperparameter values
does not recompile; the declared games, self-play choice and hyperparameter intervals are enforced before
anything compiles (values just inside each interval run, values outside raise ``ValueError``); self-play and
two-player runs agree on a symmetric game from a symmetric start (skipped for rules that declare
``self_play_only``: they refuse ``self_play=False``, which is checked instead); the counters (``oracle_calls``,
``comparisons``) grow as the feedback model says (for rules that declare ``own_comparisons``, i.e. sample and
judge their own pairs: comparisons grow under exact feedback too, reproducibly by key); ``with_reference``
round-trips for regularized rules.

Cost per rule (float32 and float64, one process, rules checked one after another; measured 2026-12-02 on the
2-core VM at a load average of 14.6-17, so the wall times are upper bounds and the CPU times are what an idle
core would take): ``mwu`` 15.0 s CPU (121 s wall; the first rule of a process also compiles what later rules
share), ``comal`` 9.4 s CPU (71 s wall), ``comal_exact`` 30.0 s CPU (232 s wall: its inner solve). Importing
JAX and the package took another 21.6 s of wall time, once per process.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

import games
from games.feedback import Oracle

from .base import UpdateRule, as_key, resolve_self_play
from .runner import TRACE_COUNT, _progress_bar, _simulate_jit, run

__all__ = [
    "check_rule",
    "check_step",
    "check_vmap",
    "check_no_recompile",
    "check_validation",
    "check_self_play",
    "check_counters",
    "check_reference",
    "conformance_games",
]

#: A rectangular zero-sum game with a unique, partly mixed equilibrium (for two-player rules).
RECTANGULAR = np.array([[0.3, -0.2, 0.5, 0.1], [-0.4, 0.6, -0.1, 0.2], [0.2, 0.1, -0.3, -0.5]])


def conformance_games(rule: UpdateRule, dtype) -> list[games.Game]:
    """The games a rule is checked on: the paper's cycle, plus a 3x4 matrix game for two-player rules."""
    out = [games.comal_cycle(dtype=dtype)]
    if not rule.self_play_only and rule.accepts == "any":
        out.append(games.matrix_game(RECTANGULAR, dtype=dtype))
    return out


def _floats(tree):
    return [l for l in jax.tree.leaves(tree) if jnp.issubdtype(l.dtype, jnp.inexact)]


def _tol(dtype) -> float:
    return 1e-5 if jnp.dtype(dtype) == jnp.float32 else 1e-12


def _step(rule: UpdateRule, state, game):
    return rule.step(state, Oracle(game, None, jax.random.PRNGKey(0)))


@functools.cache
def _step_jit(rule: UpdateRule):
    """One jitted step per rule, shared by :func:`check_step` and :func:`check_vmap` (one compile per game
    shape and dtype, not one per check and point)."""
    return jax.jit(functools.partial(_step, rule))


@functools.cache
def _batched_step_jit(rule: UpdateRule):
    """The step ``vmap``-ped over a batch of states (one game), jitted per rule: one compile per game shape and
    dtype."""
    return jax.jit(jax.vmap(functools.partial(_step, rule), in_axes=(0, None)))


def check_step(rule: UpdateRule, game: games.Game) -> None:
    """Structure, dtype, simplex and jit-vs-eager for one step from a perturbed start."""
    dtype = game.dtype
    s0 = rule.init(game, 1, start_noise=0.3)
    s1 = _step(rule, s0, game)
    assert jax.tree.structure(s1) == jax.tree.structure(s0), (
        f"{rule.name}: step changed the state's structure"
    )
    for a, b in zip(jax.tree.leaves(s0), jax.tree.leaves(s1)):
        assert a.shape == b.shape and a.dtype == b.dtype, (
            f"{rule.name}: leaf {a.shape}/{a.dtype} -> {b.shape}/{b.dtype}"
        )
    assert all(l.dtype == dtype for l in _floats(s1)), (
        f"{rule.name}: state dtype differs from the game's {dtype} (create arrays with the game's dtype)"
    )
    policy = rule.policy(s1)
    assert isinstance(policy, games.Profile), (
        f"{rule.name}: policy must return a games.Profile, got {policy!r}"
    )
    atol = _tol(dtype)
    x, y = policy.pair()
    for p, n in zip((x, y), game.shape):
        p = jnp.exp(p)
        assert p.shape == (*game.A.shape[:-2], n), f"{rule.name}: policy shape {p.shape}"
        assert float(p.min()) >= 0 and abs(float(p.sum()) - 1) < atol, (
            f"{rule.name}: policy left the simplex: {p} (normalize the log-probabilities, e.g. base.normalize)"
        )
    s1_jit = _step_jit(rule)(s0, game)
    for a, b in zip(jax.tree.leaves(s1), jax.tree.leaves(s1_jit)):
        np.testing.assert_allclose(
            np.asarray(a),
            np.asarray(b),
            rtol=10 * atol,
            atol=10 * atol,
            err_msg=f"{rule.name}: jit and eager steps differ",
        )


def _grid(rule: UpdateRule, k: int = 3) -> dict:
    """k valid hyperparameter points inside the declared intervals (start_noise varied too)."""
    hp = {h.name: jnp.asarray(h.interior()[:k]) for h in rule.hparams if h.name != "start_noise"}
    hp["start_noise"] = jnp.asarray([0.1, 0.2, 0.3][:k])
    return hp


def check_vmap(rule: UpdateRule, game: games.Game) -> None:
    """``vmap`` of init + two steps over keys and hyperparameters equals a Python loop. The loop's steps reuse
    :func:`check_step`'s compiled step; the batch's steps are the step ``vmap``-ped and jitted."""
    keys = jnp.stack([as_key(k) for k in (0, 1, 2)])
    hp = _grid(rule)
    step, batched_step = _step_jit(rule), _batched_step_jit(rule)
    states = jax.vmap(lambda k, hp: rule.init(game, k, **hp))(keys, hp)
    batched = batched_step(batched_step(states, game), game)
    tol = _tol(game.dtype)
    for i in range(3):
        s0 = rule.init(game, keys[i], **{k: v[i] for k, v in hp.items()})
        single = step(step(s0, game), game)
        for a, b in zip(jax.tree.leaves(batched), jax.tree.leaves(single)):
            np.testing.assert_allclose(
                np.asarray(a[i]),
                np.asarray(b),
                rtol=tol,
                atol=tol,
                err_msg=f"{rule.name}: vmap differs from a loop at point {i}",
            )


def check_no_recompile(rule: UpdateRule, game: games.Game) -> None:
    """A second ``run`` with another seed and other hyperparameter values reuses the compiled scan."""
    _run_one(rule, game, key=0)
    before, traces = _simulate_jit._cache_size(), TRACE_COUNT.get(rule.name, 0)
    hp = {h.name: h.interior()[1] for h in rule.hparams}
    _run_one(rule, game, key=5, **hp)
    assert _simulate_jit._cache_size() == before, f"{rule.name}: new seed/hyperparameters recompiled the run"
    assert TRACE_COUNT[rule.name] == traces, (
        f"{rule.name}: new seed/hyperparameters retraced the run (numeric hyperparameters must live in the state, "
        f"and the factory must return the same rule object: cache it)"
    )


def _bad_values(h) -> list[float]:
    low, high, lc, hc = h.bounds
    out = [float("nan"), float("inf"), -float("inf")]
    if math.isfinite(low):
        out.append(low if not lc else low - max(1.0, abs(low)) * 1e-3)
    if math.isfinite(high):
        out.append(high if not hc else high + max(1.0, abs(high)) * 1e-3)
    if h.integer:  # a fraction between two valid whole numbers
        out.append(h.default - 0.5 if h.contains(np.asarray(h.default - 1.0)) else h.default + 0.5)
    return out


def _expect_error(call, what: str, error=ValueError) -> None:
    try:
        call()
    except error:
        return
    raise AssertionError(what)


def check_validation(rule: UpdateRule) -> None:
    """The declared games and intervals are enforced at ``init`` and in ``run``, before anything compiles."""
    game = games.comal_cycle()
    rect = games.matrix_game(RECTANGULAR)
    if rule.self_play_only or rule.accepts == "preference":
        _expect_error(
            lambda: rule.init(rect),
            f"{rule.name}: declared self-play/preference only, accepted a 3x4 matrix game",
        )
    if rule.accepts == "preference":
        skew = games.matrix_game(np.asarray(game.A))
        _expect_error(
            lambda: run(rule, skew, steps=1, self_play=True),
            f"{rule.name}: declared accepts='preference', ran on a skew-symmetric matrix game",
        )
    _expect_error(lambda: rule.init(game, bogus=1.0), f"{rule.name}: an unknown hyperparameter was accepted")
    for h in rule.hparams:
        for v in _bad_values(h):
            for call in (rule.init, lambda game, **kw: run(rule, game, steps=1, **kw)):
                _expect_error(
                    functools.partial(call, game, **{h.name: v}),
                    f"{rule.name}: {h.name}={v} lies outside its declared interval {h.domain} but was accepted",
                )
        for v in h.interior():
            rule.init(game, **{h.name: v})  # just inside: accepted (joint checks hold near the defaults)


def _run_one(rule, game, **kw):
    """The kit's one run shape (3 steps, every step recorded): the checks share its compiled scan."""
    kw = {"key": 2, "start_noise": 0.2, **kw}
    return run(rule, game, steps=3, record_every=1, **kw)


def check_self_play(rule: UpdateRule) -> None:
    """``self_play`` both ways: on a preference game the two-player run from a symmetric start equals self-play;
    ``True`` on a non-symmetric game and ``False`` for a self-play-only rule are refused."""
    game = games.comal_cycle()
    _expect_error(
        lambda: resolve_self_play(rule, games.matrix_game(RECTANGULAR), True),
        f"{rule.name}: self_play=True was accepted on a non-symmetric game",
    )
    if rule.self_play_only:
        _expect_error(
            lambda: rule.init(game, self_play=False), f"{rule.name}: self-play only, accepted self_play=False"
        )
        return
    ref = jnp.asarray([0.5, 0.3, 0.2])
    one = _run_one(rule, game, ref=ref, start_noise=0.0)
    two = _run_one(rule, game, ref=(ref, ref), self_play=False, start_noise=0.0)
    assert one.policy.self_play and not two.policy.self_play, f"{rule.name}: self_play choice not honoured"
    np.testing.assert_allclose(
        np.asarray(two.policy.x),
        np.asarray(one.policy.x),
        atol=1e-12,
        err_msg=f"{rule.name}: two players (x) != self-play",
    )
    np.testing.assert_allclose(
        np.asarray(two.policy.y),
        np.asarray(one.policy.x),
        atol=1e-12,
        err_msg=f"{rule.name}: two players (y) != self-play",
    )


def check_counters(rule: UpdateRule) -> None:
    """Both counters: ``oracle_calls`` grows every step; ``comparisons`` is 0 with exact feedback and
    ``samples * actions`` per call with sampled feedback (``samples`` per prompt for judged pairs), and the run
    hyperparameter ``samples`` judges fewer; sampled runs are reproducible by key."""
    game = games.comal_cycle()
    t = _run_one(rule, game)
    calls = np.asarray(t.counters["oracle_calls"])
    assert calls[0] == 0 and np.all(np.diff(calls) > 0), (
        f"{rule.name}: oracle_calls {calls} must start at 0 and grow"
    )
    if rule.own_comparisons:  # it samples and judges its own pairs: comparisons grow, reproducibly by key
        comparisons = np.asarray(t.counters["comparisons"])
        assert comparisons[0] == 0 and np.all(np.diff(comparisons) > 0), (
            f"{rule.name}: declares own_comparisons, but comparisons {comparisons} do not grow"
        )
        again = _run_one(rule, game)
        assert np.array_equal(np.asarray(t.metrics["gap"]), np.asarray(again.metrics["gap"])), (
            f"{rule.name}: its own sampling is not reproducible by key (draw with oracle.next_key())"
        )
    else:
        assert np.all(np.asarray(t.counters["comparisons"]) == 0), (
            f"{rule.name}: exact feedback counted comparisons"
        )
    sampled = games.feedback.sampled(8)
    if rule.exact_only:
        _expect_error(
            lambda: _run_one(rule, game, feedback=sampled),
            f"{rule.name}: exact_only, accepted sampled feedback",
        )
        return
    a, b = _run_one(rule, game, feedback=sampled), _run_one(rule, game, feedback=sampled)
    ca, cc = np.asarray(a.counters["oracle_calls"]), np.asarray(a.counters["comparisons"])
    assert np.all(np.diff(ca) > 0), f"{rule.name}: oracle_calls {ca} must grow"
    # a gradient judges 8 duels per action (3 actions); judged pairs (a loss-based rule) 8 per prompt (1)
    unit = 1 if np.array_equal(cc, ca * 8) else game.shape[0]
    assert np.array_equal(cc, ca * 8 * unit), (
        f"{rule.name}: comparisons {cc} != calls {ca} x 8 samples x 3 actions (or x 1 prompt)"
    )
    fewer = np.asarray(_run_one(rule, game, feedback=sampled, samples=2).counters["comparisons"])
    assert np.array_equal(fewer, ca * 2 * unit), (
        f"{rule.name}: with samples=2 of 8 judged, comparisons {fewer} != calls {ca} x 2 x {unit}"
    )
    assert np.array_equal(np.asarray(a.metrics["gap"]), np.asarray(b.metrics["gap"])), (
        f"{rule.name}: sampled feedback is not reproducible by key"
    )


def check_reference(rule: UpdateRule) -> None:
    """For regularized rules: ``reference(with_reference(s, r)) == r``, the policy is left alone, and ``tau``
    reads the hyperparameter."""
    if not rule.regularized:
        return
    game = games.comal_cycle()
    has_tau = rule.tau is not None  # a reference without a KL weight (M2WU's mutation) has no J_tau
    s = rule.init(game, 0, start_noise=0.3, **({"tau": 0.07} if has_tau else {}))
    new = games.Profile(jnp.log(jnp.asarray([0.2, 0.3, 0.5])))
    moved = rule.with_reference(s, new)
    assert jax.tree.structure(moved) == jax.tree.structure(s), (
        f"{rule.name}: with_reference changed the state's structure"
    )
    np.testing.assert_array_equal(
        np.asarray(rule.reference(moved).x), np.asarray(new.x), err_msg=f"{rule.name}: with_reference"
    )
    np.testing.assert_array_equal(
        np.asarray(rule.policy(moved).x),
        np.asarray(rule.policy(s).x),
        err_msg=f"{rule.name}: with_reference moved the policy",
    )
    if has_tau:
        assert float(rule.tau(s)) == 0.07, f"{rule.name}: tau(state) does not read the tau hyperparameter"


def check_rule(rule: UpdateRule, dtypes=(jnp.float32, jnp.float64), progress: bool | None = None) -> None:
    """Every check above, on every test game and dtype (float64 needs ``jax_enable_x64``).

    The checks share their compiled work: one jitted step and one jitted (and one vmapped) ``init`` + two
    steps per game and dtype, and one compiled ``run`` shape for the no-recompile, self-play and counter
    checks. Most of a rule's cost is compiling those programs and one eager step per game and dtype; the
    rules with an inner solve (``comal_exact``) or an inner optimizer (loss-based) take longest.

    Args:
        progress: a progress bar on stderr naming the check that runs (``None``: only when stderr is a
            terminal).

    Raises:
        TypeError: ``rule`` is not an UpdateRule (e.g. an uncalled factory).
        AssertionError: the first violated invariant, with what to change.
    """
    if not isinstance(rule, UpdateRule):
        hint = " (call the factory: algorithms.mwu())" if callable(rule) else ""
        raise TypeError(f"check_rule expects an UpdateRule{hint}, got {rule!r}")
    checks = []
    for dtype in dtypes:
        if jnp.dtype(dtype) == jnp.float64 and not jax.config.jax_enable_x64:
            raise ValueError(
                "float64 checks need jax.config.update('jax_enable_x64', True) before anything runs"
            )
        for game in conformance_games(rule, dtype):
            where = f"{'preference' if game.preference else 'matrix'} {jnp.dtype(dtype).name}"
            checks.append((f"step ({where})", functools.partial(check_step, rule, game)))
            checks.append((f"vmap ({where})", functools.partial(check_vmap, rule, game)))
    checks += [
        ("no recompile", functools.partial(check_no_recompile, rule, games.comal_cycle())),
        ("validation", functools.partial(check_validation, rule)),
        ("self-play", functools.partial(check_self_play, rule)),
        ("counters", functools.partial(check_counters, rule)),
        ("reference", functools.partial(check_reference, rule)),
    ]
    bar = _progress_bar(len(checks), f"conformance {rule.name}", progress, unit="check")
    try:
        for label, check in checks:
            if bar is not None:
                bar.set_postfix_str(label)
            check()
            if bar is not None:
                bar.update()
    finally:
        if bar is not None:
            bar.close()
