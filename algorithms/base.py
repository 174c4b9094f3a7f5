"""The update-rule protocol and the helpers every rule shares.

An :class:`UpdateRule` is a ``NamedTuple`` of pure functions (optax style):

* ``init(game, key=None, *, ref=None, **hparams) -> state`` — validates the game and concrete hyperparameters
  (``ValueError`` before anything compiles), fills defaults, and stores every numeric hyperparameter in the
  state as an array of the game's dtype, so ``vmap`` over them needs no recompilation;
* ``step(state, game) -> state`` — one update; the game is passed in (a payoff oracle), so extragradient and
  optimistic rules can evaluate it twice;
* ``policy(state) -> (x, y)`` — the current probabilities (self-play rules return the same policy twice).

Profiles: on a symmetric game, rules that can play self-play keep **one** policy (an array); on a general
matrix game they keep a tuple ``(x, y)`` and each player ascends its own payoff. Every update is written once
with ``jax.tree.map`` over that structure. Policies are stored as **normalised log-probabilities**
(``log_softmax``), so dynamics that drift to a vertex never underflow to 0 or produce NaN.

Writing a new rule (optimistic INPO, 12 lines)::

    from typing import Any, NamedTuple
    import jax
    from algorithms import base

    class State(NamedTuple):
        logits: Any; ref: Any; prev: Any; eta: jax.Array; tau: jax.Array

    def init(game, logits, ref, key, eta, tau):
        return State(logits, ref, base.gradient(game, logits), eta, tau)

    def step(s, game):
        g = base.gradient(game, s.logits)
        new = base.tree_map(lambda l, r, g, p: base.normalize((1 - s.eta * s.tau) * l + s.eta * s.tau * r
                            + s.eta * (2 * g - p)), s.logits, s.ref, g, s.prev)
        return s._replace(logits=new, prev=g)

    optimistic_inpo = base.make_rule("optimistic_inpo", init, step, hparams={"eta": 0.5, "tau": 0.1},
                                     regularized=True, self_play_only=True)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import games

__all__ = [
    "UpdateRule",
    "make_rule",
    "check_hparams",
    "normalize",
    "probs",
    "gradient",
    "tree_map",
    "as_key",
    "CONSTRAINTS",
]

tree_map = jax.tree.map

#: How each hyperparameter name is checked (concrete values, element-wise): ``(test, description)``.
#: Names not listed must merely be finite.
CONSTRAINTS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], str]] = {
    "eta": (lambda v: v > 0, "> 0"),
    "tau": (lambda v: v > 0, "> 0"),
    "noise": (lambda v: v >= 0, ">= 0"),
    "ridge": (lambda v: v > 0, "> 0"),
}


class UpdateRule(NamedTuple):
    """A learning rule: pure functions plus static metadata (hashable, so it can be a ``jit`` static arg).

    Attributes:
        name: display name (e.g. ``"comal(inpo,100)"``).
        init, step, policy: see the module docstring.
        hparams: ``((name, default), ...)`` — the numeric hyperparameters ``init`` accepts.
        regularization: ``state -> (tau, ref_probs)`` for rules that solve a KL-regularized game (the runner
            then records ``regularized_gap``), else ``None``.
        self_play_only: the rule needs a symmetric game.
        check: optional joint validation ``check(hparams)`` of concrete (possibly array-valued, element-wise)
            hyperparameters, raising ``ValueError`` (e.g. :func:`eta_tau_at_most_one`).
    """

    name: str
    init: Callable[..., Any]
    step: Callable[[Any, games.Game], Any]
    policy: Callable[[Any], tuple[jax.Array, jax.Array]]
    hparams: tuple[tuple[str, float], ...]
    regularization: Callable[[Any], tuple[jax.Array, Any]] | None = None
    self_play_only: bool = False
    check: Callable[[dict], None] | None = None

    def __repr__(self) -> str:
        return f"UpdateRule({self.name})"


# ---------------------------------------------------------------------------------------------------------------
# simplex helpers (log domain)
# ---------------------------------------------------------------------------------------------------------------


def normalize(logits: jax.Array) -> jax.Array:
    """Normalised log-probabilities over the last axis (``log_softmax``)."""
    return jax.nn.log_softmax(logits, axis=-1)


def probs(logits: Any) -> Any:
    """Probabilities of a log-probability profile (array or ``(x, y)``)."""
    return tree_map(jnp.exp, logits)


def as_pair(profile: Any) -> tuple[jax.Array, jax.Array]:
    """``(x, y)`` of a profile; a self-play policy is played by both players."""
    return profile if isinstance(profile, tuple) else (profile, profile)


def gradient(game: games.Game, logits: Any) -> Any:
    """Payoff gradient of a log-probability profile, in its structure (see :func:`games.payoff_gradient`)."""
    return games.payoff_gradient(game, probs(logits))


def as_key(key) -> jax.Array:
    """A raw ``uint32[2]`` PRNG key from ``None`` (seed 0), an int seed or a key."""
    if key is None:
        return jax.random.PRNGKey(0)
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return jax.random.PRNGKey(int(key))
    if hasattr(key, "dtype") and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        return jax.random.key_data(key)
    if not hasattr(key, "shape") or key.shape[-1:] != (2,):
        raise TypeError(f"key must be None, an int seed or a jax.random key, got {key!r}")
    return key


# ---------------------------------------------------------------------------------------------------------------
# hyperparameters
# ---------------------------------------------------------------------------------------------------------------


def _is_concrete(v) -> bool:
    return not isinstance(v, jax.core.Tracer)


def check_hparams(rule: UpdateRule, given: Mapping[str, Any], *, joint: bool = True) -> dict:
    """Fill ``rule``'s defaults and validate concrete values element-wise (scalars or same-shape arrays of grid
    points); ``joint=False`` skips the rule's joint ``check`` (for grids whose axes are not yet broadcast).

    Raises:
        ValueError: an unknown name (the valid ones are listed), or a value that is NaN, infinite or outside
            its range (:data:`CONSTRAINTS`). Traced values (inside ``vmap``) are passed through unchecked.
        TypeError: a non-numeric value.
    """
    rule_name = rule.name
    defaults = dict(rule.hparams)
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        valid = ", ".join(defaults) or "none"
        raise ValueError(f"{rule_name}: unknown hyperparameter(s) {', '.join(unknown)}; valid: {valid}")
    out = {**defaults, **given}
    for name, value in out.items():
        if not _is_concrete(value):
            continue
        if isinstance(value, (str, bytes, bool)) or value is None:
            raise TypeError(f"{rule_name}: hyperparameter {name} must be a number, got {value!r}")
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{rule_name}: hyperparameter {name} must be a number, got {value!r}") from None
        if not np.isfinite(arr).all():
            raise ValueError(f"{rule_name}: hyperparameter {name} must be finite, got {value!r}")
        test, text = CONSTRAINTS.get(name, (lambda v: np.ones_like(v, bool), ""))
        if not np.all(test(arr)):
            bad = arr[~test(arr)] if arr.ndim else arr
            raise ValueError(f"{rule_name}: hyperparameter {name} must be {text}, got {float(np.ravel(bad)[0]):g}")
    if rule.check is not None and joint and all(_is_concrete(v) for v in out.values()):
        rule.check({k: np.asarray(v, dtype=np.float64) for k, v in out.items()})
    return out


def eta_tau_at_most_one(rule_name: str) -> Callable[[dict], None]:
    """A joint check for updates that weigh ``log pi`` by ``1 - eta tau`` (INPO, Nash-MD, EGPO)."""

    def check(hp: dict) -> None:
        et = hp["eta"] * hp["tau"]
        if np.any(et > 1):
            i = np.unravel_index(np.argmax(et), np.shape(et)) if np.ndim(et) else ()
            eta, tau = (
                np.broadcast_to(hp["eta"], np.shape(et))[i],
                np.broadcast_to(hp["tau"], np.shape(et))[i],
            )
            raise ValueError(
                f"{rule_name}: eta * tau must be <= 1 (the update weighs log pi by 1 - eta tau); "
                f"got eta={float(eta):g}, tau={float(tau):g}"
            )

    return check


def _check_game(game, rule_name: str, self_play_only: bool) -> None:
    if not isinstance(game, games.Game):
        raise TypeError(f"{rule_name}: expected a games.Game, got {type(game).__name__}")
    if self_play_only and not game.symmetric:
        raise ValueError(
            f"{rule_name} is a self-play rule and needs a symmetric game (a preference game or a skew-symmetric "
            f"matrix game); got {game!r}"
        )


def initial_policy(game: games.Game, key, ref, noise) -> tuple[Any, Any]:
    """``(logits, ref_logits)``: start at the reference (default uniform), perturbed by ``noise * N(0, 1)``.

    Self-play (one policy) on symmetric games, ``(x, y)`` otherwise. ``ref`` is a policy or ``(ref_x, ref_y)``.
    """
    self_play = game.symmetric
    if self_play:
        if isinstance(ref, tuple):
            raise ValueError("a symmetric game is played in self-play: pass one ref policy, not a pair")
        refs = (ref,)
    else:
        refs = ref if isinstance(ref, tuple) else (ref, ref)
    ref_logits = []
    for player, r in enumerate(refs):
        if r is not None and _is_concrete(r):
            r = games.core.check_reference(game, r, player, "ref")
        elif r is None:
            r = games.uniform(game, player)
        ref_logits.append(jnp.log(jnp.asarray(r, game.dtype)))
    if _is_concrete(noise) and float(noise) == 0.0:  # no draw: bitwise the same as adding 0 * N(0, 1)
        logits = [normalize(lr) for lr in ref_logits]
    else:
        keys = jax.random.split(key, len(ref_logits))
        logits = [
            normalize(lr + noise * jax.random.normal(k, lr.shape, game.dtype))
            for lr, k in zip(ref_logits, keys)
        ]
    if self_play:
        return logits[0], ref_logits[0]
    return tuple(logits), tuple(ref_logits)


def logits_policy(state) -> tuple[jax.Array, jax.Array]:
    """Default ``policy``: the probabilities of ``state.logits``."""
    return as_pair(probs(state.logits))


def ref_regularization(state) -> tuple[jax.Array, Any]:
    """Default ``regularization``: ``(state.tau, probs(state.ref))``."""
    return state.tau, probs(state.ref)


def make_rule(
    name: str,
    init: Callable[..., Any],
    step: Callable[[Any, games.Game], Any],
    *,
    hparams: Mapping[str, float],
    policy: Callable[[Any], tuple[jax.Array, jax.Array]] = logits_policy,
    regularized: bool = False,
    self_play_only: bool = False,
    check: Callable[[dict], None] | None = None,
) -> UpdateRule:
    """Build an :class:`UpdateRule` from a core ``init(game, logits, ref, key, **hparams)`` and ``step``.

    The returned ``init`` checks the game and the hyperparameters, draws the initial policy
    (:func:`initial_policy`; every rule also accepts ``noise``, default 0: the start's log-perturbation), casts
    hyperparameters to the game's dtype and calls the core ``init``. ``regularized=True`` means the state has
    ``tau`` and ``ref`` fields and solves ``J_tau`` (the runner records the regularized gap).
    """
    spec = (*tuple(hparams.items()), ("noise", 0.0))
    rule = None

    def full_init(game, key=None, *, ref=None, **hp):
        _check_game(game, name, self_play_only)
        hp = check_hparams(rule, hp)
        noise = jnp.asarray(hp.pop("noise"), game.dtype)
        key = as_key(key)
        logits, ref_logits = initial_policy(game, key, ref, noise)
        hp = {k: jnp.asarray(v, game.dtype) for k, v in hp.items()}
        return init(game, logits, ref_logits, key, **hp)

    rule = UpdateRule(
        name=name,
        init=full_init,
        step=step,
        policy=policy,
        hparams=spec,
        regularization=ref_regularization if regularized else None,
        self_play_only=self_play_only,
        check=check,
    )
    return rule
