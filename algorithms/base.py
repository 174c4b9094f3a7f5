"""The update-rule protocol: what a rule declares, in one place, and the helpers every rule shares.

An :class:`UpdateRule` is a ``NamedTuple`` of pure functions plus what the rule declares about itself:

* ``init(game, key=None, *, ref=None, start=None, self_play=None, **hparams) -> state`` — the one ``init``
  contract. It checks the game and the concrete hyperparameters (``ValueError`` before anything compiles),
  draws the start (``start``, default the reference ``ref``, default uniform; ``start_noise`` perturbs it), and
  stores every numeric hyperparameter in the state as an array of the game's dtype, so ``vmap`` over them
  needs no recompilation;
* ``step(state, oracle) -> state`` — one update. The :class:`games.feedback.Oracle` answers payoff gradients
  (exact, sampled or noisy: the rule does not know which) and holds the game;
* ``policy(state) -> Profile`` — the current policy as **log-probabilities**, a :class:`games.Profile`
  (``y is None`` in self-play); the runner's metrics take its ``exp``.

Declared, not inferred: ``hparams`` (names, defaults and ranges), ``accepts`` (``"any"`` game or
``"preference"`` games only), ``self_play_only``, ``exact_only`` (the rule reads the whole game, not the
oracle's gradients), and for regularized rules ``tau(state)``, ``reference(state)`` and
``with_reference(state, ref)`` (log-probabilities), plus an optional ``reset(state)`` that clears auxiliary
memory when a wrapper re-centres the reference (as optax's lookahead may reset its fast weights). Wrappers
(``comal``, ``averaged``) use only this interface, and state only what differs from their inner
rule: :func:`wrap` inherits the rest.

Self-play is a choice made at ``init``: ``self_play=None`` plays one policy on preference games and two
players on every matrix game; ``True`` needs a symmetric game; ``False`` runs both players of a preference
game. Policies are stored as **normalised log-probabilities** (``log_softmax``), so dynamics that drift to a
vertex never underflow to 0 or produce NaN. Every update is written once, with ``jax.tree.map`` over the
profile: it then runs on one policy in self-play and on two otherwise.

Writing a new rule — optimistic INPO, ``pi' ∝ pi^(1-eta tau) ref^(eta tau) exp(eta (2 r_t - r_{t-1}))``
(the same example as the README and ``notebooks/new_update_rule.ipynb``; ``tests/test_readme.py`` runs it)::

    from typing import NamedTuple
    import jax, jax.numpy as jnp, games, algorithms
    from algorithms import base
    jax.config.update("jax_enable_x64", True)   # float64: the kit checks float32 and float64

    class State(NamedTuple):
        logits: games.Profile; ref: games.Profile; prev: games.Profile; first: jax.Array; eta: jax.Array; tau: jax.Array

    def init_state(game, logits, ref, key, eta, tau):
        return State(logits, ref, base.tree_map(jnp.zeros_like, logits), jnp.ones((), bool), eta, tau)

    def step(s, oracle):
        g = oracle.gradient(s.logits)              # exact, sampled or noisy feedback: the rule cannot tell
        prev = base.tree_map(lambda g, p: jnp.where(s.first, g, p), g, s.prev)   # r_{-1} = r_0
        et = s.eta * s.tau
        new = base.tree_map(lambda l, r, g, p: base.normalize((1 - et) * l + et * r + s.eta * (2 * g - p)),
                            s.logits, s.ref, g, prev)
        return s._replace(logits=new, prev=g, first=jnp.zeros((), bool))

    rule = base.make_rule("optimistic_inpo", init_state, step, regularized=True,
                          hparams={"eta": (0.5, "(0, inf)"), "tau": (0.1, "(0, inf)")},
                          check=base.eta_tau_at_most_one("optimistic_inpo"))
    algorithms.conformance.check_rule(rule)   # every invariant the registry's rules pass, or an AssertionError
    trace = algorithms.run(algorithms.comal(rule, 100), games.comal_cycle(), steps=5000)   # COMAL around it
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import games
from games import Profile
from games.feedback import Oracle

__all__ = [
    "UpdateRule",
    "Hparam",
    "Profile",
    "Oracle",
    "make_rule",
    "wrap",
    "check_regularized",
    "check_fraction",
    "SAMPLES",
    "feedback_hparams",
    "under",
    "check_hparams",
    "resolve_self_play",
    "normalize",
    "probs",
    "tree_map",
    "as_key",
    "as_keys",
    "eta_tau_at_most_one",
    "StepBound",
    "StepSizeWarning",
    "KL_STEP",
    "EXTRAGRADIENT_STEP",
    "OPTIMISTIC_STEP",
    "step_size_warning",
]

tree_map = jax.tree.map

#: The start perturbation every rule accepts: ``logits = normalize(log start + start_noise * N(0, 1))`` (the one
#: name: in ``run``/``sweep``, ``Trace.hparams``, ``to_dataframe``, the studies' CSV and ``--start-noise``).
START_NOISE = "start_noise"


# ---------------------------------------------------------------------------------------------------------------
# hyperparameters: a name, a default and a range, declared by the rule
# ---------------------------------------------------------------------------------------------------------------

_INTERVAL = re.compile(r"^\s*([\[(])\s*([^,\s]+)\s*,\s*([^\])\s]+)\s*([\])])\s*$")


class StepBound(NamedTuple):
    """The stable range of a step size in terms of the payoff scale ``L = max|A|``: ``eta <= bound(L, hp)``,
    ``hp`` the run's other hyperparameters (floats or arrays). ``formula`` is the bound as text, for messages.
    A sufficient condition from the update's linearisation, not a tight one: steps somewhat above it may still
    converge; steps far above it do not (:func:`step_size_warning`)."""

    formula: str
    bound: Callable[[float, Mapping[str, Any]], Any]


def _kl_step(scale, hp):
    return 2 * hp["tau"] / (hp["tau"] ** 2 + scale**2)


def _extragradient_step(scale, hp):
    del hp  # the regularization (EGPO) is applied exactly by the mirror step: only the payoff's scale counts
    return 1 / scale


def _optimistic_step(scale, hp):
    del hp
    return 1 / (2 * scale)


#: INPO, MMD, Nash-MD (and COMAL, MPO around them): near the regularized equilibrium the step is the linear map
#: ``(1 - eta tau) I + eta [[0, J], [-J^T, 0]]`` in the logits, whose eigenvalues ``1 - eta tau +- i eta s``
#: (``s`` a singular value of the payoff Jacobian, ``s <~ L``) lie in the unit disc when
#: ``(1 - eta tau)^2 + eta^2 L^2 <= 1``, i.e. ``eta <= 2 tau / (tau^2 + L^2)`` (MMD's own condition is weaker;
#: OpenSpiel's MMD default ``alpha / max|A|^2`` is the same scaling). Preference games (``L <= 1/2``) at
#: ``tau = 0.1`` allow ``eta <= 0.77``: the default 0.5 lies inside.
KL_STEP = StepBound("2 tau / (tau^2 + max|A|^2)", _kl_step)
#: Extragradient and EGPO: the payoff gradient is ``L``-Lipschitz in the (l1, l_inf) pair of norms, and the
#: mirror-prox step is stable for ``eta <= 1 / L`` (Nemirovski 2004; Korpelevich's extragradient).
EXTRAGRADIENT_STEP = StepBound("1 / max|A|", _extragradient_step)
#: Optimistic MWU: one gradient per step, stable for ``eta <= 1 / (2 L)`` (Rakhlin and Sridharan, arXiv
#: 1311.1869; the factor 2 is the optimistic step's ``2 g_t - g_{t-1}``).
OPTIMISTIC_STEP = StepBound("1 / (2 max|A|)", _optimistic_step)


class StepSizeWarning(UserWarning):
    """A step size lies outside its rule's declared stable range (:class:`StepBound`) for this game."""


