"""COMAL, the convergent meta-algorithm (Liu, Oikonomou, Zheng, Cai, Cohan; arXiv 2410.23223).

COMAL is a proximal-point outer loop: it solves the KL-regularized game ``J_tau(.; ref_k)`` with any inner rule
that converges on it, then re-centres the reference on the result, ``ref_{k+1} = pi_{k+1}``. Each outer step
strictly shrinks ``KL(pi* || ref_k)``, so the last iterate converges to the **exact** Nash policy (no
regularization bias), unlike INPO / MMD / Nash-MD alone.

* :func:`comal` — wraps any rule that declares its reference (``reference``/``with_reference``: ``inpo``,
  ``mmd``, ``nash_md``, ``egpo``, your own): ``inner_steps`` inner steps per outer step; the re-centring is a
  ``jnp.where`` select on a step counter (as optax's lookahead), not Python branching, and may also reset the
  inner rule's auxiliary memory (``reset=True``, for rules that declare ``reset``). Built with
  :func:`algorithms.base.wrap`: every declaration of the inner rule is kept.
* :func:`regularized_exact` — the exact solve as a rule: every step lands on the equilibrium of
  ``J_tau(.; ref)`` (jitted mirror-prox + Newton, :func:`games.solvers.regularized_solve`);
  :func:`comal_exact` — the conceptual prox of the paper's theorem, COMAL around it with one step per round.
* :func:`nash_prox` — Nash-Prox (arXiv 2505.19731): ``comal(nash_mp(), inner_steps)``.
* :func:`m2wu` — M2WU with a slingshot (arXiv 2208.09855, 2305.16610): ``comal(mutation_mwu(), update_freq)``.
* :func:`mpo` — magnetic preference optimisation (Wang et al., arXiv 2410.16714): MMD whose magnet is reset to
  the current policy every ``inner_steps`` steps, i.e. ``comal(mmd(), inner_steps)``.
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from games import metrics as M
from games.core import check_int
from games.solvers import SolverError, regularized_solve, regularized_tol

from . import base
from .base import Profile, tree_map
from .mirror import inpo, mmd
from .mwu import mutation_mwu
from .optimistic import nash_mp


class ComalState(NamedTuple):
    inner: Any  # the inner rule's state
    t: jax.Array  # inner steps taken
    in_round: jax.Array  # inner steps taken in the current outer round
    rounds: jax.Array  # outer rounds completed (re-centrings)
    hp: dict  # the wrapper's own hyperparameters: inner_steps, beta[, until] (arrays of the game's dtype)


class ProxState(NamedTuple):
    logits: Profile
    ref: Profile
    tau: jax.Array
    residual: jax.Array  # fixed-point residual of the last inner solve
    worst: jax.Array  # the largest residual of any solve so far (checked after the run)


def comal(
    inner: base.UpdateRule | None = None,
    inner_steps: int = 100,
    *,
    reset: bool = False,
    beta: float | None = None,
    until: float | None = None,
    estimate: bool = False,
    reads_game: bool = False,
) -> base.UpdateRule:
    """COMAL around ``inner`` (default :func:`algorithms.inpo`): the reference-reset family in one wrapper.

    Each outer round runs inner steps on ``J_tau(.; ref_k)`` and ends with the re-centring
    ``ref_{k+1} ∝ ref_k^(1 - beta) pi^beta`` (``beta = 1``: ``ref_{k+1} = pi``, COMAL's hard reset; ``beta < 1``:
    the soft, EMA-magnet reset of arXiv 2606.23995 / NashPG, arXiv 2510.18183, in log space). A round ends
    after ``inner_steps`` inner steps ``K_k``, or (with ``until``) as soon as the inner iterate's regularized gap
    to the current reference is at most ``eps_k``, with ``K_k`` as the cap. The select is ``jnp.where`` on
    counters (the shape of optax's ``lookahead``), never Python branching on traced values.

    Args:
        inner: a rule that declares its reference (``inner.regularized``).
        inner_steps: the default of the hyperparameter ``inner_steps`` (``K``, the cap with ``until``).
        reset: also apply ``inner.reset`` at each re-centring (the rule must declare one).
        beta: ``None`` (the hard reset ``ref <- pi``, no hyperparameter), or the default of the hyperparameter
            ``beta`` (the re-centring's mixing weight, ``(0, 1]``; ``beta = 1`` gives the hard reset's numbers).
        until: ``None`` (fixed rounds), or the default ``eps`` of the hyperparameter ``until``: end the round
            once the regularized gap ``gap_tau(pi; ref_k) <= eps_k``. With ``estimate=False`` the gap is
            computed from the game itself: an **analysis oracle** no practical learner has, counted as one
            oracle call per step; the wrapper then runs with exact feedback only, unless ``reads_game=True``
            says the oracle is wanted. With ``estimate=True`` the same test is run on the rule's own estimate: the
            regularized gap of :func:`games.metrics.regularized_gap_of_gradients` at the feedback model's
            gradient of the current policy (one more oracle call per step, and its comparisons under sampled
            feedback).
        estimate: see ``until``.
        reads_game: with ``until`` and without ``estimate``, the gap read from the game is allowed where the
            learner sees samples only: under sampled or noisy feedback, and around a rule that judges its own
            comparisons (``own_comparisons``). Without it that wrapper declares
            ``exact_only`` (the runner refuses stochastic feedback) and an inner rule that judges its own
            comparisons is refused: a sampled rule never reads the exact game silently. With it the name says
            so (``...,until=eps,reads_game``): an analysis baseline, not a learner.

    Hyperparameters: those of ``inner`` (for INPO: ``eta`` 0.5, ``tau`` 0.1), plus ``inner_steps`` (whole
    numbers ``[1, inf)``), with ``beta``: ``beta``, and with ``until``: ``until`` (``(0, inf)``), all counted in outer
    rounds: a schedule for them (:mod:`algorithms.schedules`) is a function of the round ``k``, e.g. a growing
    number of inner steps ``run(comal(), game, inner_steps=schedules.growth(16, rate=1.5, cap=4096))``. A name
    the inner rule already declares (a COMAL inside a COMAL) stays fixed at the factory's value.

    The same arguments return the same rule object (no recompilation).

    Example:
        >>> trace = algorithms.run(comal(inpo(), 100), games.comal_cycle(), steps=5000, record_every=1000)
        >>> bool(trace.metrics["gap"][-1] < 1e-12)
        True
    """
    inner = inpo() if inner is None else inner
    base.check_regularized(inner, "comal")
    inner_steps = check_int(inner_steps, "comal: inner_steps")
    if not isinstance(reset, (bool, np.bool_)):
        raise TypeError(f"comal: reset must be a bool, got {reset!r}")
    if reset and inner.reset is None:
        raise ValueError(f"comal: reset=True, but {inner.name} declares no reset")
    beta = None if beta is None else base.check_fraction(beta, "comal: beta")
    if not isinstance(estimate, (bool, np.bool_)):
        raise TypeError(f"comal: estimate must be a bool, got {estimate!r}")
    if not isinstance(reads_game, (bool, np.bool_)):
        raise TypeError(f"comal: reads_game must be a bool, got {reads_game!r}")
    if until is not None:
        if isinstance(until, bool) or not isinstance(until, (int, float, np.number)):
            raise TypeError(f"comal: until must be None or a number eps > 0, got {until!r}")
        if not 0 < float(until) < math.inf:
            raise ValueError(f"comal: until must be a finite eps > 0, got {until!r}")
        if inner.tau is None:
            raise ValueError(f"comal: until needs the inner rule's KL weight; {inner.name} declares no tau")
        if estimate and reads_game:
            raise ValueError(
                "comal: estimate=True and reads_game=True contradict each other: until's gap is either "
                "estimated from the feedback or read from the game"
            )
        if estimate and inner.own_comparisons:
            raise ValueError(
                f"comal: estimate=True tests the feedback model's gradient; {inner.name} judges its own pairs "
                f"itself, so it has no sampled estimate of the gap: let it ask the feedback model for gradients "
                f"(feedback=games.feedback.sampled(K)), or read the exact gap on purpose with reads_game=True "
                f"(an analysis oracle)"
            )
        if not estimate and not reads_game and inner.own_comparisons:
            raise ValueError(
                f"comal: until=eps reads the regularized gap from the game itself (an analysis oracle), but "
                f"{inner.name} learns from its own sampled comparisons: pass reads_game=True to read the exact "
                f"game on purpose, or test an estimate (estimate=True around a rule that asks the feedback "
                f"for gradients)"
            )
        until = float(until)
    elif estimate:
        raise ValueError("comal: estimate=True needs until=eps (it says how the gap of until is measured)")
    elif reads_game:
        raise ValueError("comal: reads_game=True needs until=eps (it says how the gap of until is read)")
    suffix = ",reset" if reset else ""
    suffix += "" if beta is None else f",beta={beta:g}"
    if until is not None:
        suffix += f",until={until:g}" + (",estimate" if estimate else ",reads_game" if reads_game else "")
    name = f"comal({inner.name},{inner_steps}{suffix})"
    return _comal(inner, inner_steps, bool(reset), name, beta, until, bool(estimate), bool(reads_game))


def _own_hparams(inner_steps: int, beta: float | None, until: float | None) -> dict:
    """The wrapper's hyperparameters (counted in outer rounds) and their defaults."""
    own = {
        "inner_steps": base.Hparam(
            "inner_steps", float(inner_steps), "[1, inf)", integer=True, counts="rounds"
        )
    }
    if beta is not None:
        own["beta"] = base.Hparam("beta", beta, "(0, 1]", counts="rounds")
    if until is not None:
        own["until"] = base.Hparam("until", until, "(0, inf)", counts="rounds")
    return own


@functools.cache
def _comal(
    inner: base.UpdateRule,
    inner_steps: int,
    reset: bool,
    name: str,
    beta: float | None = None,
    until: float | None = None,
    estimate: bool = False,
    reads_game: bool = False,
    prox_point: bool = False,
) -> base.UpdateRule:
    """COMAL around ``inner``; ``prox_point`` (comal_exact): ``inner_steps`` is fixed, not a hyperparameter,
    and the proximal-point sequence starts at its start, ``ref_0 = pi_0``."""
    own = _own_hparams(inner_steps, beta, until)
    fixed = {"inner_steps": own.pop("inner_steps")} if prox_point else {}

    def init(state, game, hp):
        zero = jnp.zeros((), jnp.int32)
        if prox_point:
            state = inner.with_reference(state, inner.policy(state))
        fixed_hp = {n: jnp.asarray(h.default, game.dtype) for n, h in fixed.items()}
        return ComalState(state, zero, zero, zero, {**fixed_hp, **hp})

    def gap(state, oracle):
        """The inner iterate's regularized gap to the current reference (``until``)."""
        current, ref = inner.policy(state), inner.reference(state)
        x, y = base.probs(current).pair()
        rx, ry = base.probs(ref).pair()
        tau = inner.tau(state)
        if not estimate:  # the analysis oracle: the game itself
            oracle.count(1)
            return M.regularized_gap(oracle.game, (x, y), tau, (rx, ry))
        g = oracle.gradient(current)  # the feedback model's estimate, counted by the oracle
        gx, gy = (g.x, g.x) if g.self_play else (g.x, g.y)
        return M.regularized_gap_of_gradients(oracle.game, (x, y), (gx, gy), tau, (rx, ry))

    def step(s, oracle):
        state = inner.step(s.inner, oracle)
        j = s.in_round + 1
        recentre = j >= s.hp["inner_steps"]
        if until is not None:
            recentre = recentre | (gap(state, oracle) <= s.hp["until"])
        current, ref = inner.policy(state), inner.reference(state)
        target = current  # no beta: the hard reset, ref <- pi
        if beta is not None:  # soft: ref <- normalize((1 - b) log ref + b log pi); b = 1 selects pi itself
            b = s.hp["beta"]
            target = tree_map(
                lambda l, r: jnp.where(b >= 1, l, base.normalize((1 - b) * r + b * l)), current, ref
            )
        moved = inner.with_reference(state, tree_map(lambda m, r: jnp.where(recentre, m, r), target, ref))
        if reset:
            cleared = inner.reset(moved)
            moved = tree_map(lambda a, b: jnp.where(recentre, a, b), cleared, moved)
        rounds = s.rounds + recentre.astype(s.rounds.dtype)
        return ComalState(moved, s.t + 1, jnp.where(recentre, 0, j), rounds, s.hp)

    # the gap read from the game, not asked for by name: exact feedback only
    reads = until is not None and not estimate and not reads_game
    return base.wrap(
        inner,
        name=name,
        init=init,
        step=step,
        hparams=tuple(own.values()),
        rounds=lambda s: s.rounds,
        exact_only=inner.exact_only or reads,
    )


def mpo(inner_steps: int = 100) -> base.UpdateRule:
    """Magnetic preference optimisation (arXiv 2410.16714): MMD with the magnet reset to the current policy every
    ``inner_steps`` steps — exactly ``comal(mmd(), inner_steps)``. Hyperparameters: ``eta`` (0.5), ``tau`` (0.1).
    """
    inner_steps = check_int(inner_steps, "mpo: inner_steps")
    return _comal(mmd(), inner_steps, False, f"mpo({inner_steps})")


def nash_prox(inner_steps: int = 100) -> base.UpdateRule:
    """Nash-Prox (Tiapkin et al., arXiv 2505.19731, COLT 2026 "Proximal Point Nash Learning from Human
    Feedback"): mirror-prox on the regularized game (:func:`algorithms.nash_mp`) inside the proximal-point
    loop, ``ref <- pi`` after every ``inner_steps`` inner steps — exactly ``comal(nash_mp(), inner_steps)``.
    Hyperparameters: ``eta`` (0.5), ``tau`` (0.1), ``inner_steps``.

    Example:
        >>> t = algorithms.run(nash_prox(50), games.comal_cycle(), steps=2000, record_every=2000)
        >>> bool(t.metrics["gap"][-1] < 1e-8)
        True
    """
    inner_steps = check_int(inner_steps, "nash_prox: inner_steps")
    return _comal(nash_mp(), inner_steps, False, f"nash_prox({inner_steps})")


def m2wu(update_freq: int | None = 100) -> base.UpdateRule:
    """M2WU with a slingshot (Abe et al., arXiv 2208.09855 and 2305.16610): mutation-driven MWU
    (:func:`algorithms.mwu.mutation_mwu`, ``pi' ∝ pi exp(eta (r + mu (ref - pi) / pi))``) whose reference is
    reset to the current policy every ``update_freq`` steps — ``comal(mutation_mwu(), update_freq)``.

    Reset timing: the reference is re-centred **after** every ``update_freq``-th step (steps ``K, 2K, ...``,
    counting steps taken), so update ``K + 1`` is the first to use it, as every rule of this wrapper does. This
    is the authors' code (``CyberAgentAILab/m2wu``, ``algorithms/m2wu.py``: ``t += 1``, then
    ``ref <- pi`` when ``t % update_freq == 0``): there is no offset, and the trajectories agree to round-off
    (``tests/test_schedules.py::test_m2wu_matches_the_authors_reset_timing``). The slingshot paper's code
    (``CyberAgentAILab/adaptively-perturbed-md``) differs: it also re-centres on the start at ``t = 0`` (here:
    pass ``ref=start``) and lets each later reset take effect one update later. ``update_freq=None``: no
    slingshot (a fixed reference).
    Hyperparameters: ``eta`` (0.5), ``mu`` (0.1), and with a slingshot ``inner_steps`` (its default
    ``update_freq``, a schedule over rounds allowed).

    Example:
        >>> t = algorithms.run(m2wu(100), games.comal_cycle(), steps=5000, record_every=5000)
        >>> bool(t.metrics["gap"][-1] < 1e-6)
        True
    """
    if update_freq is None:
        return mutation_mwu()
    update_freq = check_int(update_freq, "m2wu: update_freq")
    return _comal(mutation_mwu(), update_freq, False, f"m2wu({update_freq})")


def regularized_exact(max_iter: int = 100_000) -> base.UpdateRule:
    """The exact solve of the KL-regularized game as a rule: every step sets the policy to the equilibrium of
    ``J_tau(.; ref)``, the fixed point ``x ∝ ref exp(A y / tau)``, ``y ∝ ref exp(-A^T x / tau)``, and leaves the
    reference where it is (so a second step lands on the same point). :func:`comal_exact` is COMAL around it.

    The solve is :func:`games.solvers.regularized_solve` (jitted mirror-prox to a fixed-point residual of
    ~1e-13, at most ``max_iter`` iterations, then Newton); ``state.residual`` records the last residual and
    ``state.worst`` the largest of the run, which must reach :func:`games.solvers.regularized_tol` (1e-12 in
    float64): after ``run`` or ``sweep``, a :class:`games.solvers.SolverError` names the shortfall. It
    reads the whole game (``exact_only``) and counts its solve as oracle calls: 2 per mirror-prox iteration
    (both players' gradients at the half step and at the step) plus 1 per Newton step; the periodic residual
    checks are not counted. Hyperparameters: ``tau`` (0.1).

    Example:
        >>> t = algorithms.run(regularized_exact(), games.comal_cycle(), steps=1, record_every=1, tau=0.1)
        >>> bool(t.metrics["regularized_gap"][-1] < 1e-12)
        True
    """
    max_iter = check_int(max_iter, "regularized_exact: max_iter")
    return _regularized_exact(max_iter)


def comal_exact(max_iter: int = 100_000) -> base.UpdateRule:
    """The conceptual proximal point of COMAL's theorem: ``pi_{k+1}`` = the exact equilibrium of
    ``J_tau(.; ref = pi_k)``, one outer step per ``step``: COMAL around :func:`regularized_exact` with one inner
    step per round. The sequence starts at the start, ``ref_0 = pi_0`` (the start, default the reference,
    perturbed by ``start_noise``), and the round's length is fixed, not a hyperparameter; otherwise it is
    ``comal(regularized_exact(max_iter), 1)``, the same numbers when the start is the reference.

    It reads the whole game (exact feedback only) and counts its inner solve as oracle calls (see
    :func:`regularized_exact`); ``state.inner.residual`` is the last solve's residual. Hyperparameters: ``tau``
    (0.1).
    """
    max_iter = check_int(max_iter, "comal_exact: max_iter")
    return _comal(_regularized_exact(max_iter), 1, False, "comal_exact", prox_point=True)


#: Newton polishing steps of :func:`games.solvers.regularized_solve` (its default).
_NEWTON_STEPS = 4


@functools.cache
def _regularized_exact(max_iter: int) -> base.UpdateRule:

    def init_state(game, logits, ref, key, tau):
        del game, key
        zero = jnp.zeros((), logits.x.dtype)
        return ProxState(logits, ref, tau, zero, zero)

    def step(s, oracle):
        rx, ry = s.ref.pair()
        lx, ly, res, iterations = regularized_solve(
            oracle.game, s.tau, rx, ry, max_iter=max_iter, newton_steps=_NEWTON_STEPS
        )
        oracle.count(2 * iterations + _NEWTON_STEPS)
        logits = Profile(lx) if s.logits.self_play else Profile(lx, ly)
        res = res.astype(s.residual.dtype)
        return ProxState(logits, s.ref, s.tau, res, jnp.maximum(s.worst, res))

    def verify(s):
        worst, tol = np.max(np.asarray(s.worst)), regularized_tol(s.worst.dtype)
        if not worst <= tol:  # NaN included
            raise SolverError(
                f"regularized_exact(max_iter={max_iter}): an exact solve reached residual {worst:.3e} > tol "
                f"{tol:.0e}; raise max_iter, or tau (the solve is slower for small tau)"
            )

    return base.make_rule(
        "regularized_exact",
        init_state,
        step,
        hparams={"tau": (0.1, "(0, inf)")},
        regularized=True,
        exact_only=True,
        verify=verify,
    )
