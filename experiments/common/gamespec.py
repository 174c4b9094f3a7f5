"""A library game with arguments or a CSV of comparison records -> the game, its label and metadata."""

from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import re
from dataclasses import dataclass, field
from pathlib import Path

from . import cli


@dataclass
class GameSpec:
    game: object
    label: str  # the CSV's ``game`` column
    meta: dict = field(default_factory=dict)  # metadata.json's ``game`` field


_ARG_SPLIT = re.compile(r",(?=\s*[A-Za-z_]\w*\s*=)")


def _arguments(text: str, rest: str) -> dict:
    """``k=v,k=v`` -> ``{k: literal value or string}``."""
    kwargs = {}
    for part in filter(str.strip, _ARG_SPLIT.split(rest)):
        key, eq, value = part.partition("=")
        if not eq:
            raise ValueError(f"game {text!r}: expected k=v arguments, got {part!r}")
        try:
            kwargs[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            kwargs[key.strip()] = value.strip()
    return kwargs


def library_game(text: str, dtype: str, seed: int):
    """``name`` or ``name:k=v,k=v`` of a game in :mod:`games.library` -> (game, canonical label, meta)."""
    import games

    name, _, rest = text.partition(":")
    name = name.strip()
    makers = {
        n: getattr(games.library, n) for n in games.library.__all__ if callable(getattr(games.library, n))
    }
    if name not in makers:
        raise ValueError(
            f"unknown game {name!r}: give a .json/.npy/.csv file or one of {', '.join(makers)} "
            "(arguments as name:k=v,k=v)"
        )
    kwargs = _arguments(text, rest)
    if "key" in inspect.signature(makers[name]).parameters and "key" not in kwargs:
        kwargs["key"] = seed  # random families: drawn from --seed
    game = _call(makers[name], kwargs, dtype, f"game {name}: unknown argument", f"game {text!r}")
    return game, _label(name, kwargs), {"name": name, "arguments": kwargs}


def _call(fn, kwargs: dict, dtype: str, unknown: str, failed: str):
    """``fn(**kwargs, dtype=dtype)``; ``ValueError`` (``unknown``: what a bad keyword is, ``failed``: what failed)
    for a keyword ``fn`` does not take or when ``fn`` raises."""
    params = inspect.signature(fn).parameters
    bad = [k for k in kwargs if k not in params or k == "dtype"]
    if bad:
        takes = ", ".join(k for k in params if k not in ("dtype", "kw")) or "none"
        raise ValueError(f"{unknown}(s) {', '.join(bad)}; it takes {takes}")
    try:
        return fn(**kwargs, dtype=dtype)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{failed}: {err}") from None


def _label(name: str, kwargs: dict) -> str:
    return name + (":" + ",".join(f"{k}={v}" for k, v in kwargs.items()) if kwargs else "")


_CSV_SPEC = re.compile(r"^(?P<path>.*?\.csv)(?::(?P<options>.*))?$", re.IGNORECASE | re.DOTALL)


def comparisons_game(text: str, dtype: str):
    """``FILE.csv[:k=v,...]`` -> (game, label, meta): :func:`games.from_comparisons` of the file's records."""
    import games

    match = _CSV_SPEC.match(text)
    if match is None:
        raise ValueError(f"--comparisons {text!r}: expected FILE.csv or FILE.csv:k=v,...")
    path, rest = Path(match["path"]), match["options"] or ""
    kwargs = _arguments(text, rest)
    if not path.is_file():
        raise ValueError(f"--comparisons: no such file {str(path)!r}")
    load = functools.partial(games.from_comparisons, path)  # its signature without ``records``
    game = _call(load, kwargs, dtype, "--comparisons: unknown option", f"--comparisons {path.name}")
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return game, _label(path.name, kwargs), {"comparisons": str(path), "sha256": sha, "arguments": kwargs}


#: The games with response features (:func:`games.library.featured_games`) that studies name.
FEATURED = ("paper", "contextual")


def featured(text: str, dtype: str, seed: int) -> GameSpec | None:
    """A :data:`FEATURED` game as a study's own game, the ``named`` lookup of
    :func:`~experiments.common.flags.load_game` (None for any other name)."""
    import games

    if text not in FEATURED:
        return None
    game, feats = games.library.featured_games(seed, dtype=dtype)[text]
    return GameSpec(game, text, {"name": text, "shape": list(game.P.shape), "features": list(feats.shape)})


def features(text: str, dtype: str, seed: int):
    """The response features ``[(C,) n, d]`` of a :data:`FEATURED` game; None for any other ``--games`` item."""
    import games

    return games.library.featured_games(seed, dtype=dtype)[text][1] if text in FEATURED else None


def solved(solver, *args, note: str = ""):
    """``solver(*args)``, or None when it raises :class:`games.SolverError` (then ``note: error`` on stderr,
    given a ``note``)."""
    import games

    try:
        return solver(*args)
    except games.SolverError as err:
        if note:
            cli.note(f"{note}: {err}")
        return None