class Hparam(NamedTuple):
    """A numeric hyperparameter: its default and the interval of valid values.

    ``interval`` is written as in mathematics: ``"(0, inf)"``, ``"[0, 1)"``, ``"[1e-3, 10]"``; ``integer``
    restricts it to whole numbers (a count, such as the pairs judged per iteration). ``stable``: for a step
    size, its stable range in terms of the payoff scale (:class:`StepBound`; ``None``: no bound is declared —
    e.g. MWU, whose last iterate does not converge for any step).
    restricts it to whole numbers (a count, such as the pairs judged per iteration). ``counts`` says what a
    schedule for it is a function of (:mod:`algorithms.schedules`): ``"steps"`` (updates applied) or
    ``"rounds"`` (outer rounds of a wrapper, read by the rule's ``rounds(state)``).
    """

    name: str
    default: float
    interval: str = "(0, inf)"
    integer: bool = False
    stable: StepBound | None = None
    counts: str = "steps"

    @property
    def domain(self) -> str:
        """The valid values as text: the interval, with "(whole numbers)" for an integer hyperparameter."""
        return f"{self.interval} (whole numbers)" if self.integer else self.interval

    @property
    def bounds(self) -> tuple[float, float, bool, bool]:
        """``(low, high, low_closed, high_closed)``."""
        m = _INTERVAL.match(self.interval)
        low, high = float(m.group(2)), float(m.group(3))
        return low, high, m.group(1) == "[", m.group(4) == "]"

    def contains(self, v: np.ndarray) -> np.ndarray:
        low, high, lc, hc = self.bounds
        above = v >= low if lc else v > low
        below = v <= high if hc else v < high
        return above & below & (v == np.round(v) if self.integer else True)

    def interior(self) -> list[float]:
        """Three valid points: the default and two nearby values inside the interval (for grids)."""
        low, high, _, _ = self.bounds
        d = self.default
        up = d * 1.2 if d > 0 else d + 0.1
        down = d * 0.8 if d > 0 else d - 0.1
        up = up if up < high else d + (high - d) / 2
        down = down if down > low else d - (d - low) / 2
        if self.integer:  # the nearest whole numbers inside, distinct from the default where there are any
            up, down = np.floor(up), np.ceil(down)
            up, down = (
                (up if self.contains(np.asarray(up)) else d),
                (down if self.contains(np.asarray(down)) else d),
            )
        return [d, float(down), float(up)]


def _hparam(name: str, spec) -> Hparam:
    spec = (spec, "(0, inf)") if not isinstance(spec, tuple) else spec
    if len(spec) == 3 and spec[2] == "integer":
        default, interval, integer = spec[0], spec[1], True
    elif len(spec) == 2:
        (default, interval), integer = spec, False
    else:
        raise ValueError(
            f"hyperparameter {name}: expected default, (default, interval) or (default, interval, 'integer'), "
            f"got {spec!r}"
        )
    if isinstance(default, bool) or not isinstance(default, (int, float, np.number)):
        raise TypeError(f"hyperparameter {name}: default must be a number, got {default!r}")
    if not isinstance(interval, str) or not _INTERVAL.match(interval):
        raise ValueError(
            f"hyperparameter {name}: interval must look like '(0, inf)' or '[0, 1)', got {interval!r}"
        )
    hp = Hparam(name, float(default), interval, integer)
    low, high, _, _ = hp.bounds
    if math.isnan(low) or math.isnan(high) or low > high:
        raise ValueError(f"hyperparameter {name}: empty interval {interval!r}")
    if not hp.contains(np.asarray(hp.default)):
        raise ValueError(f"hyperparameter {name}: default {default!r} lies outside its interval {hp.domain}")
    return hp


