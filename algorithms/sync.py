"""Reference-model sync as practitioners run it, mapped onto COMAL's wrapper (:func:`algorithms.comal`).

Self-play on preference games, ``r_pi = P pi`` the win rates, ``tau`` the KL weight, ``ref`` the reference,
all policies as log-probabilities. What TRL calls a *reference-model sync* is COMAL's outer loop:

* **TR-DPO** (Gorbatovski et al., arXiv 2404.09656; TRL ``DPOConfig(sync_ref_model=True,
  ref_model_mixup_alpha=alpha, ref_model_sync_steps=K)``, beta the DPO KL weight): every ``K`` steps
  ``theta_ref <- alpha theta + (1 - alpha) theta_ref``. :func:`tr_dpo` is ``comal(inner, K, beta=alpha)``, whose
  re-centring ``ref' ∝ ref^(1 - alpha) pi^alpha`` is the same update in log space; DPO's beta is the inner
  rule's ``tau``.
* **hard sync** (TRL's GRPO ``ref_model_sync_steps``, issues #2684 / #2700; KTO #6152; ``alpha = 1``): every
  ``K`` steps ``ref <- pi``. :func:`hard_sync` is ``comal(inner, K)``.

Why the parameter-space and log-space updates coincide for tabular and log-linear policies: with
``log pi_theta = log_softmax(b + F theta)`` (``b`` the fixed start logits, ``F`` the features; tabular:
``F = I``) the logits are affine in ``theta``, so
``b + F (alpha theta + (1 - alpha) theta_ref) = alpha (b + F theta) + (1 - alpha) (b + F theta_ref)``, and
``log_softmax`` drops the two normalisers ``log Z``: ``log ref' = normalize(alpha log pi + (1 - alpha) log ref)``,
COMAL's soft re-centring with ``beta = alpha``. For an MLP or a transformer the logits are not affine in
``theta`` and the two differ: :func:`parameter_sync` keeps the reference's parameters and mixes those.

**The K = 1 limit.** With ``ref`` re-centred on ``pi`` after every step (``K = 1, alpha = 1``), INPO's update
``pi' ∝ pi^(1 - eta tau) ref^(eta tau) exp(eta r_pi)`` reads ``ref = pi`` at every step (the start is the
reference) and becomes ``pi' ∝ pi exp(eta r_pi)``: MWU, which has no regularization and cycles on a
non-transitive game; anchored IPO (:func:`anchored_ipo`) becomes iterative IPO (MWU with ``eta = 1/tau``).
With ``alpha < 1`` the reference is an exponential moving average of the iterates, a magnet that moves.

:func:`adaptive_kl` is the adaptive KL weight of Ziegler et al. (arXiv 1909.08593), as TRL's and OpenRLHF's
``AdaptiveKLController``: ``tau <- tau (1 + clip(KL / target - 1, -0.2, 0.2) n / horizon)``, ``n = 1`` step.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from games.core import check_int

from . import base, losses, policies
from .base import Profile, normalize, tree_map
from .comal import comal
from .loss_based import loss_based
from .mirror import inpo
from .mwu import bt_fit

__all__ = [
    "tr_dpo",
    "hard_sync",
    "anchored_ipo",
    "anchored_dpo",
    "adaptive_kl",
    "parameter_sync",
    "kl_to_reference",
    "swept",
    "LOSSES",
    "TR_DPO_ALPHA",
    "TR_DPO_SYNC_STEPS",
]

#: TR-DPO's recommended mix of the soft update (arXiv 2404.09656).
TR_DPO_ALPHA = 0.6
#: TR-DPO's recommended steps between two soft updates (arXiv 2404.09656).
TR_DPO_SYNC_STEPS = 512


class AnchoredState(NamedTuple):
    logits: Profile  # log pi
    ref: Profile  # log ref
    tau: jax.Array


class AnchoredDPOState(NamedTuple):
    logits: Profile
    ref: Profile
    reward: jax.Array  # [.., n] the last Bradley-Terry fit (warm start)
    tau: jax.Array
    ridge: jax.Array


@functools.cache
def anchored_ipo() -> base.UpdateRule:
    """Online IPO against a reference that the wrapper syncs (Azar et al., arXiv 2310.12036; Calandriello et
    al., arXiv 2403.08635): the population minimizer of ``(h_ref(y_w, y_l) - 1/(2 tau))^2`` over pairs drawn from
    ``pi_t``, ``pi' ∝ ref exp(r_pi / tau)``. It is INPO with ``eta = 1/tau`` (``eta tau = 1``); with ``ref = pi``
    (sync every step) it is iterative IPO. Hyperparameters: ``tau`` (2.0)."""

    def init_state(game, logits, ref, key, tau):
        del game, key
        return AnchoredState(logits, ref, tau)

    def step(s, oracle):
        g = oracle.gradient(s.logits)
        return s._replace(logits=tree_map(lambda r, g: normalize(r + g / s.tau), s.ref, g))

    return base.make_rule(
        "anchored_ipo", init_state, step, hparams={"tau": (2.0, "(0, inf)")}, regularized=True
    )


@functools.cache
def anchored_dpo() -> base.UpdateRule:
    """Online DPO against a reference that the wrapper syncs, in this sandbox's closed form (as
    :func:`algorithms.iterative_dpo`): fit Bradley-Terry rewards ``s`` to the pairs ``pi_t x pi_t`` judged by
    ``P``, then take DPO's optimum ``pi' ∝ ref exp(s / tau)`` (``tau`` is DPO's beta; Rafailov et al., arXiv
    2305.18290). With ``ref = pi`` it is iterative DPO. Reads the whole game (exact feedback only).
    Hyperparameters: ``tau`` (2.0), ``ridge`` (1e-3)."""

    def init_state(game, logits, ref, key, tau, ridge):
        del game, key
        return AnchoredDPOState(logits, ref, jnp.zeros_like(logits.x), tau, ridge)

    def step(s, oracle):
        game = oracle.game
        fit = lambda P, pi, r0: bt_fit(P, pi, r0, s.ridge)  # noqa: E731
        if game.contextual:
            fit = jax.vmap(fit)
        r = fit(game.P, jnp.exp(s.logits.x), s.reward)
        oracle.count(1)
        return s._replace(logits=Profile(normalize(s.ref.x + r / s.tau)), reward=r)

    return base.make_rule(
        "anchored_dpo",
        init_state,
        step,
        hparams={"tau": (2.0, "(0, inf)"), "ridge": (1e-3, "(0, inf)")},
        accepts="preference",
        self_play_only=True,
        exact_only=True,
        regularized=True,
    )


def _ipo_ref(pairs: losses.Pairs, *, tau) -> jax.Array:
    """IPO against the reference: ``(h_ref(y_w, y_l) - 1/(2 tau))^2``; minimizer ``pi' ∝ ref exp(r / tau)``."""
    h = (pairs.logp_w - pairs.ref_w) - (pairs.logp_l - pairs.ref_l)
    return losses.weighted_mean((h - 0.5 / tau) ** 2, pairs.weight)


