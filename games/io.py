"""Load and save games: ``.npy`` (never pickled), ``.json`` and ``.csv``, validated like the constructors.

* ``.npy`` / ``.csv`` hold the matrix alone (``P`` for a preference game, ``A`` for a matrix game; ``.npy`` may
  hold a 3-D contextual stack, ``.csv`` one 2-D game); the kind is an argument of :func:`load`. A ``.npy`` file
  keeps the game's dtype (float32 or float64) as its array dtype; ``.csv`` is written with 17 significant digits
  and loads as JAX's default float.
* ``.json`` is self-describing: ``{"kind": "preference"|"matrix", "matrix": [...], "weights": [...]|null,
  "dtype": "float32"|"float64"}`` (``dtype`` optional on load; no other key is allowed).

``P`` is always computed in float64 from the stored payoff (``P = A + 1/2``), so a float32 game round-trips
(its ``P + P^T = 1`` holds to float64 precision in ``.json``/``.csv``; a float32 ``.npy`` is checked at float32
precision, see :func:`games.preference_game`).

Every file is written by :func:`atomic_write`: a reader sees the old file or the new one, never a mixture.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np

from .core import Game, check_dtype, matrix_game, preference_game

__all__ = ["save", "load", "atomic_write", "KINDS", "JSON_KEYS"]

KINDS = ("preference", "matrix")
#: The keys a game's ``.json`` may hold (``kind`` and ``matrix`` are required).
JSON_KEYS = ("kind", "matrix", "weights", "dtype")
_SUFFIXES = (".npy", ".json", ".csv")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would give a new file


def atomic_write(path, data: bytes | str | Callable[[IO[bytes]], object]) -> Path:
    """Write a file atomically: readers (and a crash) see the old content or the new, never a partial file.

    The data go to a unique temporary file in the same folder (``tempfile.mkstemp``), are flushed and
    ``fsync``-ed, then renamed over ``path`` (``os.replace``, atomic on POSIX and Windows). Concurrent writers
    never share a temporary name; the last rename wins. On any error, ``KeyboardInterrupt`` included, the
    temporary file is removed and the error re-raised; ``path`` is untouched.

    Args:
        path: destination (its folder must exist).
        data: ``bytes``, a ``str`` (written as UTF-8), or a function called with the open binary file, e.g.
            ``lambda f: np.save(f, M)`` or ``lambda f: fig.savefig(f, format="png")``.
    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    Raises:
        TypeError: ``data`` of another type.  OSError: the folder is missing or not writable.

    Example:
        >>> atomic_write("results.json", json.dumps({"gap": 1e-9}))  # doctest: +SKIP
    """
    if not (isinstance(data, (bytes, bytearray, memoryview, str)) or callable(data)):
        raise TypeError(f"data must be bytes, str or a function of a binary file, got {type(data).__name__}")
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            if hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), _FILE_MODE)  # mkstemp creates 0600
            if isinstance(data, str):
                f.write(data.encode("utf-8"))
            elif callable(data):
                data(f)
            else:
                f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        with contextlib.suppress(OSError):
            dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
    return path


def _suffix(path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in _SUFFIXES:
        raise ValueError(
            f"unsupported file type {suffix!r} for {str(path)!r}; use one of {', '.join(_SUFFIXES)}"
        )
    return suffix


def _matrix(game: Game) -> np.ndarray:
    """``P`` (preference) or ``A`` (matrix), in float64: ``P = A + 1/2`` computed from the stored payoff in
    float64, so a float32 game's ``P + P^T = 1`` holds to float64 precision."""
    A = np.asarray(game.A, dtype=np.float64)
    return A + 0.5 if game.preference else A


def save(game: Game, path) -> Path:
    """Write ``game`` to ``path`` (format from the suffix) with :func:`atomic_write`.

    Raises:
        TypeError: not a :class:`Game`.
        ValueError: unknown suffix, a contextual game as ``.csv``, non-uniform
            prompt weights as ``.npy``/``.csv``.
    """
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
    dtype = np.dtype(game.dtype)
    if suffix == ".npy":
        arr = M.astype(dtype)
        return atomic_write(path, lambda f: np.save(f, arr, allow_pickle=False))
    if suffix == ".csv":
        buf = io.StringIO()
        np.savetxt(buf, M, delimiter=",", fmt="%.17g")
        return atomic_write(path, buf.getvalue())
    doc = {
        "kind": "preference" if game.preference else "matrix",
        "matrix": M.tolist(),
        "weights": None if game.weights is None else np.asarray(game.weights, np.float64).tolist(),
        "dtype": dtype.name,
    }
    return atomic_write(path, json.dumps(doc))