# ---------------------------------------------------------------------------------------------------------------
# the protocol
# ---------------------------------------------------------------------------------------------------------------


class UpdateRule(NamedTuple):
    """A learning rule: pure functions plus what it declares (hashable: a ``jit`` static argument).

    Attributes:
        name: display name (e.g. ``"comal(inpo,100)"``).
        init, step, policy: see the module docstring.
        hparams: the numeric hyperparameters ``init`` accepts (:class:`Hparam`: name, default, interval),
            the start's ``start_noise`` included.
        accepts: ``"any"`` game, or ``"preference"`` games only (e.g. SPPO's update is written with ``P``).
        self_play_only: the rule plays one policy against itself (needs a symmetric game).
        exact_only: the rule reads the whole game rather than the oracle's gradients (only exact feedback).
        tau, reference, with_reference: for rules that solve a KL-regularized game (else ``None``): the KL
            weight, the reference as log-probabilities (a :class:`games.Profile`), and a copy of the state
            with another reference. The runner records ``regularized_gap`` for them; ``comal`` re-centres them.
        reset: optional ``state -> state`` clearing auxiliary memory when the reference is re-centred.
        check: optional joint validation ``check(hparams)`` of concrete (possibly array-valued, element-wise)
            hyperparameters, raising ``ValueError`` (e.g. :func:`eta_tau_at_most_one`).
        own_comparisons: the rule draws and judges its own comparisons with a judge of its own (not the
            feedback model's: built-in rules ask :class:`games.feedback.Oracle`) and counts them with
            ``oracle.count``, also under exact feedback.
        observes: what the rule asks the oracle for: ``"gradients"`` (``oracle.gradient``/``win_rates``: the
            feedback model's duels or noise) or ``"pairs"`` (``oracle.pairs``: judged pairs, under exact or
            sampled feedback in a fixed order only; loss-based rules). It tells the pre-flight which feedback
            the rule can take and the memory check whose draws to count.
        working_bytes: optional ``(game, feedback) -> int``, an estimate of the memory one step of one run
            allocates beyond its state and, for a rule that observes gradients, the feedback's draws (e.g. a
            loss-based rule's judged pairs, drawn or the population), for the runner's memory check before
            anything is allocated; ``None``: nothing beyond the state.
        with_hparams: ``with_hparams(state, {name: value}) -> state``, a copy of the state with other values of
            numeric hyperparameters (cast to the stored dtype): how the runner applies a schedule
            (:mod:`algorithms.schedules`) before each step. ``None``: the rule takes no schedules.
        rounds: for wrappers with an outer loop, ``rounds(state)``, the outer rounds completed: the count of
            the hyperparameters declared with ``counts="rounds"``.
        verify: optional ``verify(state)``, a check of the final state on the host after ``run`` or ``sweep``
            (a sweep's state carries its batch axes), raising when the run cannot be trusted (e.g.
            :class:`games.solvers.SolverError` for an inner solve short of its tolerance): what a jitted step
            cannot raise.
    """

    name: str
    init: Callable[..., Any]
    step: Callable[[Any, Oracle], Any]
    policy: Callable[[Any], Profile]
    hparams: tuple[Hparam, ...]
    accepts: str = "any"
    self_play_only: bool = False
    exact_only: bool = False
    tau: Callable[[Any], jax.Array] | None = None
    reference: Callable[[Any], Profile] | None = None
    with_reference: Callable[[Any, Profile], Any] | None = None
    reset: Callable[[Any], Any] | None = None
    check: Callable[[dict], None] | None = None
    own_comparisons: bool = False
    observes: str = "gradients"
    working_bytes: Callable[[Any, Any], int] | None = None
    with_hparams: Callable[[Any, dict], Any] | None = None
    rounds: Callable[[Any], jax.Array] | None = None
    verify: Callable[[Any], None] | None = None

    @property
    def regularized(self) -> bool:
        """True when the rule solves a KL-regularized game and exposes its reference."""
        return self.reference is not None

    def __repr__(self) -> str:
        return f"UpdateRule({self.name})"


# ---------------------------------------------------------------------------------------------------------------
# simplex helpers (log domain)
# ---------------------------------------------------------------------------------------------------------------


def normalize(logits: jax.Array) -> jax.Array:
    """Normalised log-probabilities over the last axis (``log_softmax``; its sums written out for a few
    actions inside ``sweep``'s batch-last fast path, :func:`algorithms.layout.written_out`)."""
    return games.core.log_softmax(logits)


def probs(logits: Profile) -> Profile:
    """Probabilities of a log-probability profile."""
    return tree_map(jnp.exp, logits)


# ---------------------------------------------------------------------------------------------------------------
# keys and hyperparameter values
# ---------------------------------------------------------------------------------------------------------------


def _check_seed(value, name: str) -> int:
    seed = games.core.check_seed(value, name)
    if not isinstance(seed, int):
        raise TypeError(f"{name} must be an int seed, got {value!r}")
    return seed


def as_key(key, name: str = "key") -> jax.Array:
    """A raw ``uint32[2]`` PRNG key from ``None`` (seed 0), an int seed in ``[0, 2**63)`` or a key
    (validated by :func:`games.core.check_seed`, the one place seeds are checked).

    Raises:
        TypeError / ValueError: anything else, naming ``name`` and the value.
    """
    value = 0 if key is None else games.core.check_seed(key, name)
    if isinstance(value, int):
        if jax.config.jax_default_prng_impl != "threefry2x32":
            return jax.random.PRNGKey(value)
        return jnp.asarray(_threefry_keys(np.asarray([value], np.uint64))[0])  # no JAX op: less per-call cost
    if np.shape(value) != (2,):
        raise ValueError(f"{name} must be a single key (uint32[2]), got shape {np.shape(value)}")
    return jnp.asarray(value)