def _dpo_ref(pairs: losses.Pairs, *, tau) -> jax.Array:
    """DPO against the reference: ``-log sigmoid(tau h_ref(y_w, y_l))`` (``tau`` is DPO's beta)."""
    h = (pairs.logp_w - pairs.ref_w) - (pairs.logp_l - pairs.ref_l)
    return losses.weighted_mean(-jax.nn.log_sigmoid(tau * h), pairs.weight)


#: Losses against a synced reference, for :func:`algorithms.loss_based` (its ``tau`` is the KL weight).
LOSSES = {
    "ipo_ref": losses.Loss("ipo_ref", _ipo_ref, (("tau", (2.0, "(0, inf)")),), regularized=True),
    "dpo_ref": losses.Loss("dpo_ref", _dpo_ref, (("tau", (2.0, "(0, inf)")),), regularized=True),
}


def tr_dpo(
    inner: base.UpdateRule | None = None, *, alpha: float = TR_DPO_ALPHA, sync_steps: int = TR_DPO_SYNC_STEPS
) -> base.UpdateRule:
    """TR-DPO's soft reference update (arXiv 2404.09656): ``comal(inner, sync_steps, beta=alpha)``.

    TRL's ``ref_model_mixup_alpha`` is the wrapper's ``beta`` (the re-centring ``ref' ∝ ref^(1-alpha) pi^alpha``,
    TRL's parameter update for tabular and log-linear policies, see the module docstring); its
    ``ref_model_sync_steps`` is ``inner_steps``; DPO's beta is the inner rule's ``tau`` (``run(..., tau=beta)``).
    Both ``alpha`` and ``sync_steps`` remain hyperparameters (``beta``, ``inner_steps``), so a sweep over
    them compiles once.

    Args:
        inner: a rule that declares its reference (default :func:`anchored_dpo`; for sampled pairs,
            ``loss_based(sync.LOSSES["dpo_ref"], policy)`` under ``sampled(K)``).
        alpha: ``(0, 1]``; 1 is the hard sync.
        sync_steps: ``K >= 1``.

    Raises:
        TypeError / ValueError: as :func:`algorithms.comal`, naming ``alpha`` or ``sync_steps``.
    """
    inner = anchored_dpo() if inner is None else inner
    alpha = base.check_fraction(alpha, "tr_dpo: alpha")
    return comal(inner, check_int(sync_steps, "tr_dpo: sync_steps"), beta=alpha)


