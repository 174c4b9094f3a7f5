"""What every study shares: the command line, rule and game specs, the result folder, tidy tables, figures.

Output conventions (each study writes to ``results/<study>/``, ``results/<study>-quick/`` with ``--quick``,
unless ``--out`` says otherwise):

* ``trace.csv`` — tidy/long, one row per (run, recorded step, metric): ``experiment, game, rule``, one numeric
  column per hyperparameter (``start_noise`` included; empty where a rule has no such hyperparameter),
  ``seed, step, oracle_calls, comparisons, finite, metric, value``;
* ``policies.csv`` (studies that record policies) — ``..., step, player, [prompt,] action, probability``;
* ``metadata.json`` — the command, rules, hyperparameters, seed, dtype, steps, record interval, game (name and
  arguments, or file and sha256), package version, git revision and dirty flag, devices, wall time per rule;
* figures as PNG (and PDF for the main figure); a printed summary table.

A run writes into a fresh sibling folder (``.<out>.tmp-<pid>-<random>``) and swaps it into place at the end
(an atomic ``renameat2(RENAME_EXCHANGE)`` on Linux, two renames elsewhere), so an interrupted run leaves the
previous complete folder and no temporary files, and two concurrent runs leave one complete folder.

Every command-line error is one line on stderr and exit code 2, raised before any computation.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import ctypes
import hashlib
import importlib
import inspect
import io
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path

import numpy as np

#: The leading and trailing columns of every ``trace.csv``; hyperparameter columns go in between.
ID_COLUMNS = ("experiment", "game", "rule")
RUN_COLUMNS = ("seed", "step", "oracle_calls", "comparisons", "finite", "metric", "value")
#: Largest accepted ``--seed`` (JAX's raw PRNG keys and NumPy's seed sequences both take it).
MAX_SEED = 2**32 - 1
#: Smallest duality gap each dtype resolves on the sandbox's games (measured: COMAL, MPO and OMWU stall at
#: ~2e-7 in float32, the exact equilibrium stored in float32 has gap ~8e-9; float64 reaches ~1e-16).
DTYPE_FLOOR = {"float64": 1e-15, "float32": 2e-7}
X_AXES = {
    "steps": "step",
    "oracle_calls": "gradient evaluations (oracle calls)",
    "comparisons": "pairwise comparisons",
}


# --- command line -------------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        """Argparse's errors as one line (no usage block), exit code 2, like :func:`fail`."""
        fail(self, f"{message} (see --help)")


def parser(study: str, description: str) -> argparse.ArgumentParser:
    """The flags every study shares: ``--quick --out --seed --dtype --quiet``."""
    p = _Parser(prog=f"python -m experiments.{study}", description=description)
    p.add_argument(
        "--quick", action="store_true", help="a few-second smoke run (fewer steps / smaller batches)"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"output folder, replaced as a whole at the end (default: results/{study}, "
        f"with --quick results/{study}-quick)",
    )
    p.add_argument(
        "--seed",
        type=seed_type,
        default=0,
        help=f"PRNG seed, 0 .. {MAX_SEED} (start noise, random games); default 0",
    )
    p.add_argument(
        "--dtype",
        choices=("float64", "float32"),
        default="float64",
        help="float64 (default; turns on jax_enable_x64) or float32, whose accuracy floor is a gap of about "
        "2e-7 for COMAL, MPO and OMWU (the exact equilibrium stored in float32 has gap ~8e-9)",
    )
    p.add_argument(
        "--quiet", action="store_true", help="no progress bar (it is also off when stderr is no tty)"
    )
    p.set_defaults(study=study)
    return p


