"""Losses on judged pairs, as language-model pipelines minimise them: pure functions of log-probabilities.

A batch of judged pairs is a :class:`Pairs` of arrays of one shape (``[C, K]``: ``K`` pairs per prompt): the
log-probabilities of the winner ``y_w`` and the loser ``y_l`` under the policy being trained (``logp_*``), the
anchor ``pi_t`` (the policy the pairs were drawn from, ``anchor_*``) and the reference (``ref_*``), and a
``weight`` per pair. Every loss returns the **weighted mean** ``sum(weight * l) / sum(weight)``. Soft labels
and population expectations are weights: a pair ``(y, y')`` judged ``P(y > y')`` is the pair ``(y, y')`` with
weight ``P(y > y')`` plus the pair ``(y', y)`` with weight ``1 - P(y > y')``.

Notation (IPO, Azar et al., arXiv 2310.12036; INPO, Zhang et al., arXiv 2407.00617):
``h_q(a, b) = log pi(a)/q(a) - log pi(b)/q(b)``; ``r(y) = P(y > pi_t)``.

Why the pairwise square losses are exact: minimising ``sum_{a,b} w(a) w(b) (f(a) - f(b) - c(a, b))^2`` over
``f`` with ``E[c(a, b)] = eta (P(a > b) - 1/2)`` gives ``f(a) = eta sum_b w(b) (P(a > b) - 1/2) + const``, so with
``w = pi_t`` the population minimizers of :func:`ipo` and :func:`inpo` are the closed-form updates (tested).
:func:`sppo` (4.6) is pointwise and replaces ``log Z`` by ``eta/2``: its minimizer differs at second order,
unless it is given the exact ``log Z``.

:data:`LOSSES` maps a name to a :class:`Loss`: the function, its hyperparameters and what it reads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["Pairs", "Loss", "LOSSES", "dpo", "egpo", "ipo", "inpo", "nash_md", "sppo", "weighted_mean"]


class Pairs(NamedTuple):
    """Judged pairs (``y_w`` beat ``y_l``), every field the same shape (e.g. ``[C, K]``)."""

    logp_w: jax.Array  # log pi(y_w), the policy being trained
    logp_l: jax.Array
    anchor_w: jax.Array  # log pi_t(y_w), the policy the pairs were drawn from
    anchor_l: jax.Array
    ref_w: jax.Array  # log ref(y_w)
    ref_l: jax.Array
    weight: jax.Array  # >= 0


def weighted_mean(per_pair: jax.Array, weight: jax.Array) -> jax.Array:
    """``sum(weight * per_pair) / sum(weight)`` (a scalar)."""
    return jnp.sum(weight * per_pair) / jnp.sum(weight)


def dpo(pairs: Pairs, *, beta) -> jax.Array:
    """Iterative (online) DPO (Rafailov et al., arXiv 2305.18290; Xiong et al., arXiv 2312.11456), the reference
    being the anchor ``pi_t``: ``-log sigmoid(beta h_{pi_t}(y_w, y_l))``.

    On a Bradley-Terry game ``P(a > b) = sigmoid(s_a - s_b)`` the population minimizer is
    ``pi' ∝ pi_t exp(s / beta)``: the closed form :func:`algorithms.iterative_dpo` with ``tau = beta`` (and its
    ``ridge`` -> 0; the loss has no ridge). On a non-BT game it learns the BT projection.
    """
    h = (pairs.logp_w - pairs.anchor_w) - (pairs.logp_l - pairs.anchor_l)
    return weighted_mean(-jax.nn.log_sigmoid(beta * h), pairs.weight)


def ipo(pairs: Pairs, *, tau) -> jax.Array:
    """Iterative IPO (Azar et al., arXiv 2310.12036; Calandriello et al., arXiv 2403.08635), anchored at the
    sampling policy: ``(h_{pi_t}(y_w, y_l) - 1/(2 tau))^2``.

    Population minimizer: ``pi' ∝ pi_t exp(r / tau)``, i.e. MWU with step size ``eta = 1/tau``.
    """
    h = (pairs.logp_w - pairs.anchor_w) - (pairs.logp_l - pairs.anchor_l)
    return weighted_mean((h - 0.5 / tau) ** 2, pairs.weight)


def inpo(pairs: Pairs, *, eta, tau) -> jax.Array:
    """INPO (Zhang et al., arXiv 2407.00617; COMAL's ``losses.py::nash_loss``):
    ``(log pi(y_w)/pi(y_l) - eta tau log ref(y_w)/ref(y_l) - (1 - eta tau) log pi_t(y_w)/pi_t(y_l) - eta/2)^2``.

    Population minimizer: ``pi' ∝ pi_t^(1 - eta tau) ref^(eta tau) exp(eta r)``, the INPO step
    (:func:`algorithms.inpo`) with the same ``eta`` and ``tau``.
    """
    et = eta * tau
    d = (
        (pairs.logp_w - pairs.logp_l)
        - et * (pairs.ref_w - pairs.ref_l)
        - (1 - et) * (pairs.anchor_w - pairs.anchor_l)
        - eta / 2
    )
    return weighted_mean(d**2, pairs.weight)


def egpo(pairs: Pairs, *, eta, tau) -> jax.Array:
    """EGPO's online-IPO extragradient (Zhou, Fazel, Du, arXiv 2503.08942; EGPO's
    ``simulations/loss_funcs.py::extragradient``), per half-step the regularized online-IPO square loss
    ``(log pi(y_w)/pi(y_l) - eta tau log ref(y_w)/ref(y_l) - (1 - eta tau) log pi_t(y_w)/pi_t(y_l) - eta/2)^2``,
    anchored at ``pi_t`` in **both** half-steps (``Loss.extragradient``): the rule first minimises it on pairs
    drawn from ``pi_t`` (population minimizer ``h ∝ pi_t^(1 - eta tau) ref^(eta tau) exp(eta P(. > pi_t))``),
    then, again from ``pi_t``'s parameters, on pairs drawn from ``h`` (the pairwise square loss with pair weights
    ``h x h`` regresses on ``eta P(. > h)``): ``pi' ∝ pi_t^(1 - eta tau) ref^(eta tau) exp(eta P(. > h))``, the
    EGPO step (:func:`algorithms.egpo`) with the same ``eta`` and ``tau``. EGPO's code takes one gradient step
    per half-step on a softmax policy with ``beta = tau`` and step ``eta``; here each half-step takes ``M``
    optimizer steps, so that the population loss lands on the closed form. Per pair the loss is INPO's.
    """
    return inpo(pairs, eta=eta, tau=tau)


def nash_md(pairs: Pairs, *, eta, tau) -> jax.Array:
    """Nash-MD as a loss (Munos et al., arXiv 2312.00886; EGPO's ``simulations/loss_funcs.py::nash_md``):
    ``(h_{mu_t}(y_w, y_l) - eta/2)^2`` with the pairs drawn from, and judged against, the geometric mixture
    ``mu_t ∝ pi_t^(1 - eta tau) ref^(eta tau)``; ``anchor_*`` hold ``log mu_t``.

    Population minimizer: ``pi' ∝ mu_t exp(eta P(. > mu_t))``, the Nash-MD step (:func:`algorithms.nash_md`).
    ``tau`` enters through the mixture, which the rule builds (``Loss.mixture``).
    """
    del tau  # read by the rule (the mixture), not by the per-pair loss
    h = (pairs.logp_w - pairs.anchor_w) - (pairs.logp_l - pairs.anchor_l)
    return weighted_mean((h - eta / 2) ** 2, pairs.weight)


def sppo(pairs: Pairs, *, eta, log_z=None) -> jax.Array:
    """SPPO's practical loss (Wu et al., arXiv 2405.00675, eq. 4.6), pointwise:
    ``(log pi(y)/pi_t(y) - eta (P_hat(y > pi_t) - 1/2))^2`` with ``y ~ pi_t``.

    Each judged pair gives two points: ``y_w`` with outcome 1 and ``y_l`` with outcome 0 (a one-comparison
    estimate of ``P(y > pi_t)``; the least-squares minimizer is the same as with the exact win rate, the loss
    differs by a constant). ``log_z`` (broadcastable to the pairs, e.g. ``[C, 1]``) replaces the paper's ``eta/2``
    by the exact ``log Z = log sum_y pi_t(y) exp(eta r(y))``: the target becomes ``eta P_hat - log Z`` and the
    minimizer is the exact update (4.1) ``pi' ∝ pi_t exp(eta r)`` (MWU with step ``eta``).
    """
    shift = eta / 2 if log_z is None else log_z
    fw = pairs.logp_w - pairs.anchor_w
    fl = pairs.logp_l - pairs.anchor_l
    per_pair = (fw - (eta - shift)) ** 2 + (fl + shift) ** 2
    return weighted_mean(per_pair, pairs.weight)


class Loss(NamedTuple):
    """A loss and what it declares (hashable: part of a rule, a static ``jit`` argument).

    Attributes:
        name: display name.
        fn: ``fn(pairs, **hparams) -> scalar``.
        hparams: ``{name: (default, interval)}`` of the numeric hyperparameters ``fn`` takes.
        regularized: the loss reads the reference with KL weight ``tau`` (COMAL may re-centre it).
        eta_tau: the loss weighs the anchor by ``1 - eta tau`` (so ``eta tau <= 1``).
        exact_log_z: (SPPO) the rule passes the exact ``log Z`` of the anchor's win rates.
        mixture: (Nash-MD) pairs are drawn from, and anchored at, ``mu_t ∝ pi_t^(1 - eta tau) ref^(eta tau)``.
        extragradient: (EGPO) two half-steps per iteration, both from ``pi_t``'s parameters and anchored at
            ``pi_t``: the second on pairs drawn from the first's result.
    """

    name: str
    fn: Callable[..., jax.Array]
    hparams: tuple[tuple[str, tuple[float, str]], ...]
    regularized: bool = False
    eta_tau: bool = False
    exact_log_z: bool = False
    mixture: bool = False
    extragradient: bool = False


_ETA, _TAU = ("eta", (0.5, "(0, inf)")), ("tau", (0.1, "(0, inf)"))
_REGULARIZED = {"regularized": True, "eta_tau": True}  # reads ref with weight tau, pi_t with 1 - eta tau

LOSSES: dict[str, Loss] = {
    "dpo": Loss("dpo", dpo, (("beta", (2.0, "(0, inf)")),)),
    "ipo": Loss("ipo", ipo, (("tau", (2.0, "(0, inf)")),)),
    "inpo": Loss("inpo", inpo, (_ETA, _TAU), **_REGULARIZED),
    "nash_md": Loss("nash_md", nash_md, (_ETA, _TAU), **_REGULARIZED, mixture=True),
    "egpo": Loss("egpo", egpo, (_ETA, _TAU), **_REGULARIZED, extragradient=True),
    "sppo": Loss("sppo", sppo, (_ETA,)),
    "sppo_exact_z": Loss("sppo_exact_z", sppo, (_ETA,), exact_log_z=True),
}
