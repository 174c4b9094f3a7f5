"""Loss-based rules: each iteration minimises a loss on judged pairs with an optax optimizer, as language-model
pipelines do (draw pairs from the current policy, judge them, take ``M`` gradient steps).

``loss_based(loss, policy, optimizer=..., optimizer_steps=M, pairs=None | K, labels="hard" | "soft")`` is an
:class:`algorithms.UpdateRule` like the closed-form rules: ``run``, ``sweep``, ``comal`` and the conformance kit
take it. One ``step`` (inside the runner's jitted scan):

1. the anchor ``pi_t = policy.log_probs(params)`` (held fixed for the iteration; for Nash-MD the mixture
   ``mu_t ∝ pi_t^(1 - eta tau) ref^(eta tau)``, from which the pairs are then drawn);
2. the data: ``pairs=None`` — the **population** loss, the exact expectation over every ordered pair
   ``(y_w, y_l)`` drawn from ``pi_t x pi_t`` and judged by ``P``: weight ``2 pi_t(a) pi_t(b) P(a > b)`` for
   ``(a, b)`` (deterministic; hard and soft labels have the same expectation; one oracle call, no comparisons);
   ``pairs=K`` — ``K`` pairs per prompt drawn from ``pi_t`` with ``oracle.next_key()`` (token by token, by
   ancestral sampling, for a policy over token sequences: :func:`games.sequences.ancestral_sample`), judged by one
   Bernoulli(``P``) draw (``labels="hard"``) or weighted by ``P`` itself (``"soft"``): one oracle call and
   ``K * C`` comparisons;
3. ``M`` optimizer steps (``lax.fori_loop``) on the loss from the current parameters; the optimizer state is
   carried from one iteration to the next (one optimizer for the whole run, as in a training pipeline).

EGPO (``Loss.extragradient``) repeats 2–3 once more per iteration: ``M`` steps from the current parameters give
the half-step ``h`` (its optimizer state is dropped, as EGPO's code restores its gradients); then pairs drawn
from ``h`` — still anchored at ``pi_t`` — drive ``M`` steps from the current parameters again. Two oracle calls,
``2 K C`` comparisons.

The rule reads ``P`` itself (it is its own judge), so it declares ``exact_only`` (the oracle's feedback models
do not apply) and ``own_comparisons`` when it samples (it counts its comparisons itself, also under exact
feedback). Self-play on preference games only. Contextual games: pairs are drawn per prompt and the loss is the
``rho``-weighted mean over prompts; with ``prompts=B``, ``B`` prompts are drawn by ``rho`` each iteration (as a
training pipeline samples a batch of prompts) and the loss is their plain mean.

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
    pairs: jax.Array  # pairs judged per prompt and iteration (<= the K drawn); 0 for the population loss


def loss_based(
    loss: str | losses.Loss,
    policy: policies.Policy,
    *,
    optimizer: optax.GradientTransformation | None = None,
    optimizer_steps: int = 10,
    pairs: int | None = None,
    prompts: int | None = None,
    labels: str = "hard",
    counts: bool = False,
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
        pairs: ``None`` for the exact population loss, or ``K`` pairs drawn per prompt and iteration. The rule
            then has a hyperparameter ``pairs`` (default ``K``, a whole number in ``[1, K]``): how many of the
            ``K`` are judged and used, so that one compiled ``sweep`` covers several batch sizes
            (``sweep(loss_based(..., pairs=4096), game, pairs=[16, 256, 4096], seeds=4)``; every lane pays
            for drawing ``K``), and a growing sample size ``K_t`` is one compiled program
            (``run(..., pairs=algorithms.schedules.growth(16, rate=1.01, cap=4096))``): ``comparisons``
            counts the pairs judged.
        prompts: ``None`` (every prompt each iteration, the loss weighted by ``rho``) or ``B``: ``B`` prompts
            drawn by ``rho`` (with replacement) each iteration, equally weighted; ``K`` pairs per drawn prompt.
        labels: ``"hard"`` (one Bernoulli judgment per pair) or ``"soft"`` (the probability as the label).
        counts: with ``pairs=K``, draw the judged pairs as their **counts** over the ``n^2`` ordered cells
            instead of one by one: hard labels, one multinomial draw of ``pairs(t)`` over the (winner, loser)
            cells with probabilities ``2 pi_t(a) pi_t(b) P(a > b)`` (the population loss's weights); soft
            labels, a multinomial draw of the drawn pairs ``(a, b)`` by ``pi_t(a) pi_t(b)``, each weighted by
            ``P``. Every loss is a weighted mean over pairs (:mod:`algorithms.losses`), so the loss on the
            counts is the loss on the pairs, and the judged data have the same distribution; the cost no
            longer grows with ``K`` (``n^2`` cells per prompt), which is what runs of ``1e7`` comparisons
            need. The random stream differs from drawing pairs, so traces do not match the pairwise draw's
            bit for bit. Not for a policy over token sequences (they are drawn token by token).

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
    k = None if pairs is None else check_int(pairs, "loss_based: pairs")
    if labels not in ("hard", "soft"):
        raise ValueError(f"loss_based: labels must be 'hard' or 'soft', got {labels!r}")
    b = None if prompts is None else check_int(prompts, "loss_based: prompts")
    if not isinstance(counts, bool):
        raise TypeError(f"loss_based: counts must be True or False, got {counts!r}")
    if counts and k is None:
        raise ValueError("loss_based: counts=True draws the counts of K judged pairs; give pairs=K")
    if counts and policy.sequences is not None:
        raise ValueError(
            f"loss_based: counts=True draws from the enumerated distribution; {policy.name} is a policy over "
            "token sequences, whose pairs are drawn token by token (ancestral sampling)"
        )
    _check_declarations(loss, policy, optimizer, k)
    return _loss_based(loss, policy, optimizer, steps, k, b, labels, counts)


@functools.cache
def _check_declarations(loss: losses.Loss, policy: policies.Policy, optimizer, k: int | None) -> None:
    """A user's ``Loss`` and ``Policy`` checked against their own declarations when the rule is built, by
    abstract evaluation (``jax.eval_shape``: nothing is computed): ``policy.log_probs(policy.init(key))`` has
    the declared shape ``(C, n)``; ``loss.fn`` takes its declared hyperparameters (plus ``log_z`` for
    ``exact_log_z``) and returns a scalar on judged pairs of shape ``[C, K]``. The optimizer's first update of
    the initial parameters must be finite (concretely, once: ``optax.sgd(nan)`` is refused here).

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
    pair = jax.ShapeDtypeStruct((C, n * n if k is None else k), dtype)
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
def _loss_based(
    loss, policy, optimizer, steps: int, k: int | None, b_prompts: int | None, labels: str, counts: bool
) -> base.UpdateRule:
    C, n = policy.shape
    data = "population" if k is None else f"{k}x{labels}" + (",counts" if counts else "")
    if b_prompts is not None:
        data += f",B={b_prompts}"
    name = f"loss_based({loss.name},{policy.name},M={steps},{data})"

    def log_probs(params, offset):
        return jax.nn.log_softmax(offset + policy.log_probs(params), axis=-1)  # [C, n]

    def init_state(game, logits, ref, key, pairs=0.0, **hp):
        shape = (game.A.shape[0] if game.contextual else 1, game.shape[0])
        if shape != (C, n):
            raise ValueError(f"{name}: the policy has shape (C, n) = {(C, n)}, the game {shape}: {game!r}")
        params = jax.tree.map(lambda p: jnp.asarray(p, game.dtype), policy.init(key))
        offset = jnp.reshape(logits.x, (C, n))
        used = jnp.asarray(pairs, jax.dtypes.canonicalize_dtype(jnp.int64))
        return LossState(params, optimizer.init(params), offset, ref, hp, used)

    def judge(oracle, sampling, P, rho, used):
        """The judged data of one (half-)step: ``rows`` (the prompts, ``[R]``) and pairs ``(w, l)`` with their
        weights, ``[R, m]`` each (weights summing to ``rho`` per prompt, or to ``1/B`` per drawn prompt). ``K``
        pairs are drawn per prompt, the first ``used`` kept (weight 0 for the rest), so that ``used`` can vary
        across a vmapped batch."""
        key = None if k is None and b_prompts is None else oracle.next_key()
        if b_prompts is None:
            rows, row_weight = jnp.arange(C), rho
        else:
            key, kp = jax.random.split(key)
            rows = jax.random.categorical(kp, jnp.log(rho), shape=(b_prompts,))
            row_weight = jnp.full((b_prompts,), 1.0 / b_prompts, P.dtype)
        R = rows.shape[0]
        sampling, P = sampling[rows], P[rows]
        if k is None or counts:  # the n^2 ordered cells (w, l), with their population weights or counts
            w = jnp.broadcast_to(jnp.repeat(jnp.arange(n), n)[None, :], (R, n * n))
            l = jnp.broadcast_to(jnp.tile(jnp.arange(n), n)[None, :], (R, n * n))
            pi = jnp.exp(sampling)
            drawn = pi[:, :, None] * pi[:, None, :]  # [R, n, n] the pair (a, b) drawn
        if k is None:  # the population: every ordered pair, weight 2 pi(a) pi(b) P(a > b)
            oracle.count(1, 0)
            weight = jnp.reshape(2 * drawn * P, (R, n * n))
        elif counts:  # how many of the `used` judged pairs fall in each cell: one multinomial draw per prompt
            oracle.count(1, used * R)
            q = 2 * drawn * P if labels == "hard" else drawn  # (w, l) judged, or (a, b) drawn
            q = jnp.reshape(q, (R, n * n))
            c = jax.random.multinomial(key, used.astype(P.dtype), q / jnp.sum(q, -1, keepdims=True))
            if labels == "hard":
                weight = c
            else:  # the pair (a, b) counts P(a > b) for (a, b) and 1 - P(a > b) for (b, a)
                c = jnp.reshape(c, (R, n, n))
                weight = jnp.reshape((c + jnp.swapaxes(c, 1, 2)) * P, (R, n * n))
        else:
            oracle.count(1, used * R)
            keep = (jnp.arange(k) < used).astype(P.dtype)[None, :]  # [1, K]
            k1, k2, k3 = jax.random.split(key, 3)
            a, b = draw(policy, k1, sampling, k), draw(policy, k2, sampling, k)  # [R, K] each
            p = jnp.take_along_axis(jnp.take_along_axis(P, a[:, :, None], axis=1), b[:, :, None], axis=2)
            p = p[..., 0]
            if labels == "hard":
                won = jax.random.uniform(k3, (R, k), P.dtype) < p
                w, l, weight = jnp.where(won, a, b), jnp.where(won, b, a), jnp.broadcast_to(keep, (R, k))
            else:
                w, l = jnp.concatenate([a, b], -1), jnp.concatenate([b, a], -1)
                weight = jnp.concatenate([p * keep, (1 - p) * keep], -1)
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
        P = jnp.reshape(game.P, (C, n, n))
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
            half, _ = fit(s, anchor, ref, judge(oracle, anchor, P, rho, s.pairs), extra)
            sampling = jax.lax.stop_gradient(log_probs(half, s.offset))
        params, opt_state = fit(s, anchor, ref, judge(oracle, sampling, P, rho, s.pairs), extra)
        return s._replace(params=params, opt_state=opt_state)

    def policy_of(s):
        return Profile(jnp.reshape(log_probs(s.params, s.offset), s.ref.x.shape))

    hparams = dict(loss.hparams)
    if k is not None:  # how many of the K drawn pairs are judged: sweepable, e.g. pairs=[16, 256, 4096]
        hparams["pairs"] = (float(k), f"[1, {k}]", "integer")

    def working_bytes(game) -> int:
        """The judged pairs of one (half-)step. Drawn pairs: per drawn prompt and pair about ``3 n + 4``
        numbers — the two categorical draws' Gumbel noise and random bits over the ``n`` responses, then the
        responses, the probability, the label and the weight — (fitted to peak RSS at n = 3 and 20, checked at
        n = 8: the hand-over note); with ``counts``, that per ordered cell. The population loss draws nothing:
        per prompt and ordered pair :data:`POPULATION_NUMBERS` numbers (O(n^2), not the drawn pairs' O(n^3)).
        """
        rows = C if b_prompts is None else b_prompts
        item = jnp.dtype(game.dtype).itemsize
        if k is None:
            return rows * n * n * POPULATION_NUMBERS * item
        return rows * (n * n if counts else k) * (3 * n + 4) * item

    reg = None
    if loss.regularized:
        reg = base.Regularization(
            tau=lambda s: s.hp["tau"],
            reference=lambda s: s.ref,
            with_reference=lambda s, ref: s._replace(ref=ref),
        )

    def with_hparams(s, values):  # a schedule's values (the runner applies them before each step)
        values = dict(values)
        pairs = values.pop("pairs", None)
        hp = {**s.hp, **{k: jnp.asarray(v, s.hp[k].dtype) for k, v in values.items()}}
        return s._replace(hp=hp, pairs=s.pairs if pairs is None else jnp.asarray(pairs, s.pairs.dtype))

    return base.make_rule(
        name,
        init_state,
        step,
        hparams=hparams,
        with_hparams=with_hparams,
        policy=policy_of,
        accepts="preference",
        self_play_only=True,
        exact_only=True,
        regularized=reg or False,
        check=base.eta_tau_at_most_one(name) if loss.eta_tau else None,
        own_comparisons=k is not None,
        working_bytes=working_bytes,
    )
