"""COMAL, the convergent meta-algorithm (Liu, Oikonomou, Zheng, Cai, Cohan; arXiv 2410.23223).

COMAL is a proximal-point outer loop: it solves the KL-regularized game ``J_tau(.; ref_k)`` with any inner rule
that converges on it, then re-centres the reference on the result, ``ref_{k+1} = pi_{k+1}``. Each outer step
strictly shrinks ``KL(pi* || ref_k)``, so the last iterate converges to the **exact** Nash policy (no
regularization bias), unlike INPO / MMD / Nash-MD alone.

* :func:`comal` — wraps any rule that declares its reference (``reference``/``with_reference``: ``inpo``,
  ``mmd``, ``nash_md``, ``egpo``, your own): ``inner_steps`` inner steps per outer step; the re-centring is a
  ``jnp.where`` select on a step counter (as optax's lookahead), not Python branching, and may also reset the
  inner rule's auxiliary memory (``reset=True``, for rules that declare ``reset``).
* :func:`comal_exact` — the conceptual prox of the paper's theorem: every step solves the regularized game
  exactly (jitted mirror-prox + Newton, :func:`games.solvers.regularized_solve`) and re-centres.
* :func:`mpo` — magnetic preference optimisation (Wang et al., arXiv 2410.16714): MMD whose magnet is reset to
  the current policy every ``inner_steps`` steps, i.e. ``comal(mmd(), inner_steps)``.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from games.core import check_int
from games.solvers import regularized_solve

from . import base
from .base import Profile, tree_map
from .mirror import inpo, mmd


class ComalState(NamedTuple):
    inner: Any  # the inner rule's state
    t: jax.Array  # inner steps taken


class ProxState(NamedTuple):
    logits: Profile
    ref: Profile
    tau: jax.Array
    residual: jax.Array  # fixed-point residual of the last inner solve


def _check_inner(inner, who: str) -> None:
    if not isinstance(inner, base.UpdateRule):
        hint = " (call the factory: algorithms.inpo())" if callable(inner) else ""
        raise TypeError(f"{who}: inner must be an UpdateRule{hint}, got {inner!r}")
    if not inner.regularized or inner.with_reference is None:
        raise ValueError(
            f"{who}: inner rule {inner.name} does not declare a KL reference (reference/with_reference); "
            f"COMAL needs a rule that solves a KL-regularized game, e.g. inpo, mmd, nash_md, egpo, or a rule "
            f"built with make_rule(..., regularized=True)"
        )


def comal(
    inner: base.UpdateRule | None = None, inner_steps: int = 100, *, reset: bool = False
) -> base.UpdateRule:
    """COMAL around ``inner`` (default :func:`algorithms.inpo`): after every ``inner_steps`` steps, ``ref <- pi``.

    Args:
        inner: a rule that declares its reference (``inner.regularized``).
        inner_steps: inner steps per outer (proximal) step, ``K``.
        reset: also apply ``inner.reset`` at each re-centring (the rule must declare one).

    The same arguments return the same rule object (no recompilation). Hyperparameters: those of ``inner``
    (for INPO: ``eta`` 0.5, ``tau`` 0.1).

    Example:
        >>> trace = algorithms.run(comal(inpo(), 100), games.comal_cycle(), steps=5000, record_every=1000)
        >>> bool(trace.metrics["gap"][-1] < 1e-12)
        True
    """
    inner = inpo() if inner is None else inner
    _check_inner(inner, "comal")
    inner_steps = check_int(inner_steps, "comal: inner_steps")
    if not isinstance(reset, (bool, np.bool_)):
        raise TypeError(f"comal: reset must be a bool, got {reset!r}")
    if reset and inner.reset is None:
        raise ValueError(f"comal: reset=True, but {inner.name} declares no reset")
    suffix = ",reset" if reset else ""
    return _comal(inner, inner_steps, bool(reset), f"comal({inner.name},{inner_steps}{suffix})")


@functools.cache
def _comal(inner: base.UpdateRule, inner_steps: int, reset: bool, name: str) -> base.UpdateRule:

    def init(game, key=None, *, ref=None, start=None, self_play=None, **hp):
        state = inner.init(game, key, ref=ref, start=start, self_play=self_play, **hp)
        return ComalState(state, jnp.zeros((), jnp.int32))

    def step(s, oracle):
        state = inner.step(s.inner, oracle)
        t = s.t + 1
        recentre = t % inner_steps == 0
        current, ref = inner.policy(state), inner.reference(state)
        moved = inner.with_reference(state, tree_map(lambda l, r: jnp.where(recentre, l, r), current, ref))
        if reset:
            cleared = inner.reset(moved)
            moved = tree_map(lambda a, b: jnp.where(recentre, a, b), cleared, moved)
        return ComalState(moved, t)

    return base.UpdateRule(
        name=name,
        init=init,
        step=step,
        policy=lambda s: inner.policy(s.inner),
        hparams=inner.hparams,
        accepts=inner.accepts,
        self_play_only=inner.self_play_only,
        exact_only=inner.exact_only,
        tau=lambda s: inner.tau(s.inner),
        reference=lambda s: inner.reference(s.inner),
        with_reference=lambda s, ref: s._replace(inner=inner.with_reference(s.inner, ref)),
        reset=None if inner.reset is None else lambda s: s._replace(inner=inner.reset(s.inner)),
        check=inner.check,
        own_comparisons=inner.own_comparisons,
        working_bytes=inner.working_bytes,
    )


def mpo(inner_steps: int = 100) -> base.UpdateRule:
    """Magnetic preference optimisation (arXiv 2410.16714): MMD with the magnet reset to the current policy every
    ``inner_steps`` steps — exactly ``comal(mmd(), inner_steps)``. Hyperparameters: ``eta`` (0.5), ``tau`` (0.1).
    """
    inner_steps = check_int(inner_steps, "mpo: inner_steps")
    return _comal(mmd(), inner_steps, False, f"mpo({inner_steps})")


def comal_exact(max_iter: int = 100_000) -> base.UpdateRule:
    """The conceptual proximal point of COMAL's theorem: ``pi_{k+1}`` = the exact equilibrium of
    ``J_tau(.; ref = pi_k)``, one outer step per ``step``.

    The inner solve runs to a fixed-point residual of ~1e-13 (at most ``max_iter`` mirror-prox iterations, then
    Newton); ``state.residual`` records it. It reads the whole game (exact feedback only) and counts its inner
    solve as oracle calls: 2 per mirror-prox iteration (both players' gradients at the half step and at the
    step) plus 1 per Newton step; the periodic residual checks are not counted. Hyperparameters: ``tau`` (0.1).
    """
    max_iter = check_int(max_iter, "comal_exact: max_iter")
    return _comal_exact(max_iter)


#: Newton polishing steps of :func:`games.solvers.regularized_solve` (its default).
_NEWTON_STEPS = 4


@functools.cache
def _comal_exact(max_iter: int) -> base.UpdateRule:

    def init_state(game, logits, ref, key, tau):
        del game, ref, key
        return ProxState(logits, logits, tau, jnp.zeros((), logits.x.dtype))

    def step(s, oracle):
        rx, ry = s.ref.pair()
        lx, ly, res, iterations = regularized_solve(
            oracle.game, s.tau, rx, ry, max_iter=max_iter, newton_steps=_NEWTON_STEPS
        )
        oracle.count(2 * iterations + _NEWTON_STEPS)
        logits = Profile(lx) if s.logits.self_play else Profile(lx, ly)
        return ProxState(logits, logits, s.tau, res.astype(s.residual.dtype))

    return base.make_rule(
        "comal_exact",
        init_state,
        step,
        hparams={"tau": (0.1, "(0, inf)")},
        regularized=True,
        exact_only=True,
    )