def as_keys(seeds, name: str = "seeds") -> jax.Array:
    """``uint32[S, 2]`` keys for ``range(S)`` (an int ``S``) or a sequence of int seeds, built vectorised."""
    if isinstance(seeds, (bool, np.bool_, str, bytes)) or not (
        isinstance(seeds, (int, np.integer)) or np.ndim(seeds) == 1 or isinstance(seeds, (list, tuple, range))
    ):
        raise TypeError(f"{name} must be an int S (seeds 0..S-1) or a sequence of int seeds, got {seeds!r}")
    if isinstance(seeds, (int, np.integer)):
        if seeds < 1:
            raise ValueError(f"{name} must name at least one seed, got {seeds}")
        arr = np.arange(int(seeds), dtype=np.int64)
    else:
        values = list(seeds)
        if not values:
            raise ValueError(f"{name} must name at least one seed")
        for i, v in enumerate(values):
            _check_seed(v, f"{name}[{i}]")
        arr = np.asarray([int(v) for v in values], dtype=np.uint64)
    arr = arr.astype(np.uint64)
    if jax.config.jax_default_prng_impl != "threefry2x32":  # other implementations: one call per seed
        return jnp.stack([jax.random.PRNGKey(int(s)) for s in arr])
    return jnp.asarray(_threefry_keys(arr))


def _threefry_keys(seeds: np.ndarray) -> np.ndarray:
    """``jax.random.PRNGKey(s)`` for threefry is ``[s >> 32, s & 0xFFFFFFFF]``: built on the host, without one
    JAX call per seed (``uint64 [S]`` -> ``uint32 [S, 2]``)."""
    return np.stack(
        [(seeds >> np.uint64(32)).astype(np.uint32), (seeds & np.uint64(0xFFFFFFFF)).astype(np.uint32)], -1
    )


def _is_concrete(v) -> bool:
    return not isinstance(v, jax.core.Tracer)


def check_hparams(rule: UpdateRule, given: Mapping[str, Any], *, joint: bool = True, dtype=None) -> dict:
    """Fill ``rule``'s defaults and validate concrete values element-wise against the declared intervals
    (scalars, or same-shape arrays of grid points); ``joint=False`` skips the rule's joint ``check`` (for grids
    whose axes are not yet broadcast). With ``dtype``, the values are checked again after the cast to it: a
    value that overflows (``eta=1e39`` in float32) or whose reciprocal overflows (``tau=1e-320``) is refused.

    Raises:
        ValueError: an unknown name (the valid ones are listed), or a value that is NaN, infinite or outside
            its interval. Traced values (inside ``vmap``) are passed through unchecked.
        TypeError: a non-numeric value.
    """
    spec = {h.name: h for h in rule.hparams}
    unknown = sorted(set(given) - set(spec))
    if unknown:
        valid = ", ".join(spec) or "none"
        raise ValueError(f"{rule.name}: unknown hyperparameter(s) {', '.join(unknown)}; valid: {valid}")
    out = {**{n: h.default for n, h in spec.items()}, **given}
    for name, value in out.items():
        if not _is_concrete(value):
            continue
        if isinstance(value, (str, bytes, bool)) or value is None or callable(value):
            raise TypeError(f"{rule.name}: hyperparameter {name} must be a number, got {value!r}")
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{rule.name}: hyperparameter {name} must be a number, got {value!r}") from None
        if not np.isfinite(arr).all():
            raise ValueError(f"{rule.name}: hyperparameter {name} must be finite, got {value!r}")
        h = spec[name]
        ok = h.contains(arr)
        if not np.all(ok):
            bad = float(np.ravel(arr[~ok] if arr.ndim else arr)[0])
            raise ValueError(f"{rule.name}: hyperparameter {name} must lie in {h.domain}, got {bad:g}")
        if dtype is not None:
            with np.errstate(divide="ignore", over="ignore"):
                cast = arr.astype(dtype)
                inv = np.abs(np.reciprocal(cast[cast != 0]))
            if not np.isfinite(cast).all() or not np.isfinite(inv).all():
                raise ValueError(
                    f"{rule.name}: hyperparameter {name}={value!r} does not fit {np.dtype(dtype).name} "
                    f"(it, or its reciprocal, overflows)"
                )
    if rule.check is not None and joint and all(_is_concrete(v) for v in out.values()):
        vals = {k: np.asarray(v, dtype=np.float64 if dtype is None else dtype) for k, v in out.items()}
        rule.check(vals)
    return out