def add_rules(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument(
        "--rules",
        default=None,
        help="comma-separated rules: registered names (algorithms.RULES) or module:attribute, an UpdateRule "
        "or a zero-argument factory returning one, importable from PYTHONPATH "
        f"(default: {default})",
    )


def add_game(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument(
        "--game",
        default=None,
        help="a game file (.json, .npy or .csv, read by games.io; .npy/.csv need --game-kind) or a library "
        f"game with arguments, e.g. condorcet_cycle:n=5,p=0.8 (default: {default})",
    )
    p.add_argument(
        "--game-kind",
        choices=("preference", "matrix"),
        default=None,
        help="what a .npy/.csv game file holds: P (preference) or the payoff A (matrix)",
    )


def add_eta_tau(p: argparse.ArgumentParser, eta: float = 0.5, tau: float | None = 0.1) -> None:
    p.add_argument(
        "--eta",
        type=positive("--eta"),
        default=eta,
        help=f"step size eta of every rule that takes one (default {eta:g}; iterative IPO/DPO use tau = 1/eta)",
    )
    if tau is not None:
        p.add_argument(
            "--tau",
            type=positive("--tau"),
            default=tau,
            help=f"KL weight tau towards the reference of the regularized rules and COMAL (default {tau:g})",
        )


def add_start_noise(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--start-noise",
        type=non_negative("--start-noise"),
        default=0.0,
        help="perturbs the start: scale of a Gaussian log-perturbation of the uniform start policy, drawn "
        "from --seed (default 0: start at the uniform policy)",
    )


def add_count(p: argparse.ArgumentParser, flag: str, help_text: str, default: int | None = None) -> None:
    """An integer option ``>= 1`` (``positive_int``); ``default=None`` lets the study pick by ``--quick``."""
    p.add_argument(flag, type=positive_int(flag), default=default, help=help_text)


def add_record_every(p: argparse.ArgumentParser, default: int) -> None:
    add_count(
        p,
        "--record-every",
        f"record the metrics every this many steps, and at step 0 (default {default}); --steps must be a multiple",
        default,
    )


def add_level(p: argparse.ArgumentParser, default: float = 1e-6) -> None:
    p.add_argument(
        "--level",
        type=positive("--level"),
        default=default,
        help=f"gap threshold for 'steps to level' and 'share reaching level' (default {default:g})",
    )


def add_x(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument(
        "--x",
        choices=tuple(X_AXES),
        default=default,
        help=f"x-axis of the curves: steps, oracle_calls (gradient evaluations) or comparisons "
        f"(default {default})",
    )


def fail(parser: argparse.ArgumentParser, message: str):
    """One clear line on stderr, exit code 2."""
    print(f"{parser.prog}: error: {' '.join(str(message).split())}", file=sys.stderr)
    raise SystemExit(2)


def note(message: str) -> None:
    """A one-line note on stderr (not an error; shown with ``--quiet`` too)."""
    print(f"note: {' '.join(str(message).split())}", file=sys.stderr, flush=True)


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


def non_negative(name: str):
    """An argparse type: a finite number >= 0."""

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        if not np.isfinite(v) or v < 0:
            raise argparse.ArgumentTypeError(f"{name} must be a finite number >= 0, got {text!r}")
        return v

    return parse


def seed_type(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seed must be an integer, got {text!r}") from None
    if not 0 <= v <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"--seed must lie in 0 .. {MAX_SEED}, got {text}")
    return v


def check_schedule(parser: argparse.ArgumentParser, steps: int, record_every: int) -> None:
    """``--steps`` must be a multiple of ``--record-every`` (else :func:`fail`)."""
    if steps % record_every:
        fail(parser, f"--steps ({steps}) must be a multiple of --record-every ({record_every})")


def check_level(level: float, dtype: str, what: str = "--level") -> bool:
    """True when ``level`` is resolvable in ``dtype``; otherwise a one-line note and False."""
    if level < DTYPE_FLOOR[dtype]:
        note(
            f"{what} {level:g} is below the {dtype} accuracy floor (a gap of about {DTYPE_FLOOR[dtype]:g}); "
            "runs may never reach it"
        )
        return False
    return True


def setup(args) -> None:
    """Turn on float64 unless ``--dtype float32`` (the sandbox's one switch: ``jax_enable_x64``)."""
    import jax

    jax.config.update("jax_enable_x64", args.dtype == "float64")


def default_out(args) -> Path:
    return (
        args.out
        if args.out is not None
        else Path("results") / (args.study + ("-quick" if args.quick else ""))
    )


_INTERRUPTED = []


def checkpoint() -> None:
    """Raise ``KeyboardInterrupt`` here if Ctrl-C was pressed since :func:`entry` installed its handler."""
    if _INTERRUPTED:
        raise KeyboardInterrupt


def entry(main: Callable[[], int]) -> int:
    """Run a study's ``main`` as a command. Ctrl-C (or SIGTERM) takes effect at the next unit of work (a rule, a
    grid) or before the result folder is swapped in; a second Ctrl-C interrupts at once. Either way the
    unfinished copy is removed, the previous folder stays, and the run ends with one line and exit 130.
    (Deferring matters: a ``KeyboardInterrupt`` raised inside a garbage-collector callback of JAX is swallowed
    and printed as a traceback.)"""

    def on_signal(signum, frame):
        _INTERRUPTED.append(signum)
        signal.signal(signal.SIGINT, signal.default_int_handler)

    with contextlib.suppress(ValueError):  # not in the main thread
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
    try:
        code = main()
        checkpoint()
        return code
    except KeyboardInterrupt:
        print("interrupted: the output folder was left as it was", file=sys.stderr)
        return 130


# --- rules ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleSpec:
    """A rule to run: the object, the text it came from (a registry name or ``module:attribute``)."""

    rule: object
    source: str

    @property
    def name(self) -> str:
        return self.rule.name


def _import_rule(spec: str):
    import algorithms

    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise ValueError(f"rule {spec!r}: expected module:attribute")
    try:
        mod = importlib.import_module(module)
    except ImportError as err:
        raise ValueError(
            f"rule {spec!r}: cannot import {module!r} ({err}); is its folder on PYTHONPATH?"
        ) from None
    except Exception as err:  # noqa: BLE001 - the user's module raised on import: one line, not a traceback
        raise ValueError(f"rule {spec!r}: importing {module!r} raised {type(err).__name__}: {err}") from None
    try:
        obj = mod
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        raise ValueError(f"rule {spec!r}: module {module!r} has no attribute {attr!r}") from None
    if not isinstance(obj, algorithms.UpdateRule):
        if not callable(obj):
            raise ValueError(f"rule {spec!r} is a {type(obj).__name__}, not an UpdateRule or a factory")
        try:
            obj = obj()
        except Exception as err:  # noqa: BLE001
            raise ValueError(
                f"rule {spec!r}: calling the factory raised {type(err).__name__}: {err}"
            ) from None
        if not isinstance(obj, algorithms.UpdateRule):
            raise ValueError(f"rule {spec!r}: the factory returned a {type(obj).__name__}, not an UpdateRule")
    return obj


def resolve_rules(
    parser: argparse.ArgumentParser, text: str | None, default: Sequence[str], need: Sequence[str] = ()
) -> list[RuleSpec]:
    """``--rules``: registry names or ``module:attribute`` (an UpdateRule or a zero-argument factory).

    ``need`` lists hyperparameters every rule must take (e.g. ``("eta", "tau")`` for a grid); errors go
    through :func:`fail`.
    """
    import algorithms

    items = list(default) if text is None else [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        fail(parser, f"--rules names no rule; valid names: {', '.join(algorithms.RULES)} or module:attribute")
    specs = []
    for item in items:
        try:
            if ":" in item:
                rule = _import_rule(item)
            elif item in algorithms.RULES:
                rule = algorithms.get(item)
            else:
                raise ValueError(
                    f"unknown rule {item!r}; valid: {', '.join(algorithms.RULES)}, or module:attribute"
                )
        except ValueError as err:
            fail(parser, str(err))
        declared = [h.name for h in rule.hparams]
        missing = [h for h in need if h not in declared]
        if missing:
            fail(
                parser,
                f"rule {rule.name} has no {' x '.join(need)} grid "
                f"(its hyperparameters: {', '.join(declared)})",
            )
        specs.append(RuleSpec(rule, item))
    names = [s.name for s in specs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        fail(parser, f"rule name(s) given twice: {', '.join(twice)}")
    return specs


#: Rules whose ``tau`` is an inverse step size, not a KL weight towards a fixed reference.
TEMPERATURE_RULES = ("iterative_ipo", "iterative_dpo")


def rule_hparams(rule, eta: float, tau: float | None, start_noise: float = 0.0) -> dict[str, float]:
    """The arguments a study passes to ``run``: ``eta``/``tau`` where the rule takes them (iterative IPO/DPO,
    whose only knob is a temperature, get ``tau = 1/eta``, the same step as MWU), and the start noise."""
    names = {h.name for h in rule.hparams}
    if rule.name in TEMPERATURE_RULES:
        hp = {"tau": 1.0 / eta}
    else:
        hp = {k: v for k, v in (("eta", eta), ("tau", tau)) if k in names and v is not None}
    if start_noise:
        hp["noise"] = start_noise
    return hp


def effective_hparams(rule, given: dict) -> dict[str, float]:
    """Every hyperparameter of ``rule`` with the value used (defaults filled in); ``noise`` -> ``start_noise``."""
    hp = {h.name: float(h.default) for h in rule.hparams}
    hp.update({k: v for k, v in given.items()})
    hp["start_noise"] = hp.pop("noise", 0.0)
    return hp


def format_hparams(hp: dict) -> str:
    return ";".join(f"{k}={v:g}" for k, v in sorted(hp.items()) if k != "start_noise" or v)


# --- games ----------------------------------------------------------------------------------------------------


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


# --- the result folder ----------------------------------------------------------------------------------------


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
    """A result folder replaced as a whole. Created before any computation (so an unwritable ``--out`` fails
    at once); files go to :attr:`path`, a fresh sibling folder; ``with Output(...)`` swaps it into place when
    the block succeeds and deletes it (and only it) when the block raises, Ctrl-C included."""

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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def save_figure(fig, path: Path, dpi: int = 130) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format=path.suffix.lstrip("."), dpi=dpi, bbox_inches="tight")
    return atomic_write(path, buf.getvalue())


def write_frame(path: Path, frame) -> Path:
    """A DataFrame as CSV (floats with full precision, so a read gives the same numbers)."""
    return atomic_write(path, frame.to_csv(index=False, float_format="%.17g", lineterminator="\n"))


def write_csv(path: Path, rows: Iterable[Sequence], header: Sequence[str]) -> Path:
    import csv

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return atomic_write(path, buf.getvalue())


# --- tidy tables ----------------------------------------------------------------------------------------------


def _policies(trace):
    """``[(player, probabilities [*axes, R+1, (C,) n]), ...]``: ``x`` alone in self-play, else ``x`` and ``y``."""
    pol = getattr(trace, "policies", None)
    if pol is None:
        return None
    return [("x", pol.x)] + ([] if pol.y is None else [("y", pol.y)])


def tidy(trace, *, experiment: str, game: str | Sequence[str], rule: str, seed, extra: dict | None = None):
    """The tidy frames of one :func:`algorithms.run` / :func:`algorithms.sweep` trace, built on
    :meth:`algorithms.Trace.to_dataframe` (the one place traces become tables) with the study's labels.

    Args:
        game: a label, or one label per entry of the trace's ``game`` axis.
        rule: the rule's label (its ``--rules`` name).
        seed: the study's seed, used for traces without a ``seed`` axis.
        extra: more metrics ``name -> [*axes, R+1]`` (e.g. computed from the recorded policies), or
            ``[*axes, R+1, C]`` for one value per prompt (a ``prompt`` column).
    Returns:
        ``(metrics, policies)``: DataFrames with the columns of :data:`ID_COLUMNS`, one column per hyperparameter
        (the start's ``noise`` as ``start_noise``), :data:`RUN_COLUMNS` (policies: ``player, [prompt,] action,
        probability`` instead of metric/value); ``policies`` is None when the trace holds none.
    """
    import pandas as pd

    if extra:
        trace = trace._replace(metrics={**trace.metrics, **{k: np.asarray(v) for k, v in extra.items()}})
    df = (
        trace.to_dataframe()
        .drop(columns="feedback")
        .rename(columns={"context": "prompt", "noise": "start_noise"})
    )
    if "game" in trace.axes:
        df["game"] = np.asarray(list(game), dtype=object)[df["game"].to_numpy()]
    else:
        df.insert(0, "game", game)
    if "seed" not in trace.axes:
        df["seed"] = seed
    if df["prompt"].isna().all():
        df = df.drop(columns="prompt")
    df["rule"] = rule
    df.insert(0, "experiment", experiment)
    metric_frame = df

    pol = _policies(trace)
    policy_frame = None
    if pol is not None:
        # one row per (run, step), in the C order of [*axes, R+1]: the rows of the first (aggregate) metric
        first = metric_frame[metric_frame["metric"] == next(iter(trace.metrics))]
        runs = first.drop(columns=["metric", "value", "prompt"], errors="ignore").reset_index(drop=True)
        pframes = []
        for player, p in pol:
            p = np.asarray(p, dtype=np.float64)  # [*axes, R+1, (C,) n]
            per_step = p.reshape(len(runs), -1)
            tail = p.shape[len(trace.axes) + 1 :]
            idx = np.indices(tail).reshape(len(tail), -1)
            cols = runs.loc[np.repeat(np.arange(len(runs)), idx.shape[1])].reset_index(drop=True)
            cols["player"] = player
            if len(tail) == 2:
                cols["prompt"] = np.tile(idx[0], len(runs))
            cols["action"] = np.tile(idx[-1], len(runs))
            cols["probability"] = per_step.reshape(-1)
            pframes.append(cols)
        policy_frame = pd.concat(pframes, ignore_index=True)
    return metric_frame, policy_frame


def combine(frames: Sequence, hp_order: Sequence[str] = ("eta", "tau", "start_noise")):
    """Concatenate tidy frames of several rules into one, hyperparameter columns between the ids and the
    run columns (known ones first, then any a user's rule adds); a rule without a hyperparameter gets NaN."""
    import pandas as pd

    frames = [f for f in frames if f is not None]
    if not frames:
        return None
    df = pd.concat(frames, ignore_index=True)
    fixed = set(ID_COLUMNS) | set(RUN_COLUMNS) | {"prompt", "player", "action", "probability"}
    hps = [c for c in hp_order if c in df.columns] + sorted(
        c for c in df.columns if c not in fixed and c not in hp_order
    )
    tail = [c for c in df.columns if c in fixed and c not in ID_COLUMNS]
    lead = ["prompt"] if "metric" in df.columns else []  # per-prompt metrics: prompt is part of the run's id
    order = [*lead, "seed", "step", "oracle_calls", "comparisons", "finite", "player", "prompt", "action"]
    order = list(dict.fromkeys(order))
    tail = [c for c in order if c in tail] + [c for c in ("metric", "value", "probability") if c in tail]
    return df[[*ID_COLUMNS, *hps, *tail]]


def curve(frame, metric: str, x: str, **where):
    """``(x values, metric values)`` of one run from a tidy frame (selected by column values)."""
    sel = frame["metric"] == metric
    for k, v in where.items():
        sel &= frame[k] == v
    part = frame[sel].sort_values("step")
    return part[x].to_numpy(), part["value"].to_numpy()


# --- metadata -------------------------------------------------------------------------------------------------


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], capture_output=True, text=True, timeout=10, cwd=Path(__file__).parent
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def metadata(args, **fields) -> dict:
    """The explicit fields of ``metadata.json`` every study shares; a study adds its own."""
    import jax

    def version(pkg):
        try:
            return importlib_metadata.version(pkg)
        except importlib_metadata.PackageNotFoundError:
            return None

    status = _git("status", "--porcelain")
    return {
        "study": args.study,
        "command": " ".join([f"python -m experiments.{args.study}", *sys.argv[1:]]),
        "quick": bool(args.quick),
        "seed": args.seed,
        "dtype": args.dtype,
        "feedback": "exact",
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


def rules_meta(specs: Sequence[RuleSpec]) -> list[dict]:
    return [{"name": s.name, "source": s.source} for s in specs]


# --- progress -------------------------------------------------------------------------------------------------


def progress(args, total: int, desc: str, unit: str):
    """An overall tqdm bar on stderr (what runs, done/total, elapsed, ETA); silent when stderr is not a
    terminal or with ``--quiet``. Only reports: results never depend on it."""

    on = not args.quiet and sys.stderr.isatty()
    try:
        width, height = os.get_terminal_size(sys.stderr.fileno()) if on else (0, 0)
    except OSError:
        width, height = 0, 0
    return _Bar(
        total=total,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        disable=not on,
        ncols=None if width else 100,  # a terminal that reports no size (a bare pty) gets 100 x 20
        nrows=None if height else 20,
        dynamic_ncols=bool(width),
        leave=False,
    )


def _bar_class():
    from tqdm.auto import tqdm

    class Bar(tqdm):
        """A tqdm bar whose ``update`` is also where a deferred Ctrl-C takes effect (see :func:`entry`)."""

        def update(self, n=1):
            checkpoint()
            return super().update(n)

    return Bar


def _Bar(**kw):
    return _bar_class()(**kw)


class Timer:
    """Wall time per named unit of work (for metadata.json)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str):
        tic = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - tic, 4)


# --- text and figures -----------------------------------------------------------------------------------------


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


PLOT_FLOOR = 1e-17


def plot_floor(values, floor: float = PLOT_FLOOR):
    """Values for a log-scale axis: exact zeros (and round-off negatives) drawn at ``floor``; data untouched."""
    return np.maximum(np.asarray(values, dtype=np.float64), floor)


#: Families for the figures: (title, how rule labels start). A user's rule that matches none is "other".
FAMILIES = (
    ("no last-iterate convergence", ("mwu", "sppo", "iterative_ipo", "iterative_dpo", "averaged")),
    ("regularized: converge to the τ-equilibrium", ("inpo", "mmd", "nash_md", "egpo")),
    ("exact: last iterate → Nash", ("comal", "mpo", "omwu", "extragradient", "comal_exact")),
)
OTHER = "other rules (yours)"
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)))


def family(label: str) -> str:
    base = label.split("(")[0]
    for title, members in FAMILIES:
        if base in members:
            return title
    return OTHER


def by_family(labels: Sequence[str]) -> dict[str, list[str]]:
    """Labels grouped by family, in the order of :data:`FAMILIES` (then yours), each in the given order."""
    order = [t for t, _ in FAMILIES] + [OTHER]
    groups = {t: [lab for lab in labels if family(lab) == t] for t in order}
    return {t: labs for t, labs in groups.items() if labs}


def styles(labels: Sequence[str]) -> dict[str, dict]:
    """A distinct colour (tab10) and line style per label within its family panel; COMAL drawn thicker."""
    import matplotlib as mpl

    cmap = mpl.colormaps["tab10"]
    out = {}
    for labs in by_family(labels).values():
        for i, lab in enumerate(labs):
            out[lab] = {
                "color": cmap(i % 10),
                "ls": LINESTYLES[i % len(LINESTYLES)],
                "lw": 2.4 if lab.startswith("comal") else 1.5,
            }
    return out


def family_figure(
    labels: Sequence[str], *, width: float = 4.3, height: float = 3.6, suptitle: str = "", sharey: bool = True
):
    """A :class:`matplotlib.figure.Figure` with one panel per family present (shared axes); never touches the
    global backend. Returns ``(fig, {family: ax})``."""
    from matplotlib.figure import Figure

    groups = by_family(labels)
    k = len(groups)
    fig = Figure(figsize=(width * k, height + 1.6), layout="constrained")
    axes = fig.subplots(1, k, sharex=True, sharey=sharey, squeeze=False)[0]
    for ax, title in zip(axes, groups):
        ax.set_title(title, fontsize=10)
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    return fig, dict(zip(groups, axes))


def legend_below(ax, ncol: int = 1, **kw) -> None:
    """The panel's legend under its x-axis label, outside the data."""
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=ncol, fontsize=8, frameon=False, **kw)


def label_x(axes, x: str) -> None:
    for ax in axes:
        ax.set_xlabel(X_AXES[x], fontsize=9)


def reference_legend(fig, handles) -> None:
    """The reference lines' labels, once, under the panels."""
    if handles:
        leg = fig.legend(
            handles=handles, loc="outside lower center", ncol=len(handles), fontsize=8, frameon=False
        )
        leg.set_in_layout(True)


def check_x(parser: argparse.ArgumentParser, x: str) -> None:
    """``--x comparisons`` needs sampled feedback; the studies run with exact feedback, which draws none."""
    if x == "comparisons":
        fail(
            parser,
            "--x comparisons: the studies use exact feedback, which counts no comparisons "
            "(sampled feedback: algorithms.run(..., feedback=games.feedback.sampled(k)))",
        )
