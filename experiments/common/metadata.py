"""``metadata.json``: command, versions, git revision, devices, and what each study adds."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from importlib import metadata as importlib_metadata
from pathlib import Path

import numpy as np

from .output import atomic_write


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], capture_output=True, text=True, timeout=10, cwd=Path(__file__).parent
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def metadata(study: str, *, quick, seed, dtype, feedback="exact", hp=(), **fields) -> dict:
    """The fields of ``metadata.json`` every study shares; ``fields``: what the study adds."""
    import jax

    def version(pkg):
        try:
            return importlib_metadata.version(pkg)
        except importlib_metadata.PackageNotFoundError:
            return None

    status = _git("status", "--porcelain")
    return {
        "study": study,
        "command": " ".join([f"python -m experiments.{study}", *sys.argv[1:]]),
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
    return atomic_write(path / "metadata.json", json.dumps(meta, indent=2, default=_json_default) + "\n")


def _json_default(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return str(v)
