"""How policies learn: update rules as pure JAX functions, one jitted runner, COMAL as a meta-algorithm.

``RULES`` maps each name to its factory; ``get(name, **structure)`` builds a rule (the same arguments return
the same object, so nothing recompiles). Structural options (``inner``, ``inner_steps``) are factory
arguments; numeric hyperparameters (``eta``, ``tau``, ...) go to :func:`run` / :func:`sweep`.
"""

from __future__ import annotations

from collections.abc import Callable

from . import base, conformance, losses, policies, schedules
from .averaging import averaged
from .base import StepSizeWarning, UpdateRule, make_rule
from .comal import comal, comal_exact, m2wu, mpo, nash_prox, regularized_exact
from .loss_based import loss_based
from .mirror import inpo, mmd, nash_md
from .mwu import iterative_dpo, iterative_ipo, mutation_mwu, mwu, sppo
from .optimistic import egpo, extragradient, nash_mp, omwu
from .regret import predictive_rm_plus, regret_matching, rm_plus, swap_mwu
from .runner import METRICS, NonFiniteWarning, Plan, Trace, build_grid, check, run, sweep


def _averaged(inner="mwu", **structure) -> UpdateRule:
    return averaged(get(inner, **structure) if isinstance(inner, str) else inner)


def _comal(inner="inpo", inner_steps: int = 100, **options) -> UpdateRule:
    return comal(get(inner) if isinstance(inner, str) else inner, inner_steps, **options)


#: name -> factory. ``comal`` takes ``inner`` (a name or rule, default ``"inpo"``), ``inner_steps`` (default
#: 100) and the wrapper's options (``reset``, ``beta``, ``until``, ``estimate``); ``averaged`` takes ``inner``
#: (default ``"mwu"``); ``mpo`` and ``nash_prox`` take ``inner_steps``, ``m2wu`` ``update_freq``.
RULES: dict[str, Callable[..., UpdateRule]] = {
    "mwu": mwu,
    "sppo": sppo,
    "iterative_ipo": iterative_ipo,
    "iterative_dpo": iterative_dpo,
    "inpo": inpo,
    "mmd": mmd,
    "nash_md": nash_md,
    "mpo": mpo,
    "omwu": omwu,
    "extragradient": extragradient,
    "egpo": egpo,
    "nash_mp": nash_mp,
    "nash_prox": nash_prox,
    "m2wu": m2wu,
    "comal": _comal,
    "comal_exact": comal_exact,
    "averaged": _averaged,
    # the regret-matching family takes ``alternating`` (False: simultaneous; True: the column player sees the row
    # player's new policy); swap_mwu is Blum-Mansour over MWU (algorithms/regret.py)
    "regret_matching": regret_matching,
    "rm_plus": rm_plus,
    "predictive_rm_plus": predictive_rm_plus,
    "swap_mwu": swap_mwu,
}


def register(name: str, factory: Callable[..., UpdateRule]) -> None:
    """Add a rule to the registry: ``get(name, **structure)`` then calls ``factory(**structure)``.

    ``factory`` must return an :class:`UpdateRule` and should return the same object for the same arguments
    (cache it, e.g. ``functools.cache``), or every run recompiles. A rule object is accepted too.

    Raises:
        TypeError: ``name`` is not a string or ``factory`` is neither a rule nor callable.
        ValueError: ``name`` is empty or not an identifier, or already registered.
    """
    if not isinstance(name, str):
        raise TypeError(f"register: name must be a string, got {name!r}")
    if not name.isidentifier():
        raise ValueError(f"register: name must be a non-empty identifier (letters, digits, _), got {name!r}")
    if name in RULES:
        raise ValueError(f"register: a rule named {name!r} is already registered")
    if isinstance(factory, UpdateRule):
        rule = factory
        factory = lambda: rule  # noqa: E731
    elif not callable(factory):
        raise TypeError(f"register: factory must be callable or an UpdateRule, got {factory!r}")
    RULES[name] = factory


def get(name: str, **structure) -> UpdateRule:
    """The rule registered as ``name``, built with its structural options (ints may be NumPy integers).

    Raises:
        TypeError: ``name`` is not a string.
        ValueError: unknown name (the valid names are listed) or a bad structural option.
    """
    if not isinstance(name, str):
        raise TypeError(f"rule name must be a string, got {name!r}; valid rules: {', '.join(RULES)}")
    if name not in RULES:
        raise ValueError(f"unknown rule {name!r}; valid rules: {', '.join(RULES)}")
    try:
        rule = RULES[name](**structure)
    except TypeError as err:
        raise ValueError(f"rule {name!r}: bad structural options {structure}: {err}") from None
    if not isinstance(rule, UpdateRule):
        raise TypeError(f"rule {name!r}: its factory returned {rule!r}, not an UpdateRule")
    return rule


__all__ = [
    "RULES",
    "METRICS",
    "get",
    "register",
    "build_grid",
    "UpdateRule",
    "make_rule",
    "base",
    "conformance",
    "check",
    "Plan",
    "run",
    "sweep",
    "Trace",
    "NonFiniteWarning",
    "StepSizeWarning",
    "mwu",
    "sppo",
    "iterative_ipo",
    "iterative_dpo",
    "inpo",
    "mmd",
    "nash_md",
    "mpo",
    "omwu",
    "extragradient",
    "egpo",
    "comal",
    "comal_exact",
    "regularized_exact",
    "averaged",
    "nash_mp",
    "nash_prox",
    "m2wu",
    "mutation_mwu",
    "schedules",
    "loss_based",
    "losses",
    "policies",
    "regret_matching",
    "rm_plus",
    "predictive_rm_plus",
    "swap_mwu",
]

from . import sync  # noqa: E402  reference sync as practitioners run it (TR-DPO, hard sync, adaptive KL)

__all__ += ["sync"]
