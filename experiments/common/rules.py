"""The hyperparameters a study records (``metadata.json``) and prints for the rules it ran."""

from __future__ import annotations


def effective_hparams(rule, given: dict) -> dict[str, float]:
    """Every hyperparameter of ``rule`` with the value used (defaults filled in, ``start_noise`` included)."""
    hp = {h.name: float(h.default) for h in rule.hparams}
    hp.update(given)
    hp.setdefault("start_noise", 0.0)
    return hp


def format_hparams(hp: dict) -> str:
    return ";".join(f"{k}={v:g}" for k, v in sorted(hp.items()) if k != "start_noise" or v)
