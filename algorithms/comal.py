"""COMAL, the convergent meta-algorithm (Liu, Oikonomou, Zheng, Cai, Cohan; arXiv 2410.23223).

COMAL is a proximal-point outer loop: it solves the KL-regularized game ``J_tau(.; ref_k)`` with any inner rule
that converges on it, then re-centres the reference on the result, ``ref_{k+1} = pi_{k+1}``. Each outer step
strictly shrinks ``KL(pi* || ref_k)``, so the last iterate converges to the **exact** Nash policy (no
regularization bias), unlike INPO / MMD / Nash-MD alone.

* :func:`comal` — wraps a rule whose state has ``ref`` and ``logits`` (``inpo``, ``mmd``, ``nash_md``,
  ``egpo``, or your own): ``inner_steps`` inner steps per outer step, the re-centring is a ``jnp.where``
  select on a step counter (as optax's lookahead), not Python branching.
* :func:`comal_exact` — the conceptual prox of the paper's theorem: every step solves the regularized game
  exactly (jitted mirror-prox + Newton, :func:`games.solvers.regularized_solve`) and re-centres.
* :func:`mpo` — magnetic preference optimisation (arXiv 2410.16714): MMD whose magnet is reset to the current
  policy every ``inner_steps`` steps, i.e. ``comal(mmd(), inner_steps)``.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from games.solvers import regularized_solve

from . import base
from .base import tree_map
from .mirror import inpo, mmd


class ComalState(NamedTuple):
    inner: Any  # the inner rule's state (holds logits and ref)
    t: jax.Array  # inner steps taken


class ProxState(NamedTuple):
    logits: Any
    ref: Any
    tau: jax.Array
    residual: jax.Array  # fixed-point residual of the last inner solve


def _check_inner(inner, inner_steps: int, who: str):
    if not isinstance(inner, base.UpdateRule):
        raise TypeError(f"{who}: inner must be an UpdateRule (e.g. algorithms.inpo()), got {inner!r}")
    if inner.regularization is not base.ref_regularization:
        raise ValueError(
            f"{who}: inner rule {inner.name} does not solve a KL-regularized game with tau/ref in its state "
            f"(a rule built by make_rule(..., regularized=True)); use one of inpo, mmd, nash_md, egpo"
        )
    if isinstance(inner_steps, bool) or not isinstance(inner_steps, int):
        raise TypeError(f"{who}: inner_steps must be an int, got {inner_steps!r}")
    if inner_steps < 1:
        raise ValueError(f"{who}: inner_steps must be >= 1, got {inner_steps}")


def comal(inner: base.UpdateRule | None = None, inner_steps: int = 100) -> base.UpdateRule:
    """COMAL around ``inner`` (default :func:`algorithms.inpo`): after every ``inner_steps`` steps, ``ref <- pi``.

    The same arguments return the same rule object (no recompilation). Hyperparameters: those of ``inner``
    (for INPO: ``eta`` 0.5, ``tau`` 0.1).

    Example:
        >>> trace = algorithms.run(comal(inpo(), 100), games.comal_cycle(), steps=5000, eta=0.5, tau=0.1)
    """
    inner = inpo() if inner is None else inner
    _check_inner(inner, inner_steps, "comal")
    return _comal(inner, inner_steps, f"comal({inner.name},{inner_steps})")


@functools.cache
def _comal(inner: base.UpdateRule, inner_steps: int, name: str) -> base.UpdateRule:

    def init(game, key=None, *, ref=None, **hp):
        return ComalState(inner.init(game, key, ref=ref, **hp), jnp.zeros((), jnp.int32))

    def step(s, game):
        state = inner.step(s.inner, game)
        t = s.t + 1
        recentre = t % inner_steps == 0
        ref = tree_map(lambda l, r: jnp.where(recentre, l, r), state.logits, state.ref)
        return ComalState(state._replace(ref=ref), t)

    return base.UpdateRule(
        name=name,
        init=init,
        step=step,
        policy=lambda s: inner.policy(s.inner),
        hparams=inner.hparams,
        regularization=lambda s: inner.regularization(s.inner),
        self_play_only=inner.self_play_only,
        check=inner.check,
    )


def mpo(inner_steps: int = 100) -> base.UpdateRule:
    """Magnetic preference optimisation (arXiv 2410.16714): MMD with the magnet reset to the current policy every
    ``inner_steps`` steps — exactly ``comal(mmd(), inner_steps)``. Hyperparameters: ``eta`` (0.5), ``tau`` (0.1).
    """
    _check_inner(mmd(), inner_steps, "mpo")
    return _comal(mmd(), inner_steps, f"mpo({inner_steps})")


def comal_exact(max_iter: int = 100_000) -> base.UpdateRule:
    """The conceptual proximal point of COMAL's theorem: ``pi_{k+1}`` = the exact equilibrium of
    ``J_tau(.; ref = pi_k)``, one outer step per ``step``.

    The inner solve runs to a fixed-point residual of ~1e-13 (at most ``max_iter`` mirror-prox iterations, then
    Newton); ``state.residual`` records it. Hyperparameters: ``tau`` (0.1).
    """
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"comal_exact: max_iter must be an int >= 1, got {max_iter!r}")
    return _comal_exact(max_iter)


@functools.cache
def _comal_exact(max_iter: int) -> base.UpdateRule:

    def init(game, logits, ref, key, tau):
        return ProxState(logits, logits, tau, jnp.zeros((), game.dtype))

    def step(s, game):
        rx, ry = base.as_pair(s.ref)
        lx, ly, res, _ = regularized_solve(game, s.tau, rx, ry, max_iter=max_iter)
        logits = (lx, ly) if isinstance(s.logits, tuple) else lx
        return ProxState(logits, logits, s.tau, res.astype(s.residual.dtype))

    return base.make_rule("comal_exact", init, step, hparams={"tau": 0.1}, regularized=True)
