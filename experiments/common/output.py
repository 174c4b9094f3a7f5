"""The result folder, replaced as a whole (see :mod:`experiments.common`), atomic writes and
``metadata.json``."""

from __future__ import annotations

import argparse
import csv
import ctypes
import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from importlib import metadata as importlib_metadata
from pathlib import Path

import numpy as np

from . import cli
from .cli import checkpoint, fail


def _rename_exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


class Output:
    """A result folder replaced as a whole, created before any computation (an unwritable ``--out`` fails at
    once). Files go to :attr:`path`, a fresh sibling folder that ``with Output(...)`` swaps into place when
    the block succeeds and deletes (it alone) when the block raises, Ctrl-C included."""

    def __init__(self, parser: argparse.ArgumentParser, out: Path):
        self.out = Path(out)
        if self.out.exists() and not self.out.is_dir():
            fail(parser, f"--out {out} exists and is not a folder")
        parent = self.out.absolute().parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            self.path = parent / f".{self.out.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
            self.path.mkdir()
        except OSError as err:
            fail(parser, f"--out {out}: cannot write there ({err.strerror or err})")
        if self.out.exists() and not os.access(self.out, os.W_OK | os.X_OK):
            shutil.rmtree(self.path, ignore_errors=True)
            fail(parser, f"--out {out}: the existing folder cannot be replaced (no write permission)")
        stat = self.path.stat()
        self._identity = (stat.st_dev, stat.st_ino)  # the new folder, recognised at --out after the swap
        cli.FOLDERS.append(self)

    def in_place(self) -> bool:
        """Whether ``out`` is now this run's folder, read from the disk: true as soon as the swap's rename has
        happened, even if a signal interrupted the code right after it."""
        try:
            stat = self.out.stat()
        except OSError:
            return False
        return (stat.st_dev, stat.st_ino) == self._identity

    def __enter__(self) -> Output:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        aside = None
        try:
            if exc_type is None:
                checkpoint()  # interrupted during the last unit of work: keep the previous folder
                aside = self._swap()
        finally:
            for p in (self.path, aside):  # after an exchange, self.path holds the previous folder
                if p is not None and p.exists():
                    shutil.rmtree(p, ignore_errors=True)

    def _swap(self) -> Path | None:
        out, new = self.out, self.path
        for _ in range(100):
            if not out.exists():
                try:
                    os.rename(new, out)
                    return None
                except OSError:
                    continue  # another run put its folder there first: exchange with it
            if _rename_exchange(new, out):
                return None
            aside = out.with_name(f".{out.name}.old-{os.getpid()}-{secrets.token_hex(4)}")
            try:
                os.rename(out, aside)
            except FileNotFoundError:
                continue
            try:
                os.rename(new, out)
                return aside
            except BaseException:
                if not out.exists():
                    os.rename(aside, out)
                else:
                    shutil.rmtree(aside, ignore_errors=True)
                raise
        raise OSError(f"could not move the results into {out}")


def atomic_write(path: Path, data: bytes | str) -> Path:
    """``data`` written to ``path`` through a temporary file: a reader sees the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def save_figure(fig, path: Path, dpi: int = 130, drawn_by: dict[str, str] | None = None) -> Path:
    """``fig`` written atomically to ``path`` (format from the suffix); a PNG carries ``drawn_by`` (the text
    fields of :func:`experiments.common.figures.drawn_by`: which code drew it) in its metadata."""
    buf = io.BytesIO()
    fmt = path.suffix.lstrip(".")
    meta = {"metadata": drawn_by} if drawn_by and fmt == "png" else {}
    fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight", **meta)
    return atomic_write(path, buf.getvalue())


def write_frame(path: Path, frame) -> Path:
    """A DataFrame as CSV (floats with full precision, so a read gives the same numbers)."""
    return atomic_write(path, frame.to_csv(index=False, float_format="%.17g", lineterminator="\n"))


def write_csv(path: Path, rows: Iterable[Sequence], header: Sequence[str]) -> Path:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([header, *rows])
    return atomic_write(path, buf.getvalue())


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], capture_output=True, text=True, timeout=10, cwd=Path(__file__).parent
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def metadata(study: str, command: str, *, quick, seed, dtype, feedback="exact", hp=(), **fields) -> dict:
    """The fields of ``metadata.json`` every study shares; ``command``: the command line that reproduces the
    run (``python -m experiments <study> ...``); ``fields``: what the study adds."""
    import jax

    def version(pkg):
        try:
            return importlib_metadata.version(pkg)
        except importlib_metadata.PackageNotFoundError:
            return None

    status = _git("status", "--porcelain")
    return {
        "study": study,
        "command": command,
        "quick": bool(quick),
        "seed": seed,
        "dtype": dtype,
        "feedback": feedback,
        "hp": [f"{r + '.' if r else ''}{n}={v:g}" for r, n, v in hp],
        **fields,
        "package_version": version("comal-sandbox"),
        "git": {"revision": _git("rev-parse", "HEAD"), "dirty": None if status is None else bool(status)},
        "versions": {p: version(p) for p in ("jax", "jaxlib", "numpy", "scipy", "matplotlib", "pandas")},
        "python": sys.version.split()[0],
        "jax_enable_x64": bool(jax.config.jax_enable_x64),
        "devices": [str(d) for d in jax.devices()],
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write_metadata(path: Path, meta: dict) -> Path:
    """``meta`` as ``path/metadata.json`` (NumPy values as numbers and lists, anything else as text)."""
    text = json.dumps(
        meta, indent=2, default=lambda v: v.tolist() if isinstance(v, np.ndarray | np.generic) else str(v)
    )
    return atomic_write(path / "metadata.json", text + "\n")
