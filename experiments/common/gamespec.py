"""``--game``/``--game-kind``: a game file or a library game with arguments -> the game, its label and metadata."""

from __future__ import annotations

import argparse
import ast
import hashlib
import inspect
import re
from dataclasses import dataclass, field
from pathlib import Path

from .cli import fail


@dataclass
class GameSpec:
    game: object
    label: str  # the CSV's ``game`` column
    meta: dict = field(default_factory=dict)  # metadata.json's ``game`` field


_ARG_SPLIT = re.compile(r",(?=\s*[A-Za-z_]\w*\s*=)")


def _parse_value(text: str):
    text = text.strip()
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


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
    kwargs = {}
    for part in filter(str.strip, _ARG_SPLIT.split(rest)) if rest.strip() else ():
        key, eq, value = part.partition("=")
        if not eq:
            raise ValueError(f"game {text!r}: expected k=v arguments, got {part!r}")
        kwargs[key.strip()] = _parse_value(value)
    fn = makers[name]
    params = inspect.signature(fn).parameters
    if "key" in params and "key" not in kwargs:
        kwargs["key"] = seed  # random families: drawn from --seed
    unknown = [k for k in kwargs if k not in params or k == "dtype"]
    if unknown:
        takes = [k for k in params if k not in ("kw", "dtype")]
        raise ValueError(
            f"game {name}: unknown argument(s) {', '.join(unknown)}; it takes {', '.join(takes) or 'none'}"
        )
    try:
        game = fn(**kwargs, dtype=dtype)
    except (TypeError, ValueError) as err:
        raise ValueError(f"game {text!r}: {err}") from None
    label = name + (":" + ",".join(f"{k}={v}" for k, v in kwargs.items()) if kwargs else "")
    return game, label, {"name": name, "arguments": kwargs}


def resolve_game(
    parser: argparse.ArgumentParser, text: str | None, kind: str | None, default: str, dtype: str, seed: int
) -> GameSpec:
    """``--game``/``--game-kind``: a file read by :func:`games.io.load` or a library game; errors via :func:`fail`."""
    import games

    text = default if text is None else text
    path = Path(text)
    try:
        if path.suffix.lower() in (".json", ".npy", ".csv"):
            if not path.is_file():
                raise ValueError(f"--game: no such file {text!r}")
            if path.suffix.lower() != ".json" and kind is None:
                raise ValueError(f"--game {text}: a {path.suffix} file needs --game-kind preference|matrix")
            game = games.io.load(path, kind, dtype=dtype)
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            return GameSpec(game, path.name, {"file": str(path), "sha256": sha, "kind": kind})
        if kind is not None:
            raise ValueError("--game-kind applies to .npy/.csv game files only")
        game, label, meta = library_game(text, dtype, seed)
        return GameSpec(game, label, meta)
    except (ValueError, TypeError, OSError) as err:
        fail(parser, str(err))
