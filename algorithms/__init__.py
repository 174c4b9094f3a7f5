"""How policies learn: update rules as pure JAX functions, one jitted runner, COMAL as a meta-algorithm.

``RULES`` maps each name to its factory; ``get(name, **structure)`` builds a rule (the same arguments return
the same object, so nothing recompiles). Structural options (``inner``, ``inner_steps``) are factory
arguments; numeric hyperparameters (``eta``, ``tau``, ...) go to :func:`run` / :func:`sweep`.
"""

from __future__ import annotations

from collections.abc import Callable

from . import base, conformance
from .averaging import averaged
from .base import UpdateRule, make_rule
from .comal import comal, comal_exact, mpo
from .mirror import inpo, mmd, nash_md
from .mwu import iterative_dpo, iterative_ipo, mwu, sppo
from .optimistic import egpo, extragradient, omwu
from .runner import NonFiniteWarning, Trace, run, sweep


def _averaged(inner="mwu", **structure) -> UpdateRule:
    return averaged(get(inner, **structure) if isinstance(inner, str) else inner)


def _comal(inner="inpo", inner_steps: int = 100) -> UpdateRule:
    return comal(get(inner) if isinstance(inner, str) else inner, inner_steps)


#: name -> factory. ``comal`` takes ``inner`` (a name or rule, default ``"inpo"``) and ``inner_steps``
#: (default 100); ``averaged`` takes ``inner`` (default ``"mwu"``); ``mpo`` takes ``inner_steps``.
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
    "comal": _comal,
    "comal_exact": comal_exact,
    "averaged": _averaged,
}


def get(name: str, **structure) -> UpdateRule:
    """The rule registered as ``name``, built with its structural options.

    Raises:
        ValueError: unknown name (the valid names are listed) or a bad structural option.
    """
    if name not in RULES:
        raise ValueError(f"unknown rule {name!r}; valid rules: {', '.join(RULES)}")
    try:
        return RULES[name](**structure)
    except TypeError as err:
        raise ValueError(f"rule {name!r}: bad structural options {structure}: {err}") from None


__all__ = [
    "RULES",
    "get",
    "UpdateRule",
    "make_rule",
    "base",
    "conformance",
    "run",
    "sweep",
    "Trace",
    "NonFiniteWarning",
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
    "averaged",
]
