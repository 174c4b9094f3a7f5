"""``--rules``: registry names or ``module:attribute`` -> the rules to run, with their hyperparameters."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence
from dataclasses import dataclass

from .cli import fail, note


@dataclass(frozen=True)
class RuleSpec:
    """A rule to run: the object, the text it came from (a registry name or ``module:attribute``)."""

    rule: object
    source: str

    @property
    def name(self) -> str:
        return self.rule.name


def _import_rule(spec: str):
    import algorithms

    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise ValueError(f"rule {spec!r}: expected module:attribute")
    try:
        mod = importlib.import_module(module)
    except ImportError as err:
        raise ValueError(
            f"rule {spec!r}: cannot import {module!r} ({err}); is its folder on PYTHONPATH?"
        ) from None
    except Exception as err:  # noqa: BLE001 - the user's module raised on import: one line, not a traceback
        raise ValueError(f"rule {spec!r}: importing {module!r} raised {type(err).__name__}: {err}") from None
    try:
        obj = mod
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        raise ValueError(f"rule {spec!r}: module {module!r} has no attribute {attr!r}") from None
    if not isinstance(obj, algorithms.UpdateRule):
        if not callable(obj):
            raise ValueError(f"rule {spec!r} is a {type(obj).__name__}, not an UpdateRule or a factory")
        try:
            obj = obj()
        except Exception as err:  # noqa: BLE001
            raise ValueError(
                f"rule {spec!r}: calling the factory raised {type(err).__name__}: {err}"
            ) from None
        if not isinstance(obj, algorithms.UpdateRule):
            raise ValueError(f"rule {spec!r}: the factory returned a {type(obj).__name__}, not an UpdateRule")
    return obj


def load_rule(source: str):
    """The rule a ``--rules`` item names (a registry name or ``module:attribute``), already checked by
    :func:`resolve_rules`: e.g. again in a worker process."""
    import algorithms

    return _import_rule(source) if ":" in source else algorithms.get(source)


def resolve_rules(
    parser: argparse.ArgumentParser, text: str | None, default: Sequence[str], need: Sequence[str] = ()
) -> list[RuleSpec]:
    """``--rules``: registry names or ``module:attribute`` (an UpdateRule or a zero-argument factory).

    ``need`` lists hyperparameters every rule must take (e.g. ``("eta", "tau")`` for a grid); errors go
    through :func:`fail`.
    """
    import algorithms

    items = list(default) if text is None else [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        fail(parser, f"--rules names no rule; valid names: {', '.join(algorithms.RULES)} or module:attribute")
    specs = []
    for item in items:
        try:
            if ":" in item:
                rule = _import_rule(item)
            elif item in algorithms.RULES:
                rule = algorithms.get(item)
            else:
                raise ValueError(
                    f"unknown rule {item!r}; valid: {', '.join(algorithms.RULES)}, or module:attribute"
                )
        except ValueError as err:
            fail(parser, str(err))
        declared = [h.name for h in rule.hparams]
        missing = [h for h in need if h not in declared]
        if missing:
            fail(
                parser,
                f"rule {rule.name} has no {' x '.join(need)} grid "
                f"(its hyperparameters: {', '.join(declared)})",
            )
        specs.append(RuleSpec(rule, item))
    names = [s.name for s in specs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        fail(parser, f"rule name(s) given twice: {', '.join(twice)}")
    return specs


#: Rules whose ``tau`` is an inverse step size, not a KL weight towards a fixed reference.
TEMPERATURE_RULES = ("iterative_ipo", "iterative_dpo")


def rule_hparams(rule, eta: float, tau: float | None, start_noise: float = 0.0) -> dict[str, float]:
    """The arguments a study passes to ``run``: ``eta``/``tau`` where the rule takes them (iterative IPO/DPO,
    whose only knob is a temperature, get ``tau = 1/eta``, the same step as MWU), and the start noise."""
    names = {h.name for h in rule.hparams}
    if rule.name in TEMPERATURE_RULES:
        hp = {"tau": 1.0 / eta}
    else:
        hp = {k: v for k, v in (("eta", eta), ("tau", tau)) if k in names and v is not None}
    if start_noise:
        hp["start_noise"] = start_noise
    return hp


def effective_hparams(rule, given: dict) -> dict[str, float]:
    """Every hyperparameter of ``rule`` with the value used (defaults filled in, ``start_noise`` included)."""
    hp = {h.name: float(h.default) for h in rule.hparams}
    hp.update({k: v for k, v in given.items()})
    hp.setdefault("start_noise", 0.0)
    return hp


def format_hparams(hp: dict) -> str:
    return ";".join(f"{k}={v:g}" for k, v in sorted(hp.items()) if k != "start_noise" or v)


def study_hparams(
    parser: argparse.ArgumentParser,
    specs: list[RuleSpec],
    game,
    args,
    *,
    grid: dict | None = None,
    exact_too: bool = False,
) -> tuple[list, dict]:
    """The hyperparameters every study passes, checked before any work: ``--eta``/``--tau``/``--start-noise``
    where a rule takes them (:func:`rule_hparams`; a study without ``--eta`` uses the declared defaults),
    then ``--hp`` overrides (:func:`apply_hp`), then each rule's ``init`` on ``game`` (its declared intervals
    and joint checks; with ``grid``, ``name -> values`` of a study's grid axes, at each value) and
    ``--feedback`` (rules that read the whole game run with exact feedback only: dropped with a note from the
    default rule list, an error when named; ``exact_too``: the study runs exact feedback as well, and they
    run there only).

    Returns:
        ``(specs, hps)``: the rules that run and ``name -> {hyperparameter: value}``.
    """
    feedback = getattr(args, "feedback", None)
    if feedback is not None and feedback.stochastic and not exact_too:
        exact_only = [s for s in specs if s.rule.exact_only]
        if exact_only and getattr(args, "rules", None) is not None:
            fail(
                parser,
                f"rule {exact_only[0].name} reads the whole game: exact feedback only, got {feedback.name}",
            )
        if exact_only:
            note(f"{', '.join(s.name for s in exact_only)} skipped: exact feedback only, got {feedback.name}")
            specs = [s for s in specs if not s.rule.exact_only]
    if hasattr(args, "eta"):  # the study's --eta/--tau/--start-noise
        hps = {
            s.name: rule_hparams(
                s.rule, args.eta, getattr(args, "tau", None), getattr(args, "start_noise", 0.0)
            )
            for s in specs
        }
    else:  # each rule's declared defaults
        hps = {s.name: {} for s in specs}
    grid = grid or {}
    apply_hp(parser, specs, hps, getattr(args, "hp", None) or [], fixed=tuple(grid))
    points = (
        [{}]
        if not grid
        else [{k: v[i] for k, v in grid.items()} for i in range(len(next(iter(grid.values()))))]
    )
    for s in specs:  # every rule's hyperparameters and game checks, before anything runs
        for point in points:
            try:
                s.rule.init(game, getattr(args, "seed", 0), **{**hps[s.name], **point})
            except (ValueError, TypeError) as err:
                fail(parser, str(err))
    return specs, hps


def apply_hp(parser: argparse.ArgumentParser, specs, hps: dict, items, fixed: tuple = ()) -> None:
    """``--hp`` items ``(rule or None, name, value)`` into ``hps[spec.name]``: ``name=value`` for every rule
    that declares ``name``, ``rule.name=value`` for that rule (its name or ``--rules`` text). A name no rule
    run declares, an unknown rule, or one of ``fixed`` (a study's own grid axes) is one line, exit 2."""
    for scope, name, value in items:
        if name in fixed:
            fail(
                parser,
                f"--hp {name}: {name} is this study's grid axis ({', '.join(fixed)}); it cannot be fixed",
            )
        scoped = [
            s for s in specs if scope is None or scope in (s.name, s.source)
        ]  # its name or --rules text
        if not scoped:
            fail(parser, f"--hp {scope}.{name}: no rule {scope!r} among the rules run ({_names(specs)})")
        targets = [s for s in scoped if name in _declared(s.rule)]
        if not targets:
            where = f"rule {scope} declares no" if scope is not None else "no rule run declares"
            declared = sorted({h for s in scoped for h in _declared(s.rule)})
            fail(parser, f"--hp {name}: {where} {name!r} (declared: {', '.join(declared) or 'none'})")
        for s in targets:
            hps[s.name][name] = value


def _names(specs) -> str:
    return ", ".join(s.source for s in specs)


def _declared(rule) -> list[str]:
    return [h.name for h in rule.hparams]
