"""The conformance kit: the invariants every update rule must satisfy, as plain functions.

``check_rule(rule)`` runs all of them on the paper's game (and on a rectangular matrix game unless the rule is
self-play only), in float32 and float64, and raises ``AssertionError`` naming the first violation. The test suite
runs it over every entry of ``algorithms.RULES``; a new rule gets the same checks with one call::

    from algorithms import conformance
    conformance.check_rule(my_rule)

Checks: the state keeps its structure and dtypes; policies stay on the simplex; ``jit`` and eager steps agree;
``vmap`` over keys and hyperparameters equals a loop; a second ``run`` with new seeds and hyperparameter values
does not recompile; a self-play rule rejects a non-symmetric game; out-of-range hyperparameters raise
``ValueError`` before anything compiles.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import games

from .base import UpdateRule, as_key
from .runner import TRACE_COUNT, _simulate_jit, run

__all__ = [
    "check_rule",
    "check_step",
    "check_vmap",
    "check_no_recompile",
    "check_validation",
    "conformance_games",
]

#: A rectangular zero-sum game with a unique, partly mixed equilibrium (for two-player rules).
RECTANGULAR = np.array([[0.3, -0.2, 0.5, 0.1], [-0.4, 0.6, -0.1, 0.2], [0.2, 0.1, -0.3, -0.5]])


def conformance_games(rule: UpdateRule, dtype) -> list[games.Game]:
    """The games a rule is checked on: the paper's cycle, plus a 3x4 matrix game for two-player rules."""
    out = [games.comal_cycle(dtype=dtype)]
    if not rule.self_play_only:
        out.append(games.matrix_game(RECTANGULAR, dtype=dtype))
    return out


def _floats(tree):
    return [l for l in jax.tree.leaves(tree) if jnp.issubdtype(l.dtype, jnp.inexact)]


def check_step(rule: UpdateRule, game: games.Game) -> None:
    """Structure, dtype, simplex and jit-vs-eager for one step from a perturbed start."""
    dtype = game.dtype
    s0 = rule.init(game, 1, noise=0.3)
    s1 = rule.step(s0, game)
    assert jax.tree.structure(s1) == jax.tree.structure(s0), (
        f"{rule.name}: step changed the state's structure"
    )
    for a, b in zip(jax.tree.leaves(s0), jax.tree.leaves(s1)):
        assert a.shape == b.shape and a.dtype == b.dtype, (
            f"{rule.name}: leaf {a.shape}/{a.dtype} -> {b.shape}/{b.dtype}"
        )
    assert all(l.dtype == dtype for l in _floats(s1)), (
        f"{rule.name}: state dtype differs from the game's {dtype}"
    )
    x, y = rule.policy(s1)
    atol = 1e-5 if dtype == jnp.float32 else 1e-12
    for p, n in zip((x, y), game.shape):
        assert p.shape == (*game.A.shape[:-2], n), f"{rule.name}: policy shape {p.shape}"
        assert float(p.min()) >= 0 and abs(float(p.sum()) - 1) < atol, (
            f"{rule.name}: policy left the simplex: {p}"
        )
    s1_jit = jax.jit(rule.step)(s0, game)
    for a, b in zip(jax.tree.leaves(s1), jax.tree.leaves(s1_jit)):
        np.testing.assert_allclose(
            np.asarray(a),
            np.asarray(b),
            rtol=10 * atol,
            atol=10 * atol,
            err_msg=f"{rule.name}: jit and eager steps differ",
        )


def _grid(rule: UpdateRule, k: int = 3) -> dict:
    """k valid hyperparameter points around the defaults (noise varied too)."""
    hp = {n: jnp.asarray([v * f for f in (1.0, 0.8, 1.2)][:k]) for n, v in rule.hparams if n != "noise"}
    hp["noise"] = jnp.asarray([0.1, 0.2, 0.3][:k])
    return hp


def check_vmap(rule: UpdateRule, game: games.Game) -> None:
    """``vmap`` of init + two steps over keys and hyperparameters equals a Python loop."""
    keys = jnp.stack([as_key(k) for k in (0, 1, 2)])
    hp = _grid(rule)

    def two_steps(k, hp):
        s = rule.init(game, k, **hp)
        return rule.step(rule.step(s, game), game)

    batched = jax.vmap(two_steps)(keys, hp)
    tol = 1e-5 if game.dtype == jnp.float32 else 1e-12
    for i in range(3):
        single = two_steps(keys[i], {k: v[i] for k, v in hp.items()})
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
    run(rule, game, steps=4, key=0)
    before, traces = _simulate_jit._cache_size(), TRACE_COUNT.get(rule.name, 0)
    hp = {n: 0.7 * v + 0.01 for n, v in rule.hparams}
    run(rule, game, steps=4, key=5, **hp)
    assert _simulate_jit._cache_size() == before, f"{rule.name}: new seed/hyperparameters recompiled the run"
    assert TRACE_COUNT[rule.name] == traces, f"{rule.name}: new seed/hyperparameters retraced the run"


def check_validation(rule: UpdateRule) -> None:
    """Self-play rules reject non-symmetric games; bad hyperparameters raise ValueError at init and in run."""
    game = games.comal_cycle()
    if rule.self_play_only:
        try:
            rule.init(games.matrix_game(RECTANGULAR))
        except ValueError:
            pass
        else:
            raise AssertionError(f"{rule.name}: a self-play rule accepted a non-symmetric game")
    names = dict(rule.hparams)
    bad = [{"bogus": 1.0}, {"noise": -1.0}] + [
        {n: v} for n in names if n != "noise" for v in (0.0, -1.0, float("nan"), float("inf"))
    ]
    for hp in bad:
        for call in (rule.init, lambda game, **kw: run(rule, game, steps=1, **kw)):
            try:
                call(game, **hp)
            except ValueError:
                continue
            raise AssertionError(f"{rule.name}: hyperparameters {hp} were accepted")


def check_rule(rule: UpdateRule, dtypes=(jnp.float32, jnp.float64)) -> None:
    """Every check above, on every test game and dtype (float64 needs ``jax_enable_x64``)."""
    if not isinstance(rule, UpdateRule):
        raise TypeError(f"check_rule expects an UpdateRule, got {rule!r}")
    for dtype in dtypes:
        for game in conformance_games(rule, dtype):
            check_step(rule, game)
            check_vmap(rule, game)
    check_no_recompile(rule, games.comal_cycle())
    check_validation(rule)
