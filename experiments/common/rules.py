"""The hyperparameters a study records (``metadata.json``) and prints for the rules it ran."""

from __future__ import annotations

from .tables import ID_COLUMNS, RUN_COLUMNS


def effective_hparams(rule, given: dict) -> dict[str, float]:
    """Every hyperparameter of ``rule`` with the value used (defaults filled in, ``start_noise`` included)."""
    hp = {h.name: float(h.default) for h in rule.hparams} | given
    return {**hp, "start_noise": hp.get("start_noise", 0.0)}


def hparams_of(frame) -> str:
    """``k=v;...`` of the hyperparameter columns of a run's tidy rows (its first row; NaN: the rule has none)."""
    first = frame.iloc[0]
    skip = (*ID_COLUMNS, *RUN_COLUMNS, "prompt")
    hp = {k: float(first[k]) for k in frame.columns if k not in skip and first[k] == first[k]}
    return ";".join(f"{k}={v:g}" for k, v in sorted(hp.items()) if k != "start_noise" or v)