def hard_sync(inner: base.UpdateRule | None = None, *, sync_steps: int) -> base.UpdateRule:
    """Hard reference sync every ``sync_steps`` steps (TRL's GRPO ``ref_model_sync_steps``; TR-DPO's "hard
    update"): ``ref <- pi``, i.e. ``comal(inner, sync_steps)`` (default inner :func:`algorithms.inpo`)."""
    inner = inpo() if inner is None else inner
    return comal(inner, check_int(sync_steps, "hard_sync: sync_steps"))


# ---------------------------------------------------------------------------------------------------------------
# the adaptive KL weight
# ---------------------------------------------------------------------------------------------------------------


def kl_to_reference(policy: Profile, ref: Profile, weights=None) -> jax.Array:
    """``KL(pi || ref)`` of log-probability profiles: per prompt summed over responses, then the ``weights``-mean
    over prompts (uniform when ``None``), then the mean over players."""

    def one(lp, lr):
        kl = jnp.sum(jnp.exp(lp) * (lp - lr), axis=-1)
        if kl.ndim == 0:
            return kl
        w = jnp.full(kl.shape, 1.0 / kl.shape[-1], kl.dtype) if weights is None else weights
        return jnp.sum(w * kl, axis=-1)

    parts = [one(policy.x, ref.x)] + ([] if policy.y is None else [one(policy.y, ref.y)])
    return sum(parts) / len(parts)


class AdaptiveState(NamedTuple):
    inner: Any
    kl: jax.Array  # KL(pi_t || ref_t) measured before the last step (the controller's observation)
    hp: dict  # kl_target, kl_horizon, tau_max


def adaptive_kl(
    inner: base.UpdateRule, *, target: float = 0.1, horizon: float = 10000 / 256
) -> base.UpdateRule:
    """The adaptive KL weight of Ziegler et al. (arXiv 1909.08593, Sec. 2.2), as TRL's and OpenRLHF's
    ``AdaptiveKLController``: after each step,

        ``tau <- min(tau (1 + clip(KL / target - 1, -0.2, 0.2) / horizon), tau_max)``,

    ``KL = KL(pi_t || ref_t)`` of the policy the step started from (the controller reads the state, so it is a
    rule, not a schedule: a schedule is a function of the count alone). The controller counts ``n = 1`` per
    step, so ``horizon`` is in steps (TRL's ``horizon = 10000`` samples at 256 per batch: ``39.06`` steps, the
    default). The KL is the exact one of the policy (a pipeline estimates it from samples); the step itself
    uses the ``tau`` in force before the update, as the controller's ``update`` follows the batch.

    Hyperparameters: those of ``inner`` (``tau`` is its start), ``kl_target`` (``target``), ``kl_horizon``
    (``horizon``), ``tau_max`` (2.0; INPO needs ``eta tau <= 1``). A schedule for ``tau`` is refused (the
    controller owns it). It wraps a rule that declares ``tau``, its reference and ``with_hparams``, and is
    itself such a rule: ``comal(adaptive_kl(inpo()), K)`` syncs it.

    Raises:
        TypeError / ValueError: an inner rule without them, or a bad ``target`` / ``horizon``.
    """
    base.check_regularized(inner, "adaptive_kl")
    if inner.tau is None or inner.with_hparams is None or "tau" not in {h.name for h in inner.hparams}:
        raise ValueError(f"adaptive_kl: {inner.name} must declare the hyperparameter tau and with_hparams")
    for name, v in (("target", target), ("horizon", horizon)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.number)) or not 0 < float(v) < np.inf:
            raise ValueError(f"adaptive_kl: {name} must be a finite number > 0, got {v!r}")
    if float(horizon) < 1:
        raise ValueError(f"adaptive_kl: horizon must be >= 1 step (tau stays positive), got {horizon!r}")
    return _adaptive_kl(inner, float(target), float(horizon))


