"""The checks that read a study's flags together before any work (``study.<name>``): ``--rules``/``--hp`` on each
game through the library's pre-flight (:func:`algorithms.check`), the cost flags, sweep grids."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Mapping, Sequence

from . import cli
from .flags import game_items, load_game, load_rule

#: Smallest duality gap each dtype resolves on the sandbox's games (measured: COMAL, MPO and OMWU stall at
#: ~2e-7 in float32, the exact equilibrium stored in float32 has gap ~8e-9; float64 reaches ~1e-16).
DTYPE_FLOOR = {"float64": 1e-15, "float32": 2e-7}


def hparams(config, rule, text: str | None = None) -> dict[str, float]:
    """The ``--hp`` values that apply to ``rule`` (an UpdateRule, or its ``--rules`` text): ``name=value`` and
    ``scope.name=value`` where ``scope`` is its name or its text (``text``: the item it was built from)."""
    if isinstance(rule, str):
        rule, text = load_rule(rule), rule
    declared, scopes = {h.name for h in rule.hparams}, (None, rule.name, text)
    return {n: v for scope, n, v in getattr(config, "hp", ()) if n in declared and scope in scopes}


def effective_hparams(rule, given: dict) -> dict[str, float]:
    """Every hyperparameter of ``rule`` with the value used (defaults filled in, ``start_noise`` included)."""
    hp = {h.name: float(h.default) for h in rule.hparams} | given
    return {**hp, "start_noise": hp.get("start_noise", 0.0)}


def check_rules(config, game, feedback) -> tuple[str, ...]:
    """``--rules`` and ``--hp`` on ``game`` and ``feedback`` (:func:`check_hp`, :func:`preflight`); returns the
    rules that run: under stochastic feedback a rule that reads the whole game is dropped with a note (an
    error when it is the only one)."""
    check_hp(config, {t: [load_rule(t)] for t in config.rules})
    kept = []
    for t in config.rules:
        rule = load_rule(t)
        if rule.exact_only and feedback.stochastic:
            if len(config.rules) == 1:
                raise ValueError(
                    f"rule {rule.name} reads the whole game: exact feedback only, got {feedback.name}"
                )
            cli.note(
                f"{rule.name} skipped: it reads the whole game (exact feedback only), got {feedback.name}"
            )
            continue
        preflight(rule, game, config, feedback, **hparams(config, t))
        kept.append(t)
    return tuple(kept)


def check_hp(config, rules: Mapping[str, Sequence]) -> None:
    """``ValueError`` unless every ``--hp`` item reaches a rule run (by its text or name) that declares it;
    ``rules`` maps each ``--rules`` text to the rules it runs."""
    for scope, n, _ in getattr(config, "hp", ()):
        key = n if scope is None else f"{scope}.{n}"
        if not rules:
            raise ValueError(
                f"--hp {key}: no --rules given, and --hp sets only the values of the rules given there"
            )
        scoped = [r for t, rs in rules.items() for r in rs if scope is None or scope in (t, r.name)]
        if not scoped:
            raise ValueError(f"--hp {key}: no rule {scope!r} among the rules run ({', '.join(rules)})")
        if not any(n in {h.name for h in r.hparams} for r in scoped):
            raise ValueError(f"--hp {n}: no rule run declares {n!r}")


def preflight(rule, game, config, feedback=None, **hp):
    """:func:`algorithms.check` of ``rule`` on ``game`` with the study's ``steps`` and ``record_every`` (a config
    or a dict): the command line accepts what the library accepts. A step-size warning is left to the run."""
    import algorithms

    get = config.get if isinstance(config, dict) else lambda name: getattr(config, name, None)
    steps = get("steps") or 1
    every = get("record_every") or steps
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", algorithms.StepSizeWarning)
        return algorithms.check(rule, game, feedback=feedback, steps=steps, record_every=every, **hp)


def check(config, game: Callable | None = None):
    """The default ``prepare``: :func:`check_cost`, a note for a ``--level`` below :data:`DTYPE_FLOOR`, and
    :func:`check_rules` on every game (``game(item)``, default :func:`load_game`'s); returns ``config`` with the
    rules that run."""
    check_cost(config)
    fb = cli.feedback_type(config.feedback)
    level, floor = getattr(config, "level", None), DTYPE_FLOOR[config.dtype]
    if level is not None and level < floor:
        what = f"the {config.dtype} accuracy floor (a gap of about {floor:g})"
        cli.note(f"--level {level:g} is below {what}; runs may never reach it")
    kept = config.rules
    for item in game_items(config):
        g = game(item) if game else load_game(item, config.dtype, config.seed).game
        kept = check_rules(dataclasses.replace(config, rules=kept), g, fb)
    return dataclasses.replace(config, rules=kept)


def check_grid(config, axes: Sequence[str], points: Sequence[dict]):
    """:func:`check` for a study sweeping the hyperparameters ``axes``: ``--hp`` fixes none, every rule declares
    them all and accepts each of ``points`` (``{axis: value}``, the grid's corners) on every game."""
    for name in [n for _, n, _ in config.hp if n in axes][:1]:
        raise ValueError(
            f"--hp {name}: {name} is this study's grid axis ({', '.join(axes)}); it cannot be fixed"
        )
    for rule in map(load_rule, config.rules):
        if not set(axes) <= {h.name for h in rule.hparams}:
            declared = ", ".join(h.name for h in rule.hparams)
            raise ValueError(
                f"rule {rule.name} has no {' x '.join(axes)} grid (its hyperparameters: {declared})"
            )
    config = check(config)
    for item in game_items(config):
        game = load_game(item, config.dtype, config.seed).game
        for t in config.rules:
            for point in points:
                preflight(load_rule(t), game, config, **{**hparams(config, t), **point})
    return config


def check_cost(config) -> None:
    """``ValueError`` unless ``--steps`` is a multiple of ``--record-every`` and ``--x comparisons`` comes with
    sampled feedback."""
    every = getattr(config, "record_every", None)
    if every and config.steps % every:
        raise ValueError(f"--steps ({config.steps}) must be a multiple of --record-every ({every})")
    fb = cli.feedback_type(getattr(config, "feedback", "exact"))
    if getattr(config, "x", None) == "comparisons" and fb.kind != "sampled":
        raise ValueError(
            f"--x comparisons: {fb.name} feedback counts no comparisons; give --feedback sampled:K "
            "(or --x steps / oracle_calls)"
        )
