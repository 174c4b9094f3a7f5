"""What every study shares: the command line, output files (written atomically), metadata, tidy CSV, tables.

Output conventions (each study writes to ``results/<study>/`` unless ``--out`` says otherwise):

* ``trace.csv`` — tidy/long: ``experiment, game, rule, hparams, seed, step, metric, value`` (pandas-ready);
* ``metadata.json`` — argv, git revision, package versions, the x64 flag, the JAX devices;
* figures as PNG (and PDF for the main figure); a printed summary table.

Every file is written to a temporary name and renamed, so an interrupted run never leaves half a file.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from importlib import metadata as importlib_metadata
from pathlib import Path

import numpy as np

HEADER = ("experiment", "game", "rule", "hparams", "seed", "step", "metric", "value")


def parser(study: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"python -m experiments.{study}", description=description)
    p.add_argument(
        "--quick", action="store_true", help="a few-second smoke run (fewer steps / smaller batches)"
    )
    p.add_argument(
        "--out", type=Path, default=Path("results") / study, help="output folder (default: %(default)s)"
    )
    p.add_argument("--seed", type=int, default=0, help="PRNG seed (start noise, random games); default 0")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64", help="default: float64")
    return p


def setup(args) -> None:
    """Turn on float64 unless ``--dtype float32`` (the sandbox's one switch: ``jax_enable_x64``)."""
    import jax

    jax.config.update("jax_enable_x64", args.dtype == "float64")


def fail(parser: argparse.ArgumentParser, message: str):
    """One clear line on stderr, exit code 2."""
    print(f"{parser.prog}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def positive(name: str, kind: type = float):
    """An argparse type: a finite number > 0 (``kind=int``: an integer >= 1), errors naming ``name``."""

    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{name} must be {what}, got {text!r}") from None
        if not np.isfinite(v) or v <= 0:
            bound = ">= 1" if kind is int else "a finite number > 0"
            raise argparse.ArgumentTypeError(f"{name} must be {bound}, got {text!r}")
        return v

    return parse


def positive_int(name: str):
    """:func:`positive` for integers (>= 1)."""
    return positive(name, int)


def rule_names(parser: argparse.ArgumentParser, text: str | None, default: Sequence[str]) -> list[str]:
    """Comma-separated registry names; an unknown one fails through :func:`fail`, listing the valid ones."""
    import algorithms

    if text is None:
        return list(default)
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [n for n in names if n not in algorithms.RULES]
    if unknown or not names:
        fail(
            parser,
            f"unknown rule(s) {', '.join(unknown) or '(none given)'}; valid: {', '.join(algorithms.RULES)}",
        )
    return names


def check_schedule(parser: argparse.ArgumentParser, steps: int, record_every: int) -> None:
    """``--steps`` must be a multiple of ``--record-every`` (else :func:`fail`)."""
    if steps % record_every:
        fail(parser, f"--steps ({steps}) must be a multiple of --record-every ({record_every})")


#: Rules whose ``tau`` is an inverse step size, not a KL weight towards a fixed reference.
TEMPERATURE_RULES = ("iterative_ipo", "iterative_dpo")


def rule_hparams(rule, eta: float, tau: float) -> dict[str, float]:
    """The study's ``eta``/``tau`` for a rule: ``eta`` and ``tau`` where it takes them; rules whose only knob is
    a temperature (iterative IPO/DPO) get ``tau = 1/eta``, the same step as MWU."""
    names = {h.name for h in rule.hparams}
    if rule.name in TEMPERATURE_RULES:
        return {"tau": 1.0 / eta}
    return {k: v for k, v in (("eta", eta), ("tau", tau)) if k in names}


def format_hparams(hp: dict) -> str:
    return ";".join(f"{k}={v:g}" for k, v in sorted(hp.items()))


# --- files ------------------------------------------------------------------------------------------------------


def atomic_write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
    os.replace(tmp, path)
    return path


def save_figure(fig, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format=path.suffix.lstrip("."), dpi=130, bbox_inches="tight")
    return atomic_write(path, buf.getvalue())


def tidy_rows(
    experiment: str, game: str, rule: str, hp: dict, seed: int, steps, metrics: dict
) -> Iterable[tuple]:
    """Long-format rows for every recorded scalar metric (and vector ones as ``name[i]``)."""
    hps = format_hparams(hp)
    steps = np.asarray(steps)
    for name, values in metrics.items():
        v = np.asarray(values, dtype=np.float64)
        cols = [(name, v)] if v.ndim == 1 else [(f"{name}[{i}]", v[:, i]) for i in range(v.shape[1])]
        for metric, col in cols:
            for s, val in zip(steps, col):
                yield (experiment, game, rule, hps, seed, int(s), metric, repr(float(val)))


def write_csv(path: Path, rows: Iterable[Sequence], header: Sequence[str] = HEADER) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return atomic_write(path, buf.getvalue())


def _git_revision() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            cwd=Path(__file__).parent,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def write_metadata(out: Path, extra: dict | None = None) -> Path:
    import jax

    versions = {}
    for pkg in ("comal-sandbox", "jax", "jaxlib", "numpy", "scipy", "matplotlib"):
        try:
            versions[pkg] = importlib_metadata.version(pkg)
        except importlib_metadata.PackageNotFoundError:
            versions[pkg] = None
    meta = {
        "argv": sys.argv,
        "git_revision": _git_revision(),
        "versions": versions,
        "python": sys.version.split()[0],
        "jax_enable_x64": bool(jax.config.jax_enable_x64),
        "jax_devices": [str(d) for d in jax.devices()],
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **(extra or {}),
    }
    return atomic_write(out / "metadata.json", json.dumps(meta, indent=2, default=str))


def table(rows: Sequence[Sequence], header: Sequence[str]) -> str:
    """A plain aligned text table (also valid Markdown)."""
    cells = [list(map(str, header))] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"
    return "\n".join(
        [line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in cells[1:]]
    )


def first_below(steps, gaps, level: float) -> np.ndarray:
    """First recorded step from which ``gaps <= level`` holds to the end, along the last axis; NaN for never."""
    ok = np.asarray(gaps) <= level
    stays = np.flip(np.cumprod(np.flip(ok, -1), -1), -1).astype(bool)
    return np.where(stays[..., -1], np.asarray(steps)[np.argmax(stays, axis=-1)], np.nan)


def steps_to(steps, gap, level: float) -> str:
    """:func:`first_below` of one curve as text: the step, or ``never``."""
    first = float(first_below(steps, gap, level))
    return "never" if np.isnan(first) else str(int(first))


def plot_floor(values, floor: float = 1e-17):
    """Values for a log-scale axis: exact zeros (and round-off negatives) drawn at ``floor``; data untouched."""
    return np.maximum(np.asarray(values, dtype=np.float64), floor)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