@functools.cache
def _adaptive_kl(inner: base.UpdateRule, target: float, horizon: float) -> base.UpdateRule:
    own = {
        "kl_target": base.Hparam("kl_target", target),
        "kl_horizon": base.Hparam("kl_horizon", horizon, "[1, inf)"),
        "tau_max": base.Hparam("tau_max", 2.0),
    }
    name = f"adaptive_kl({inner.name},target={target:g})"

    def init(state, game, hp):
        return AdaptiveState(state, jnp.zeros((), game.dtype), hp)

    def step(s, oracle):
        kl = kl_to_reference(inner.policy(s.inner), inner.reference(s.inner), oracle.game.weights)
        moved = inner.step(s.inner, oracle)
        error = jnp.clip(kl / s.hp["kl_target"] - 1, -0.2, 0.2)
        tau = jnp.minimum(inner.tau(s.inner) * (1 + error / s.hp["kl_horizon"]), s.hp["tau_max"])
        return AdaptiveState(inner.with_hparams(moved, {"tau": tau}), kl.astype(s.kl.dtype), s.hp)

    def with_hparams(s, values):
        if "tau" in values:
            raise ValueError(f"{name}: tau is set by the KL controller; a schedule for it is refused")
        mine = {n: jnp.asarray(v, s.hp[n].dtype) for n, v in values.items() if n in own}
        rest = {n: v for n, v in values.items() if n not in own}
        return AdaptiveState(inner.with_hparams(s.inner, rest) if rest else s.inner, s.kl, {**s.hp, **mine})

    return base.wrap(
        inner,
        name=name,
        init=init,
        step=step,
        hparams=tuple(own.values()),
        with_hparams=with_hparams,
        rounds=None,
    )


# ---------------------------------------------------------------------------------------------------------------
# parameter-space EMA of the reference
# ---------------------------------------------------------------------------------------------------------------


class ParamSyncState(NamedTuple):
    inner: Any  # the loss-based rule's state (algorithms.loss_based.LossState)
    ref_params: Any  # theta_ref
    in_round: jax.Array
    rounds: jax.Array
    hp: dict  # inner_steps (K), beta (alpha)


def parameter_sync(
    loss: str | losses.Loss,
    policy: policies.Policy,
    *,
    sync_steps: int = TR_DPO_SYNC_STEPS,
    alpha: float = TR_DPO_ALPHA,
    **options,
) -> base.UpdateRule:
    """A loss-based rule (``loss_based(loss, policy, **options)``) whose reference is a **parameter** EMA, as
    TRL's ``SyncRefModelCallback``: after every ``K = sync_steps``-th step ``theta_ref <- alpha theta + (1 -
    alpha) theta_ref`` and ``log ref = log_softmax(log pi_start + f(theta_ref))``; ``theta_ref`` starts at the
    initial parameters (so the start must be the reference, the default).

    Its hyperparameters carry :func:`algorithms.comal`'s names, ``inner_steps`` (``K``) and ``beta``
    (``alpha``), so a sweep covers it and ``comal(loss_based(loss, policy, **options), K, beta=alpha)``, its
    log-space twin, alike; for :func:`~algorithms.policies.tabular` and :func:`~algorithms.policies.loglinear`
    policies the two are the same rule (module docstring; tested to round-off), for an MLP they are not.
    The re-centring reads the loss-based state's ``params`` and ``offset`` (``LossState``).

    Raises:
        TypeError / ValueError: as :func:`algorithms.loss_based`; a loss without a reference.
    """
    inner = loss_based(loss, policy, **options)
    if not inner.regularized:
        raise ValueError(
            f"parameter_sync: loss {loss!r} reads no reference (give a regularized loss, e.g. inpo)"
        )
    k = check_int(sync_steps, "parameter_sync: sync_steps")
    return _parameter_sync(inner, policy, k, base.check_fraction(alpha, "parameter_sync: alpha"))