def step_size_warning(rule: UpdateRule, game, hparams: Mapping[str, Any], counts=None) -> str | None:
    """The message :func:`algorithms.run` warns with (:class:`StepSizeWarning`) when a declared step size lies
    outside its stable range (:attr:`Hparam.stable`) for ``game``'s payoff scale ``L = max|A|``, else
    ``None``. ``hparams``: every hyperparameter's concrete value (scalars, or same-shape arrays of grid points:
    the message names the worst point). With ``counts`` (``[T]``), the arrays are instead a schedule's values at
    those step counts (scalars for the other hyperparameters), and the message names the first step outside
    the range. The safe value it suggests is the bound, rounded down to two digits.

    Example:
        >>> message = algorithms.base.step_size_warning(
        ...     algorithms.inpo(), games.matrix_game([[1, -1], [-1, 2]]), {"eta": 0.5, "tau": 0.1, "start_noise": 0.0})
        >>> message.split(": ")[0], message.endswith("may not converge. A safe value: eta=0.049")
        ('inpo', True)
    """
    scale = float(np.max(np.abs(np.asarray(game.A))))
    if scale == 0:
        return None
    for h in rule.hparams:
        if h.stable is None or h.name not in hparams:
            continue
        values = {k: np.asarray(v, np.float64) for k, v in hparams.items()}
        bound = np.asarray(h.stable.bound(scale, values), np.float64)
        ratio = np.broadcast_to(
            values[h.name] / bound, np.broadcast_shapes(bound.shape, values[h.name].shape)
        )
        if not np.any(ratio > 1):
            continue
        if counts is not None and ratio.ndim:  # along a schedule: the first step outside
            i = (int(np.argmax(ratio > 1)),)
        else:
            i = np.unravel_index(np.argmax(ratio), ratio.shape) if ratio.ndim else ()
        value = float(np.broadcast_to(values[h.name], ratio.shape)[i])
        limit = float(np.broadcast_to(bound, ratio.shape)[i])
        digits = 10 ** (math.floor(math.log10(limit)) - 1)
        safe = math.floor(limit / digits) * digits
        if counts is not None and ratio.ndim:
            where = (
                f" at step {int(counts[i[0]])} of its schedule ({int(np.sum(ratio > 1))} of the "
                f"{ratio.size} steps checked)"
            )
        else:
            where = f" ({int(np.sum(ratio > 1))} of {ratio.size} grid points)" if ratio.size > 1 else ""
        return (
            f"{rule.name}: {h.name}={value:g}{where} lies outside its stable range for this game (payoff scale "
            f"max|A|={scale:g}): {h.name} <= {h.stable.formula} = {limit:.3g}; the last iterate may not "
            f"converge. A safe value: {h.name}={safe:.2g}"
        )
    return None


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


# ---------------------------------------------------------------------------------------------------------------
# games, self-play and the start
# ---------------------------------------------------------------------------------------------------------------


def resolve_self_play(rule: UpdateRule, game, self_play) -> bool:
    """Whether ``rule`` plays ``game`` in self-play, checking what the rule declares.

    ``None``: self-play on preference games, two players on every matrix game (skew-symmetric or not).

    Raises:
        TypeError: ``game`` is not a :class:`games.Game` or ``self_play`` not a bool/None.
        ValueError: a declared requirement fails (the message says which and how to fix it).
    """
    if not isinstance(game, games.Game):
        raise TypeError(f"{rule.name}: expected a games.Game, got {type(game).__name__}")
    if self_play is not None and not isinstance(self_play, (bool, np.bool_)):
        raise TypeError(f"self_play must be None, True or False, got {self_play!r}")
    if rule.accepts == "preference" and not game.preference:
        raise ValueError(
            f"{rule.name} needs a preference game (its update is written with P); got {game!r}. Build the "
            f"game with games.preference_game(P)"
        )
    sp = game.preference if self_play is None else bool(self_play)
    if sp and not game.symmetric:
        raise ValueError(
            f"self-play needs a symmetric game (a preference game or a skew-symmetric matrix game); got {game!r}"
        )
    if rule.self_play_only and not sp:
        how = "pass self_play=True" if game.symmetric else "use a preference game"
        raise ValueError(f"{rule.name} is a self-play rule (one policy plays both sides): {how}")
    return sp


def _profile_of(game: games.Game, value, self_play: bool, name: str) -> list[jax.Array]:
    """Validated probabilities per player (``None``: uniform) from one policy or a pair ``(x, y)``."""
    if isinstance(value, tuple):
        vx, vy = value
        if self_play and vy is not None:
            raise ValueError(f"self-play plays one policy: pass one {name} policy, not a pair")
        values = (vx,) if self_play else (vx, vy)
    else:
        if not self_play and value is not None and game.shape[0] != game.shape[1]:
            raise ValueError(
                f"a single {name} needs a square game; pass ({name}_x, {name}_y) for an m x n game"
            )
        values = (value,) if self_play else (value, value)
    out = []
    for player, v in enumerate(values):
        if v is None:
            v = games.uniform(game, player)
        elif _is_concrete(v):
            v = games.core.check_reference(game, v, player, name if self_play else f"{name}_{'xy'[player]}")
        out.append(jnp.asarray(v, game.dtype))
    return out


def initial_policy(game: games.Game, key, ref, noise, self_play: bool, start=None) -> tuple[Profile, Profile]:
    """``(logits, ref_logits)`` profiles. The start is ``start`` (default: the reference, default uniform),
    perturbed by ``noise * N(0, 1)`` in log space (``noise``: the ``start_noise`` hyperparameter).
    ``ref``/``start`` are one policy (both players of a square game) or a :class:`games.Profile`/pair
    ``(x, y)``; every entry must be strictly positive.
    """
    ref_logits = [jnp.log(r) for r in _profile_of(game, ref, self_play, "ref")]
    start_logits = (
        ref_logits if start is None else [jnp.log(p) for p in _profile_of(game, start, self_play, "start")]
    )
    if _is_concrete(noise) and float(noise) == 0.0:  # no draw: bitwise the same as adding 0 * N(0, 1)
        logits = [normalize(lr) for lr in start_logits]
    else:
        keys = jax.random.split(key, len(start_logits))
        logits = [
            normalize(lr + noise * jax.random.normal(k, lr.shape, game.dtype))
            for lr, k in zip(start_logits, keys)
        ]
    return Profile(*logits), Profile(*ref_logits)


class Regularization(NamedTuple):
    """How a regularized rule's state holds its KL weight and reference (for :func:`make_rule`)."""

    tau: Callable[[Any], jax.Array]
    reference: Callable[[Any], Profile]
    with_reference: Callable[[Any, Profile], Any]


