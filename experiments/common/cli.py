"""The command line every study shares: argparse types, one-line errors (exit 2), Ctrl-C/SIGTERM handling."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import Callable

import numpy as np

#: Largest accepted ``--seed`` (JAX's raw PRNG keys and NumPy's seed sequences both take it).
MAX_SEED = 2**32 - 1
X_AXES = {
    "steps": "step",
    "oracle_calls": "gradient evaluations (oracle calls)",
    "comparisons": "pairwise comparisons",
}


def run_seeds(seed: int, n: int) -> list[int]:
    """The seeds of a study's ``n`` seeded runs, drawn from its ``--seed`` (NumPy's ``SeedSequence``): the same
    ``n`` run seeds in every study."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(n)]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line (no usage block), exit code 2, like fail()
        fail(self, f"{message} (see --help)")


def fail(parser: argparse.ArgumentParser, message: str):
    """One clear line on stderr, exit code 2."""
    print(f"{parser.prog}: error: {' '.join(str(message).split())}", file=sys.stderr)
    raise SystemExit(2)


def note(message: str) -> None:
    """A one-line note on stderr (not an error; shown with ``--quiet`` too)."""
    print(f"note: {' '.join(str(message).split())}", file=sys.stderr, flush=True)


def positive(name: str, kind: type = float):
    """An argparse type: a finite number > 0 (``kind=int``: an integer >= 1), errors naming ``name``."""

    def parse(text):
        text = str(text)  # a default given as a number is parsed as text too: 2.5 is no integer
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
    return positive(name, int)


def seed_type(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seed must be an integer, got {text!r}") from None
    if not 0 <= v <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"--seed must lie in 0 .. {MAX_SEED}, got {text}")
    return v


def setup(args) -> None:
    """Turn on float64 unless ``--dtype float32`` (the sandbox's one switch: ``jax_enable_x64``)."""
    import jax

    jax.config.update("jax_enable_x64", args.dtype == "float64")


_INTERRUPTED = []
#: The result folders of this run (:class:`experiments.common.output.Output` registers itself), so that the
#: interrupt message can say what is on disk.
FOLDERS: list = []


def checkpoint() -> None:
    """Raise ``KeyboardInterrupt`` here if Ctrl-C was pressed since :func:`entry` installed its handler."""
    if _INTERRUPTED:
        raise KeyboardInterrupt


def entry(main: Callable[[], int]) -> int:
    """Run a study's ``main`` as a command. Ctrl-C (or SIGTERM) takes effect at the next unit of work or before
    the result folder is swapped in (a second Ctrl-C at once; deferring matters: a ``KeyboardInterrupt`` raised
    in a garbage-collector callback of JAX is swallowed); the run ends with one line and exit 128 + signal."""

    def on_signal(signum, frame):
        _INTERRUPTED.append(signum)
        signal.signal(signal.SIGINT, signal.default_int_handler)

    with contextlib.suppress(ValueError):  # not in the main thread
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
    FOLDERS.clear()
    try:
        code = main()
        checkpoint()
        return code
    except KeyboardInterrupt:
        if done := ", ".join(f"{f.out}/" for f in FOLDERS if f.in_place()):  # the signal came after the swap
            print(
                f"interrupted after the results were complete: {done} holds the new folder", file=sys.stderr
            )
        else:
            print("interrupted: the output folder was left as it was", file=sys.stderr)
        return 128 + (_INTERRUPTED[0] if _INTERRUPTED else signal.SIGINT)


def feedback_type(text: str):
    """An argparse type: ``exact``, ``sampled:K`` or ``noisy:SIGMA`` -> a :class:`games.feedback.Feedback`."""
    import games

    kind, sep, value = text.strip().partition(":")
    try:
        if kind == "exact" and not sep:
            return games.feedback.exact()
        if kind == "sampled" and sep and int(value) >= 1:
            return games.feedback.sampled(int(value))
        if kind == "noisy" and sep and np.isfinite(float(value)) and float(value) > 0:
            return games.feedback.noisy(float(value))
    except ValueError:
        pass
    what = "--feedback must be exact, sampled:K (an integer K >= 1) or noisy:SIGMA (a number > 0)"
    raise argparse.ArgumentTypeError(f"{what}, got {text!r}")


def feedback_spec(feedback) -> str:
    """A :class:`games.feedback.Feedback` as the ``--feedback`` text that gives it (``sampled:64``)."""
    if feedback.kind == "sampled":
        return f"sampled:{feedback.samples}"
    return f"noisy:{feedback.sigma:g}" if feedback.kind == "noisy" else "exact"


def hp_type(text: str) -> tuple[str | None, str, float]:
    """An argparse type: ``name=value`` or ``rule.name=value`` -> ``(rule or None, name, value)``."""
    key, sep, value = text.partition("=")
    scope, dot, name = (key := key.strip()).rpartition(".")
    if not sep or not name.isidentifier() or (dot and not scope):
        raise argparse.ArgumentTypeError(f"--hp must be name=value or rule.name=value, got {text!r}")
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--hp {key}: the value must be a number, got {value!r}") from None
    return (scope or None), name, v