def _read_npy(path: Path) -> np.ndarray:
    with open(path, "rb") as f:  # our handle: closed even when np.load fails or finds an archive
        try:
            M = np.load(f, allow_pickle=False)
        except EOFError:
            raise ValueError(f"{path}: empty or truncated .npy file") from None
        except (ValueError, OSError) as err:
            raise ValueError(f"{path}: not a plain numeric .npy file ({err})") from None
        if not isinstance(M, np.ndarray):  # an .npz archive renamed .npy
            raise ValueError(f"{path}: this is an .npz archive, not an .npy array")
    return M


def _read_json(path: Path, kind: str | None):
    with open(path, "rb") as f:
        raw = f.read()
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text ({err})") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: invalid JSON ({err})") from None
    except RecursionError:  # Python's decoder recurses once per level of nesting
        raise ValueError(f"{path}: JSON nested too deeply (a game's matrix has at most 3 levels)") from None
    if not isinstance(doc, dict) or "matrix" not in doc or doc.get("kind") not in KINDS:
        raise ValueError(f"{path}: expected an object with 'kind' in {KINDS} and 'matrix'")
    unknown = sorted(set(doc) - set(JSON_KEYS))
    if unknown:
        raise ValueError(
            f"{path}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(JSON_KEYS)}"
        )
    if kind is not None and kind != doc["kind"]:
        raise ValueError(f"{path} holds a {doc['kind']} game, but kind={kind!r} was asked for")
    dtype = doc.get("dtype")
    if dtype is not None:
        if dtype not in ("float32", "float64"):
            raise ValueError(f"{path}: 'dtype' must be 'float32' or 'float64', got {dtype!r}")
        dtype = np.dtype(dtype)
    return doc["kind"], doc["matrix"], doc.get("weights"), dtype


def load(path, kind: str | None = None, **kw) -> Game:
    """Read a game. ``kind`` ('preference' or 'matrix') is required for .npy/.csv and checked against .json.

    The game gets the dtype recorded in the file (the ``.npy`` array's dtype, the ``.json`` ``dtype`` field)
    unless ``dtype=`` is passed; ``.csv`` and older ``.json`` files load as JAX's default float.

    Raises:
        ValueError: naming the path: unknown suffix or kind, an empty, truncated, non-UTF-8 or malformed file,
            an ``.npz`` archive named ``.npy``, an unknown ``.json`` key, or any constructor check (see
            :func:`games.preference_game`).
        FileNotFoundError: no such file.
    """
    path = Path(path)
    suffix = _suffix(path)
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; valid kinds: {', '.join(KINDS)}")
    weights, dtype = None, None
    if suffix == ".npy":
        M = _read_npy(path)
        if M.dtype in (np.float32, np.float64):
            dtype = M.dtype
    elif suffix == ".csv":
        try:
            with open(path, encoding="utf-8") as f, warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "input contained no data": refused below
                M = np.loadtxt(f, delimiter=",", ndmin=2)
        except UnicodeDecodeError as err:
            raise ValueError(f"{path}: not UTF-8 text ({err})") from None
        except ValueError as err:
            raise ValueError(f"{path}: malformed CSV ({err})") from None
        if M.size == 0:
            raise ValueError(f"{path}: the CSV holds no numbers (an empty file)")
    else:
        kind, M, weights, dtype = _read_json(path, kind)
        if dtype == np.float32 and weights is not None:
            weights = np.asarray(weights, np.float32)  # exact: written from float32; checked at its precision
    if kind is None:
        raise ValueError(f"kind is required for {suffix} files: one of {', '.join(KINDS)}")
    if "dtype" not in kw and dtype is not None:
        kw["dtype"] = check_dtype(dtype)
    build = preference_game if kind == "preference" else matrix_game
    try:
        return build(M, weights, **kw)
    except (ValueError, TypeError) as err:
        raise type(err)(f"{path}: {err}") from None
