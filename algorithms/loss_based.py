"""Loss-based rules: each iteration minimises a loss on judged pairs with an optax optimizer, as language-model
pipelines do (draw pairs from the current policy, judge them, take ``M`` gradient steps).

``loss_based(loss, policy, optimizer=..., optimizer_steps=M, labels="hard" | "soft")`` is an
:class:`algorithms.UpdateRule` like the closed-form rules: ``run``, ``sweep``, ``comal`` and the conformance kit
take it. One ``step`` (inside the runner's jitted scan):

1. the anchor ``pi_t = policy.log_probs(params)`` (held fixed for the iteration; for Nash-MD the mixture
   ``mu_t ∝ pi_t^(1 - eta tau) ref^(eta tau)``, from which the pairs are then drawn);
2. the data, from the run's feedback model (:meth:`games.feedback.Oracle.pairs`): exact feedback — the
   **population** loss, the exact expectation over every ordered pair ``(y_w, y_l)`` drawn from
   ``pi_t x pi_t`` and judged by ``P``: weight ``2 pi_t(a) pi_t(b) P(a > b)`` for ``(a, b)`` (deterministic;
   hard and soft labels have the same expectation; one oracle call, no comparisons); ``sampled(K)`` — ``K``
   pairs per prompt drawn from ``pi_t`` (token by token, by ancestral sampling, for a policy over token
   sequences: :func:`games.sequences.ancestral_sample`), the first ``samples`` of them (the run's
   hyperparameter) judged by one Bernoulli(``P``) draw (``labels="hard"``) or weighted by ``P`` itself
   (``"soft"``): one oracle call and ``samples * C`` comparisons;
3. ``M`` optimizer steps (``lax.fori_loop``) on the loss from the current parameters; the optimizer state is
   carried from one iteration to the next (one optimizer for the whole run, as in a training pipeline).

EGPO (``Loss.extragradient``) repeats 2–3 once more per iteration: ``M`` steps from the current parameters give
the half-step ``h`` (its optimizer state is dropped, as EGPO's code restores its gradients); then pairs drawn
from ``h`` — still anchored at ``pi_t`` — drive ``M`` steps from the current parameters again. Two oracle calls,
``2 samples C`` comparisons.

Noisy feedback (a noisy gradient, no pairs) is refused when the run is traced. Self-play on preference games
only. Contextual games: pairs are drawn per prompt and the loss is the ``rho``-weighted mean over prompts;
with ``prompts=B``, ``B`` prompts are drawn by ``rho`` each iteration (as a training pipeline samples a batch of
prompts) and the loss is their plain mean.

The policy is ``log pi_theta = log_softmax(log pi_start + f_theta)`` with ``f_theta = policy.log_probs(theta)``:
the start (``start=``, default ``ref``, default uniform) is a fixed base logit, so every parameterization starts
exactly there (``f_theta`` is uniform at the policies' initial parameters) and ``tabular`` stays fully expressive.

Regularized losses (INPO) store the reference as log-probabilities and declare ``tau``/``reference``/
``with_reference``: COMAL's re-centring (``ref <- pi``) replaces them, which is what "a copy of the current
parameters as the reference model" amounts to, since a loss reads only ``log pi_ref``.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

import games
from games import Profile
from games.core import check_int

from . import base, losses, policies

__all__ = ["loss_based", "LossState", "DEFAULT_OPTIMIZER", "draw"]

#: The default optimizer: plain gradient descent, step 0.5. The tabular population losses are quadratics in
#: the logits whose Hessian has eigenvalues <= 2 (a graph Laplacian with edge weights 4 pi(a) pi(b)), so 0.5 is
#: stable; built once, so rules using the default are cached.
DEFAULT_OPTIMIZER = optax.sgd(0.5)


#: Numbers per prompt and ordered pair the population loss allocates in one step: the winner and loser indices,
#: the pair's probability and its weight (twice: raw and normalised), the four gathered anchor and reference
#: log-probabilities, the two gathered log-probabilities and their gradients. Measured (tabular INPO, one step,
#: float64): peak RSS grows by 9.3 numbers per pair from n = 9 to n = 4096 (tests/test_memory.py, slow).
POPULATION_NUMBERS = 12


class LossState(NamedTuple):
    params: Any  # the policy's parameters
    opt_state: Any  # the optimizer's state
    offset: jax.Array  # [C, n] log pi_start, the fixed base logits
    ref: Profile  # log ref, [n] or [C, n]
    hp: dict  # the loss's numeric hyperparameters (arrays of the game's dtype)


def loss_based(
    loss: str | losses.Loss,
    policy: policies.Policy,
    *,
    optimizer: optax.GradientTransformation | None = None,
    optimizer_steps: int = 10,
    prompts: int | None = None,
    labels: str = "hard",
) -> base.UpdateRule:
    """An update rule that takes ``optimizer_steps`` optimizer steps on ``loss`` per iteration.

    Args:
        loss: a name of :data:`algorithms.losses.LOSSES` (``"inpo"``, ``"ipo"``, ``"sppo"``,
            ``"sppo_exact_z"``, ``"nash_md"``, ``"egpo"``, ``"dpo"``) or a :class:`algorithms.losses.Loss`.
        policy: a :class:`algorithms.policies.Policy` whose shape ``(C, n)`` matches the game.
        optimizer: an optax optimizer (default: the policy's ``optimizer``, Adam 1e-2 for
            :func:`algorithms.policies.transformer`, else :data:`DEFAULT_OPTIMIZER`, ``optax.sgd(0.5)``). Pass
            the *same* object to get the same (cached) rule: ``optax.adam(1e-2)`` builds a new object every call.
        optimizer_steps: ``M``, optimizer steps per iteration.
        prompts: ``None`` (every prompt each iteration, the loss weighted by ``rho``) or ``B``: ``B`` prompts
            drawn by ``rho`` (with replacement) each iteration, equally weighted; ``K`` pairs per drawn prompt.
        labels: ``"hard"`` (one Bernoulli judgment per pair) or ``"soft"`` (the probability as the label).

    The judged data come from the run's feedback model (:meth:`games.feedback.Oracle.pairs`): with exact
    feedback (the default) the **population** loss; with ``feedback=games.feedback.sampled(K)`` ``K`` pairs
    drawn per prompt and iteration, of which the run's hyperparameter ``samples`` (default ``K``, a sweep axis
    or a schedule: ``run(..., feedback=sampled(4096), samples=algorithms.schedules.growth(16, rate=1.01,
    cap=4096))``) are judged and counted as ``comparisons``; ``sampled(K, counts=True)`` draws their counts
    over the ``n^2`` ordered cells (not for a policy over token sequences, whose pairs are drawn token by
    token).

    Hyperparameters: the loss's (INPO, Nash-MD: ``eta`` 0.5, ``tau`` 0.1 with ``eta tau <= 1``; IPO: ``tau`` 2;
    SPPO: ``eta`` 0.5; DPO: ``beta`` 2; EGPO: ``eta`` 0.5, ``tau`` 0.1).

    Raises:
        TypeError / ValueError: an unknown loss, a non-Policy, a bad optimizer, ``M``, ``K`` or ``labels``.

    Example:
        >>> rule = algorithms.loss_based("inpo", algorithms.policies.tabular(games.comal_cycle()),
        ...                              optimizer_steps=200)
        >>> trace = algorithms.run(rule, games.comal_cycle(), steps=1)
    """
    if isinstance(loss, str):
        if loss not in losses.LOSSES:
            raise ValueError(f"loss_based: unknown loss {loss!r}; valid: {', '.join(losses.LOSSES)}")
        loss = losses.LOSSES[loss]
    if not isinstance(loss, losses.Loss):
        raise TypeError(f"loss_based: loss must be a name or an algorithms.losses.Loss, got {loss!r}")
    if not isinstance(policy, policies.Policy):
        raise TypeError(f"loss_based: policy must be an algorithms.policies.Policy, got {policy!r}")
    if optimizer is None:  # the policy family's own default, else plain SGD
        optimizer = DEFAULT_OPTIMIZER if policy.optimizer is None else policy.optimizer
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"loss_based: optimizer must be an optax.GradientTransformation, got {optimizer!r}")
    steps = check_int(optimizer_steps, "loss_based: optimizer_steps")
    if labels not in ("hard", "soft"):
        raise ValueError(f"loss_based: labels must be 'hard' or 'soft', got {labels!r}")
    b = None if prompts is None else check_int(prompts, "loss_based: prompts")
    _check_declarations(loss, policy, optimizer)
    return _loss_based(loss, policy, optimizer, steps, b, labels)


@functools.cache
def _check_declarations(loss: losses.Loss, policy: policies.Policy, optimizer) -> None:
    """A user's ``Loss`` and ``Policy`` checked against their own declarations when the rule is built, by
    abstract evaluation (``jax.eval_shape``: nothing is computed): ``policy.log_probs(policy.init(key))`` has
    the declared shape ``(C, n)``; ``loss.fn`` takes its declared hyperparameters (plus ``log_z`` for
    ``exact_log_z``) and returns a scalar on judged pairs of shape ``[C, n^2]`` (the population's). The
    optimizer's first update of the initial parameters must be finite (concretely, once: ``optax.sgd(nan)`` is
    refused here).

    Raises:
        ValueError: naming the loss or policy and what does not match.
    """
    shape = policy.shape
    if not (
        isinstance(shape, tuple) and len(shape) == 2 and all(isinstance(d, int) and d >= 1 for d in shape)
    ):
        raise ValueError(
            f"loss_based: policy {policy.name}: shape must be a pair of ints (C, n), got {shape!r}"
        )
    key = jax.ShapeDtypeStruct((2,), jnp.uint32)
    try:
        params = jax.eval_shape(policy.init, key)
        out = jax.eval_shape(policy.log_probs, params)
    except Exception as err:
        raise ValueError(
            f"loss_based: policy {policy.name}: log_probs(init(key)) fails: {type(err).__name__}: {err}"
        ) from None
    if not hasattr(out, "shape") or tuple(out.shape) != tuple(policy.shape):
        raise ValueError(
            f"loss_based: policy {policy.name} declares shape (C, n) = {tuple(policy.shape)}, but its "
            f"log_probs returns {getattr(out, 'shape', type(out).__name__)}"
        )
    C, n = policy.shape
    dtype = jax.tree.leaves(params)[0].dtype if jax.tree.leaves(params) else out.dtype
    pair = jax.ShapeDtypeStruct((C, n * n), dtype)
    hp = {name: jax.ShapeDtypeStruct((), dtype) for name, _ in loss.hparams}
    if loss.exact_log_z:
        hp["log_z"] = jax.ShapeDtypeStruct((C, 1), dtype)
    try:
        value = jax.eval_shape(lambda p, h: loss.fn(p, **h), losses.Pairs(*[pair] * 7), hp)
    except Exception as err:
        raise ValueError(
            f"loss_based: loss {loss.name} fails on judged pairs of shape {pair.shape} with its declared "
            f"hyperparameters ({', '.join(hp) or 'none'}): {type(err).__name__}: {err}"
        ) from None
    if getattr(value, "shape", None) != () or not jnp.issubdtype(value.dtype, jnp.floating):
        raise ValueError(
            f"loss_based: loss {loss.name} must return a real scalar (the weighted mean over pairs), got "
            f"{getattr(value, 'shape', type(value).__name__)} {getattr(value, 'dtype', '')} on pairs of shape "
            f"{pair.shape}"
        )
    concrete = policy.init(jax.random.PRNGKey(0))

    @jax.jit  # one program, not one per operation of the optimizer's update (Adam on a network: dozens)
    def first_update(params):
        return optimizer.update(jax.tree.map(jnp.ones_like, params), optimizer.init(params), params)[0]

    updates = first_update(concrete)
    if not all(bool(jnp.all(jnp.isfinite(u))) for u in jax.tree.leaves(updates)):
        raise ValueError(
            f"loss_based: the optimizer's first update is not finite (a NaN or infinite learning rate, e.g. "
            f"optax.sgd(nan)?): {jax.tree.leaves(updates)}"
        )


def draw(policy: policies.Policy, key: jax.Array, log_probs: jax.Array, num: int) -> jax.Array:
    """``num`` responses per row of ``log_probs`` ``[R, n]``, as the rule draws its pairs: token by token
    (:func:`games.sequences.ancestral_sample`) for a policy over token sequences (``policy.sequences``), one
    ``jax.random.categorical`` over the ``n`` responses otherwise. Returns ``[R, num]`` action indices."""
    if policy.sequences is not None:
        return games.sequences.ancestral_sample(key, log_probs, policy.sequences, num)
    return jax.random.categorical(key, log_probs[:, None, :], axis=-1, shape=(log_probs.shape[0], num))


def _take(a: jax.Array, idx: jax.Array) -> jax.Array:
    return jnp.take_along_axis(a, idx, axis=-1)


@functools.cache
def _loss_based(loss, policy, optimizer, steps: int, b_prompts: int | None, labels: str) -> base.UpdateRule:
    C, n = policy.shape
    data = labels if b_prompts is None else f"{labels},B={b_prompts}"
    name = f"loss_based({loss.name},{policy.name},M={steps},{data})"

    def log_probs(params, offset):
        return jax.nn.log_softmax(offset + policy.log_probs(params), axis=-1)  # [C, n]

    def init_state(game, logits, ref, key, **hp):
        shape = (game.A.shape[0] if game.contextual else 1, game.shape[0])
        if shape != (C, n):
            raise ValueError(f"{name}: the policy has shape (C, n) = {(C, n)}, the game {shape}: {game!r}")
        params = jax.tree.map(lambda p: jnp.asarray(p, game.dtype), policy.init(key))
        offset = jnp.reshape(logits.x, (C, n))
        return LossState(params, optimizer.init(params), offset, ref, hp)

    def judge(oracle, sampling, rho):
        """The judged data of one (half-)step from the oracle (:meth:`games.feedback.Oracle.pairs`): ``rows``
        (the prompts, ``[R]``) and pairs ``(w, l)`` with their weights, ``[R, m]`` each, normalised to ``rho``
        per prompt (or ``1/B`` per drawn prompt)."""
        if b_prompts is None:
            rows, row_weight = jnp.arange(C), rho
        else:
            rows = jax.random.categorical(oracle.next_key(), jnp.log(rho), shape=(b_prompts,))
            row_weight = jnp.full((b_prompts,), 1.0 / b_prompts, rho.dtype)
        if oracle.feedback.counts and policy.sequences is not None:
            raise ValueError(
                f"{name}: sampled(counts=True) draws from the enumerated distribution; {policy.name} is a "
                "policy over token sequences, whose pairs are drawn token by token (ancestral sampling)"
            )
        w, l, weight = oracle.pairs(rows, sampling[rows], functools.partial(draw, policy), labels == "soft")
        weight = weight * row_weight[:, None] / jnp.sum(weight, axis=-1, keepdims=True)
        return rows, w, l, weight

    def fit(s, anchor, ref, judged, extra):
        """``M`` optimizer steps on the loss from ``s.params``: the new ``(params, opt_state)``."""
        rows, w, l, weight = judged
        anchor, ref = anchor[rows], ref[rows]
        fixed = (_take(anchor, w), _take(anchor, l), _take(ref, w), _take(ref, l), weight)
        extra = {name: v[rows] for name, v in extra.items()}

        def objective(params):
            lp = log_probs(params, s.offset)[rows]
            return loss.fn(losses.Pairs(_take(lp, w), _take(lp, l), *fixed), **s.hp, **extra)

        def body(_, carry):
            params, opt_state = carry
            grads = jax.grad(objective)(params)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state

        return jax.lax.fori_loop(0, steps, body, (s.params, s.opt_state))

    def step(s, oracle):
        game = oracle.game
        P = jnp.reshape(game.P, (C, n, n))  # read for Nash-MD's and SPPO's log Z only
        rho = jnp.ones((C,), P.dtype) / C if game.weights is None else game.weights
        anchor = jax.lax.stop_gradient(log_probs(s.params, s.offset))  # [C, n] log pi_t
        ref = jnp.reshape(s.ref.x, (C, n))
        if loss.mixture:  # Nash-MD: sample from and anchor at mu_t ∝ pi_t^(1 - eta tau) ref^(eta tau)
            et = s.hp["eta"] * s.hp["tau"]
            anchor = jax.nn.log_softmax((1 - et) * anchor + et * ref, axis=-1)
        extra = {}
        if loss.exact_log_z:  # log Z = log sum_y pi_t(y) exp(eta P(y > pi_t)), read from the game
            r = jnp.einsum("cij,cj->ci", P, jnp.exp(anchor))
            extra["log_z"] = jax.nn.logsumexp(anchor + s.hp["eta"] * r, axis=-1, keepdims=True)
        sampling = anchor
        if loss.extragradient:  # EGPO: the half-step from pi_t, whose pairs then drive the step from pi_t
            half, _ = fit(s, anchor, ref, judge(oracle, anchor, rho), extra)
            sampling = jax.lax.stop_gradient(log_probs(half, s.offset))
        params, opt_state = fit(s, anchor, ref, judge(oracle, sampling, rho), extra)
        return s._replace(params=params, opt_state=opt_state)

    def policy_of(s):
        return Profile(jnp.reshape(log_probs(s.params, s.offset), s.ref.x.shape))

    hparams = dict(loss.hparams)

    def working_bytes(game, feedback) -> int:
        """The judged pairs of one (half-)step. Exact feedback, the population loss: per prompt and ordered
        pair :data:`POPULATION_NUMBERS` numbers (O(n^2), not the drawn pairs' O(n^3)). Sampled ``(K)``: per
        drawn prompt and pair about ``3 n + 4`` numbers — the two categorical draws' Gumbel noise and random
        bits over the ``n`` responses, then the responses, the probability, the label and the weight (fitted
        to peak RSS at n = 3 and 20, checked at n = 8); with ``counts``, that per ordered cell."""
        rows = C if b_prompts is None else b_prompts
        item = jnp.dtype(game.dtype).itemsize
        if feedback.kind != "sampled":
            return rows * n * n * POPULATION_NUMBERS * item
        return rows * (n * n if feedback.counts else feedback.samples) * (3 * n + 4) * item

    reg = None
    if loss.regularized:
        reg = base.Regularization(
            tau=lambda s: s.hp["tau"],
            reference=lambda s: s.ref,
            with_reference=lambda s, ref: s._replace(ref=ref),
        )

    def with_hparams(s, values):  # a schedule's values (the runner applies them before each step)
        return s._replace(hp={**s.hp, **{k: jnp.asarray(v, s.hp[k].dtype) for k, v in values.items()}})

    return base.make_rule(
        name,
        init_state,
        step,
        hparams=hparams,
        with_hparams=with_hparams,
        policy=policy_of,
        accepts="preference",
        self_play_only=True,
        regularized=reg or False,
        check=base.eta_tau_at_most_one(name) if loss.eta_tau else None,
        observes="pairs",
        working_bytes=working_bytes,
    )
