"""``--rules``: registry names or ``module:attribute`` -> the rules to run, with their hyperparameters."""

from __future__ import annotations

import importlib


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