#: The default layout: a state with fields ``tau`` and ``ref`` (log-probabilities).
STATE_FIELDS = Regularization(
    tau=lambda s: s.tau,
    reference=lambda s: s.ref,
    with_reference=lambda s, ref: s._replace(ref=ref),
)


def replace_fields(state, values: dict):
    """Default ``with_hparams``: the state's fields of the same names, replaced (cast to their dtypes)."""
    return state._replace(**{k: jnp.asarray(v, getattr(state, k).dtype) for k, v in values.items()})


def logits_policy(state) -> Profile:
    """Default ``policy``: ``state.logits`` (log-probabilities)."""
    return state.logits


def make_rule(
    name: str,
    init_state: Callable[..., Any],
    step: Callable[[Any, Oracle], Any],
    *,
    hparams: Mapping[str, Any],
    policy: Callable[[Any], Profile] = logits_policy,
    accepts: str = "any",
    self_play_only: bool = False,
    exact_only: bool = False,
    regularized: bool | Regularization = False,
    reset: Callable[[Any], Any] | None = None,
    check: Callable[[dict], None] | None = None,
    own_comparisons: bool = False,
    observes: str = "gradients",
    stable: Mapping[str, StepBound] | None = None,
    working_bytes: Callable[[Any, Any], int] | None = None,
    with_hparams: Callable[[Any, dict], Any] = replace_fields,
    verify: Callable[[Any], None] | None = None,
) -> UpdateRule:
    """Build an :class:`UpdateRule` from ``init_state(game, logits, ref, key, **hparams) -> state`` and ``step``.

    Args:
        hparams: ``{name: default}`` (interval ``(0, inf)``) or ``{name: (default, "[0, 1)")}``; every rule
            also accepts ``start_noise`` (default 0, ``[0, inf)``): the start's log-space perturbation.
        stable: ``{name: StepBound}``: the stable range of a step size in terms of the payoff scale
            (:data:`KL_STEP`, :data:`EXTRAGRADIENT_STEP`, :data:`OPTIMISTIC_STEP` or your own); ``run`` and
            ``sweep`` warn (:class:`StepSizeWarning`) when a value lies outside it.
        regularized: ``True`` when the state has ``tau`` and ``ref`` fields (log-probabilities) and the rule
            solves ``J_tau``; or a :class:`Regularization` for another layout.
        with_hparams: how a schedule's value replaces a hyperparameter in the state (default: the state's
            field of the same name, :func:`replace_fields`).
        Others: the declarations of :class:`UpdateRule`.

    The returned ``init`` resolves self-play (:func:`resolve_self_play`), checks the hyperparameters
    (:func:`check_hparams`, in the game's dtype), draws the start (:func:`initial_policy`), casts the
    hyperparameters to the game's dtype and calls ``init_state``.
    """
    declared = dict(
        policy=policy,
        accepts=accepts,
        self_play_only=self_play_only,
        exact_only=exact_only,
        reset=reset,
        check=check,
        own_comparisons=own_comparisons,
        observes=observes,
        working_bytes=working_bytes,
        with_hparams=with_hparams,
        verify=verify,
    )
    _check_declarations(name, declared)
    if START_NOISE in hparams:
        raise ValueError(
            f"{name}: '{START_NOISE}' is the start perturbation every rule has; pick another name"
        )
    stable = dict(stable or {})
    unknown = sorted(set(stable) - set(hparams))
    if unknown:
        raise ValueError(f"{name}: stable names unknown hyperparameter(s) {', '.join(unknown)}")
    if not all(isinstance(b, StepBound) for b in stable.values()):
        raise TypeError(f"{name}: stable must map hyperparameter names to StepBound, got {stable!r}")
    spec = (
        *(_hparam(n, v)._replace(stable=stable.get(n)) for n, v in hparams.items()),
        Hparam(START_NOISE, 0.0, "[0, inf)"),
    )
    reg = STATE_FIELDS if regularized is True else (regularized or None)

    rule: UpdateRule  # assigned below, before init can ever be called

    def init(game, key=None, *, ref=None, start=None, self_play=None, **hp):
        sp = resolve_self_play(rule, game, self_play)
        hp = check_hparams(rule, hp, dtype=game.dtype)
        noise = jnp.asarray(hp.pop(START_NOISE), game.dtype)
        key = as_key(key)
        logits, ref_logits = initial_policy(game, key, ref, noise, sp, start)
        hp = {k: jnp.asarray(v, game.dtype) for k, v in hp.items()}
        return init_state(game, logits, ref_logits, key, **hp)

    rule = UpdateRule(
        name=name,
        init=init,
        step=step,
        hparams=spec,
        tau=None if reg is None else reg.tau,
        reference=None if reg is None else reg.reference,
        with_reference=None if reg is None else reg.with_reference,
        **declared,
    )
    return rule


def check_regularized(inner, who: str) -> None:
    """``inner`` is a rule that declares its KL reference (``regularized``, ``with_reference``), as the
    wrappers that re-centre it need (``comal``, ``algorithms.sync``).

    Raises:
        TypeError / ValueError: naming ``who`` and the rule.
    """
    if not isinstance(inner, UpdateRule):
        hint = " (call the factory: algorithms.inpo())" if callable(inner) else ""
        raise TypeError(f"{who}: inner must be an UpdateRule{hint}, got {inner!r}")
    if not inner.regularized or inner.with_reference is None:
        raise ValueError(
            f"{who}: inner rule {inner.name} does not declare a KL reference (reference/with_reference); "
            f"COMAL needs a rule that solves a KL-regularized game, e.g. inpo, mmd, nash_md, egpo, or a rule "
            f"built with make_rule(..., regularized=True)"
        )


