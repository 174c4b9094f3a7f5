"""Load and save games: ``.npy`` (never pickled), ``.json`` and ``.csv``, validated like the constructors.

* ``.npy`` / ``.csv`` hold the matrix alone (``P`` for a preference game, ``A`` for a matrix game; ``.npy`` may
  hold a 3-D contextual stack, ``.csv`` one 2-D game); the kind is an argument of :func:`load`.
* ``.json`` is self-describing: ``{"kind": "preference"|"matrix", "matrix": [...], "weights": [...]|null}``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .core import Game, matrix_game, preference_game

__all__ = ["save", "load", "KINDS"]

KINDS = ("preference", "matrix")
_SUFFIXES = (".npy", ".json", ".csv")


def _suffix(path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in _SUFFIXES:
        raise ValueError(
            f"unsupported file type {suffix!r} for {str(path)!r}; use one of {', '.join(_SUFFIXES)}"
        )
    return suffix


def _matrix(game: Game) -> np.ndarray:
    return np.asarray(game.P if game.preference else game.A, dtype=np.float64)


def save(game: Game, path) -> Path:
    """Write ``game`` to ``path`` (format from the suffix). Written to a temporary name, then renamed."""
    if not isinstance(game, Game):
        raise TypeError(f"save expects a Game, got {type(game).__name__}")
    path = Path(path)
    suffix = _suffix(path)
    M = _matrix(game)
    if suffix == ".csv" and M.ndim != 2:
        raise ValueError("a contextual (3-D) game cannot be written as .csv; use .npy or .json")
    if (
        suffix != ".json"
        and game.contextual
        and not np.allclose(np.asarray(game.weights), 1.0 / M.shape[0], rtol=0, atol=0)
    ):
        raise ValueError("non-uniform prompt weights cannot be stored in .npy; use .json")
    tmp = path.with_name(path.name + ".tmp")
    if suffix == ".npy":
        with open(tmp, "wb") as f:
            np.save(f, M, allow_pickle=False)
    elif suffix == ".csv":
        np.savetxt(tmp, M, delimiter=",", fmt="%.17g")
    else:
        doc = {
            "kind": "preference" if game.preference else "matrix",
            "matrix": M.tolist(),
            "weights": None if game.weights is None else np.asarray(game.weights, np.float64).tolist(),
        }
        tmp.write_text(json.dumps(doc))
    os.replace(tmp, path)
    return path


def load(path, kind: str | None = None, **kw) -> Game:
    """Read a game. ``kind`` ('preference' or 'matrix') is required for .npy/.csv and checked against .json.

    Raises:
        ValueError: unknown suffix or kind, malformed file, or any constructor check (see
            :func:`games.preference_game`).
    """
    path = Path(path)
    suffix = _suffix(path)
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; valid kinds: {', '.join(KINDS)}")
    weights = None
    if suffix == ".npy":
        try:
            M = np.load(path, allow_pickle=False)
        except ValueError as err:
            raise ValueError(f"{path}: not a plain numeric .npy file ({err})") from None
    elif suffix == ".csv":
        try:
            M = np.loadtxt(path, delimiter=",", ndmin=2)
        except ValueError as err:
            raise ValueError(f"{path}: malformed CSV ({err})") from None
    else:
        try:
            doc = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: invalid JSON ({err})") from None
        if not isinstance(doc, dict) or "matrix" not in doc or doc.get("kind") not in KINDS:
            raise ValueError(f"{path}: expected an object with 'kind' in {KINDS} and 'matrix'")
        if kind is not None and kind != doc["kind"]:
            raise ValueError(f"{path} holds a {doc['kind']} game, but kind={kind!r} was asked for")
        kind, M, weights = doc["kind"], doc["matrix"], doc.get("weights")
    if kind is None:
        raise ValueError(f"kind is required for {suffix} files: one of {', '.join(KINDS)}")
    build = preference_game if kind == "preference" else matrix_game
    return build(M, weights, **kw)