@functools.cache
def _parameter_sync(inner: base.UpdateRule, policy: policies.Policy, k: int, alpha: float) -> base.UpdateRule:
    own = {
        "inner_steps": base.Hparam("inner_steps", float(k), "[1, inf)", integer=True, counts="rounds"),
        "beta": base.Hparam("beta", alpha, "(0, 1]", counts="rounds"),
    }

    def init(state, game, hp):
        zero = jnp.zeros((), jnp.int32)
        return ParamSyncState(state, state.params, zero, zero, hp)

    def step(s, oracle):
        state = inner.step(s.inner, oracle)
        j = s.in_round + 1
        sync = j >= s.hp["inner_steps"]
        b = s.hp["beta"]
        mixed = tree_map(lambda p, r: jnp.where(sync, b * p + (1 - b) * r, r), state.params, s.ref_params)
        log_ref = jax.nn.log_softmax(state.offset + policy.log_probs(mixed), axis=-1)
        ref = Profile(jnp.where(sync, jnp.reshape(log_ref, state.ref.x.shape), state.ref.x))
        rounds = s.rounds + sync.astype(s.rounds.dtype)
        return ParamSyncState(inner.with_reference(state, ref), mixed, jnp.where(sync, 0, j), rounds, s.hp)

    return base.wrap(
        inner,
        name=f"parameter_sync({inner.name},{k},alpha={alpha:g})",
        init=init,
        step=step,
        hparams=tuple(own.values()),
        rounds=lambda s: s.rounds,
    )


#: The labels of :func:`swept` whose rules are loss-based (they judge pairs, :meth:`games.feedback.Oracle.pairs`).
LOSS_BASED = ("dpo", "mlp", "mlp_params")


def swept(name: str, game, *, features=None, hidden: tuple[int, ...] = (8,)) -> dict[str, base.UpdateRule]:
    """The sync study's rules (``experiments/sync.py``), ``label -> rule``, each with the sync interval and the
    mix as hyperparameters ``inner_steps`` (K) and ``beta`` (alpha), so one compiled sweep covers the grid:

    * ``"inpo"``, ``"ipo"``: ``comal(inpo())``, ``comal(anchored_ipo())`` (closed forms; any feedback);
    * ``"dpo"``: ``comal`` around the DPO loss against the reference on a tabular policy
      (:func:`algorithms.loss_based`: the population under exact feedback, ``K`` judged pairs per prompt and
      step under ``sampled(K)``);
    * ``"mlp"``: INPO's loss on an MLP policy over ``features``, two rules: ``"mlp"`` (log-space mixing,
      ``comal``) and ``"mlp_params"`` (:func:`parameter_sync`, the parameter EMA).

    Raises:
        ValueError: an unknown name, or ``"mlp"`` without features.
    """
    if name in ("inpo", "ipo"):
        return {name: comal(inpo() if name == "inpo" else anchored_ipo(), 1, beta=1.0)}
    if name == "dpo":
        return {"dpo": comal(loss_based(LOSSES["dpo_ref"], policies.tabular(game)), 1, beta=1.0)}
    if name != "mlp":
        raise ValueError(f"sync.swept: unknown rule {name!r}; valid: inpo, ipo, dpo, mlp")
    if features is None:
        raise ValueError("sync.swept: the rule mlp needs response features (the game has none)")
    pol = policies.mlp(features, hidden)
    return {
        "mlp": comal(loss_based("inpo", pol), 1, beta=1.0),
        "mlp_params": parameter_sync("inpo", pol, sync_steps=1, alpha=1.0),
    }