def check_fraction(value, who: str) -> float:
    """``value`` as a float in ``(0, 1]`` (a mixing weight).

    Raises:
        TypeError / ValueError: naming ``who`` and the value.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{who} must be a number, got {value!r}")
    if not 0 < float(value) <= 1:
        raise ValueError(f"{who} must lie in (0, 1], got {value!r}")
    return float(value)


# ---------------------------------------------------------------------------------------------------------------
# the feedback model's run hyperparameter
# ---------------------------------------------------------------------------------------------------------------

#: The name of the feedback model's run hyperparameter: how many of :func:`games.feedback.sampled` ``(K)``'s
#: ``K`` draws are judged each step (whole numbers in ``[1, K]``, default ``K``). Reserved: no rule declares it.
SAMPLES = "samples"


def feedback_hparams(feedback) -> tuple[Hparam, ...]:
    """The hyperparameters ``feedback`` adds to a run: ``samples`` under ``sampled(K)``, none otherwise."""
    if feedback.kind != "sampled":
        return ()
    return (Hparam(SAMPLES, float(feedback.samples), f"[1, {feedback.samples}]", integer=True),)


def under(rule: UpdateRule, feedback) -> UpdateRule:
    """``rule``'s declarations as a run under ``feedback`` checks them: its hyperparameters followed by the
    feedback's (:func:`feedback_hparams`), so one check, grid and schedule resolution covers both. For
    validation only (:func:`algorithms.check`, ``sweep``'s grid); the runner passes the feedback's values to
    the oracle, never to the rule. Cached per rule and feedback (a rule that cannot be hashed is not cached).

    Raises:
        ValueError: ``rule`` declares a hyperparameter the feedback reserves (``samples``).
    """
    extra = feedback_hparams(feedback)
    if not extra:
        return rule
    try:
        return _under(rule, extra)
    except TypeError:  # unhashable: a user's rule holding a list
        return _under.__wrapped__(rule, extra)


@functools.cache
def _under(rule: UpdateRule, extra: tuple[Hparam, ...]) -> UpdateRule:
    if SAMPLES in {h.name for h in rule.hparams}:
        raise ValueError(f"{rule.name} declares a hyperparameter {SAMPLES!r}, which the feedback reserves")
    return rule._replace(hparams=(*rule.hparams, *extra))


# ---------------------------------------------------------------------------------------------------------------
# wrappers: a rule around another rule, stating only what differs
# ---------------------------------------------------------------------------------------------------------------

#: Declarations a wrapper reads from its inner rule's state, ``state.inner`` (``with_reference`` and ``reset``
#: write it back): inherited unless overridden.
THROUGH_INNER = ("policy", "tau", "reference", "with_reference", "reset", "rounds", "verify")
#: Declarations about the game and the feedback a wrapper copies from its inner rule unless overridden.
COPIED = ("accepts", "self_play_only", "exact_only", "check", "own_comparisons", "observes", "working_bytes")


#: What a rule can ask the oracle for (:attr:`UpdateRule.observes`).
OBSERVES = ("gradients", "pairs")

#: The declarations that are functions of the state (``policy`` must be one; the others may be ``None``).
FUNCTIONS = (
    "policy",
    "tau",
    "reference",
    "with_reference",
    "reset",
    "check",
    "working_bytes",
    "with_hparams",
    "rounds",
    "verify",
)


def _check_declarations(who: str, values: Mapping[str, Any]) -> None:
    """Declarations given to :func:`make_rule` or :func:`wrap`: functions callable, flags bools, ``accepts``
    ``"any"`` or ``"preference"``; a ``TypeError``/``ValueError`` naming the value otherwise."""
    for field, value in values.items():
        if field in FUNCTIONS and not (callable(value) or (value is None and field != "policy")):
            none = "" if field == "policy" else " or None"
            raise TypeError(f"{who}: {field} must be a function of the state{none}, got {value!r}")
        if field in ("self_play_only", "exact_only", "own_comparisons") and not isinstance(value, bool):
            raise TypeError(f"{who}: {field} must be True or False, got {value!r}")
        if field == "accepts" and value not in ("any", "preference"):
            raise ValueError(f"{who}: accepts must be 'any' or 'preference', got {value!r}")
        if field == "observes" and value not in OBSERVES:
            raise ValueError(f"{who}: observes must be 'gradients' or 'pairs', got {value!r}")


def _through_inner(inner: UpdateRule, field: str):
    fn = getattr(inner, field)
    if fn is None:
        return None
    if field == "with_reference":
        return lambda s, ref: s._replace(inner=fn(s.inner, ref))
    if field == "reset":
        return lambda s: s._replace(inner=fn(s.inner))
    return lambda s: fn(s.inner)


def wrap(
    inner: UpdateRule,
    *,
    name: str,
    init: Callable[[Any, Any, dict], Any],
    step: Callable[[Any, Oracle], Any],
    hparams: tuple[Hparam, ...] = (),
    **overrides,
) -> UpdateRule:
    """A rule built around ``inner`` that states only what differs from it; every other declaration is
    inherited (``comal`` and ``averaged`` are written with it).

    The wrapper's state is a ``NamedTuple`` with a field ``inner`` holding the inner rule's state untouched and,
    when the wrapper declares hyperparameters, a field ``hp`` (``{name: array}``, the game's dtype).

    Args:
        inner: the wrapped rule.
        name: the wrapper's display name, e.g. ``f"averaged({inner.name})"``.
        init: ``init(inner_state, game, hp) -> state``: the wrapper's state around the inner rule's initial
            state (the helper resolved self-play, the start and the inner hyperparameters through
            ``inner.init``); ``hp`` holds every hyperparameter of ``hparams``, given or default, as arrays of
            the game's dtype, validated against their intervals.
        step: ``step(state, oracle) -> state``: the wrapper's whole step; it calls
            ``inner.step(state.inner, oracle)`` itself.
        hparams: the wrapper's own :class:`Hparam` s (``counts="rounds"`` for one counted in outer rounds,
            with ``rounds=``). A name ``inner`` declares already is not declared again: values given for it go
            to the inner rule, and ``hp`` holds the wrapper's default (a COMAL inside a COMAL).
        overrides: any other :class:`UpdateRule` field, as the wrapper's own value (a function of the
            wrapper's state for ``policy``, ``tau``, ...; ``None`` drops a declaration).

    Inherited unless overridden: ``policy``, ``tau``, ``reference``, ``with_reference``, ``reset``,
    ``rounds`` and ``verify`` through ``state.inner`` (``THROUGH_INNER``); ``accepts``, ``self_play_only``,
    ``exact_only``, ``check``, ``own_comparisons``, ``observes`` and ``working_bytes`` as declared by ``inner``
    (``COPIED``); ``with_hparams`` writes the wrapper's own names into ``state.hp`` and passes the others
    to ``inner.with_hparams`` (``None``, no schedules, when the inner rule takes none). The wrapper's
    ``hparams`` are the inner rule's followed by its own.

    Cache the factory that calls ``wrap`` (``functools.cache``): ``jit`` keys on the rule object.

    Raises:
        TypeError: ``inner`` is not an :class:`UpdateRule`, ``init``/``step`` are not callable, an entry of
            ``hparams`` is not an :class:`Hparam`, or an override names no declaration.
        ValueError: an empty name, or a hyperparameter named twice or named ``start_noise``.

    Example:
        >>> import typing
        >>> class Counted(typing.NamedTuple):
        ...     inner: typing.Any
        ...     steps: jax.Array
        >>> inner = algorithms.inpo()
        >>> counted = algorithms.base.wrap(
        ...     inner, name="counted(inpo)", init=lambda s, game, hp: Counted(s, jnp.zeros((), jnp.int32)),
        ...     step=lambda s, oracle: Counted(inner.step(s.inner, oracle), s.steps + 1))
        >>> counted.regularized, [h.name for h in counted.hparams]   # inpo's declarations, kept
        (True, ['eta', 'tau', 'start_noise'])
        >>> int(algorithms.run(counted, games.comal_cycle(), steps=7).state.steps)
        7
    """
    if not isinstance(inner, UpdateRule):
        hint = " (call the factory, e.g. algorithms.inpo())" if callable(inner) else ""
        raise TypeError(f"wrap: inner must be an UpdateRule{hint}, got {inner!r}")
    if not isinstance(name, str) or not name:
        raise ValueError(f"wrap: name must be a non-empty string, got {name!r}")
    for what, fn in (("init", init), ("step", step)):
        if not callable(fn):
            raise TypeError(f"wrap ({name}): {what} must be callable, got {fn!r}")
    own = tuple(hparams)
    bad = [h for h in own if not isinstance(h, Hparam)]
    if bad:
        raise TypeError(f"wrap ({name}): hparams must be Hparam entries, got {bad[0]!r}")
    names = [h.name for h in own]
    twice = sorted({n for n in names if names.count(n) > 1} | ({START_NOISE} & set(names)))
    if twice:
        raise ValueError(
            f"wrap ({name}): hyperparameter(s) {', '.join(twice)} named twice ({START_NOISE} is every rule's)"
        )
    fields = set(UpdateRule._fields) - {"name", "init", "step", "hparams"}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise TypeError(
            f"wrap ({name}): {', '.join(unknown)} is no declaration of an UpdateRule; valid: "
            f"{', '.join(sorted(fields))}"
        )
    _check_declarations(f"wrap ({name})", overrides)
    inner_names = {h.name for h in inner.hparams}
    declared = tuple(h for h in own if h.name not in inner_names)
    mine = {h.name for h in declared}

    rule: UpdateRule  # assigned below, before init can ever be called

    def wrapped_init(game, key=None, *, ref=None, start=None, self_play=None, **hp):
        given = {n: hp.pop(n) for n in mine if n in hp}
        state = inner.init(game, key, ref=ref, start=start, self_play=self_play, **hp)
        check_hparams(rule, given, joint=False, dtype=game.dtype)
        values = {h.name: jnp.asarray(given.get(h.name, h.default), game.dtype) for h in own}
        out = init(state, game, values)
        fields = getattr(out, "_fields", ())
        if type(out) is type(state) or "inner" not in fields or (mine and "hp" not in fields):
            raise TypeError(
                f"wrap ({name}): init must return the wrapper's state, a NamedTuple with a field 'inner' (the "
                f"inner rule's state){' and a field hp' if mine else ''}, got {type(out).__name__}"
                + (" (the inner rule's state itself)" if type(out) is type(state) else "")
            )
        return out

    def with_hparams(s, values):
        ours = {n: v for n, v in values.items() if n in mine}
        rest = {n: v for n, v in values.items() if n not in mine}
        if ours:
            s = s._replace(hp={**s.hp, **{n: jnp.asarray(v, s.hp[n].dtype) for n, v in ours.items()}})
        return s._replace(inner=inner.with_hparams(s.inner, rest)) if rest else s

    inherited = {
        **{f: _through_inner(inner, f) for f in THROUGH_INNER},
        **{f: getattr(inner, f) for f in COPIED},
        "with_hparams": None if inner.with_hparams is None else with_hparams,
    }
    rule = UpdateRule(
        name=name,
        init=wrapped_init,
        step=step,
        hparams=(*inner.hparams, *declared),
        **{**inherited, **overrides},
    )
    return rule
