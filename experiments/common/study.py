"""One study shell: a study is a declaration, :func:`main` does everything else.

A study declares

* ``Config``, a frozen dataclass: each field is one command-line flag (``--name-with-dashes``), made with
  :func:`option` (its own knobs) or one of the shared makers (:func:`rules`, :func:`games`, :func:`feedback`,
  :func:`hp`, :func:`schedules`, :func:`seeds`, :func:`steps`, :func:`x_axis`, :func:`jobs`);
* ``units(config)``: the independent pieces of work, ``[(key, args), ...]``, longest first;
* ``simulate(config, *args)``: one unit (a module-level function: it may run in a worker process), returning
  ``{table name: tidy DataFrame}``;
* ``report(config, tables, folder)``: the summary tables, figures and printed lines, from the combined tables
  alone (so a committed run can be re-reported); returns extra ``metadata.json`` fields.

and :func:`main` owns the rest: the flags (the same user-facing flags in every study, each taken or refused
with the study's reason, ``allow_abbrev=False``), one-line errors with exit 2 before any work, float64, the
persistent compilation cache, the result folder (atomic; an interrupt leaves the previous one), progress,
worker processes, the CSVs (``<table>.csv``), and ``metadata.json``.

Shared flags that a study's ``Config`` does not declare are refused: given, they are one line naming the
reason in :attr:`Study.refuses` (or that the study has no such axis).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib
import importlib.util
import os
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from . import cli, metadata, output, progress

#: The user-facing flags every study lists: taken (a ``Config`` field of that name) or refused with a reason.
SHARED = ("rules", "games", "comparisons", "feedback", "hp", "schedules", "seeds", "steps", "x", "jobs")
#: What a refused shared flag says when the study gives no reason of its own.
AXIS = {
    "rules": "this study's rules are part of its design",
    "games": "this study's games are part of its design",
    "comparisons": "this study's games are part of its design",
    "feedback": "this study fixes what the learner observes",
    "hp": "this study fixes its hyperparameters",
    "schedules": "this study has no schedule axis",
    "seeds": "this study is deterministic (one run per configuration)",
    "steps": "this study fixes its run length",
    "x": "this study's cost axis is fixed",
    "jobs": "this study runs in one process",
}
#: Where the persistent compilation cache lives (``--no-compile-cache`` or ``COMAL_COMPILE_CACHE=0``: off).
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "comal-sandbox" / "jax"


def option(default, help: str, *, quick=None, parse: Callable | None = None, choices=None, flag=None):
    """A ``Config`` field that is a flag. ``default`` and ``quick`` (the value under ``--quick``) are given as
    the command line would give them (text, or a number/bool); ``parse(text) -> value`` converts and checks
    (raise ``ValueError`` naming the flag); ``bool`` fields are switches."""
    meta = {"help": help, "quick": quick, "parse": parse, "choices": choices, "flag": flag}
    return dataclasses.field(default=default, metadata=meta)


def _count(name: str):
    return lambda text: cli.positive_int(f"--{name}")(str(text))


def _number(name: str):
    return lambda text: cli.positive(f"--{name}")(str(text))


def _listing(text) -> tuple[str, ...]:
    """Comma-separated items; a comma before ``k=`` belongs to the item (``random_preference:n=5,kind=x``) and
    commas inside brackets to a wrapper (``comal(averaged(mwu))``)."""
    items, depth, cur = [], 0, ""
    for i, ch in enumerate(str(text)):
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0 and not re.match(r"\s*[A-Za-z_]\w*\s*=", str(text)[i + 1 :]):
            items.append(cur)
            cur = ""
        else:
            cur += ch
    items = [t.strip() for t in [*items, cur] if t.strip()]
    return tuple(dict.fromkeys(items))


def rules(default: str, help: str = "", *, quick=None):
    """``--rules``: comma-separated registered names, ``module:attribute`` (an UpdateRule or a zero-argument
    factory) and wrappers of either, ``comal(NAME)`` / ``averaged(NAME)``; each is checked now (imported and
    built) and kept as its text (:func:`load_rule` builds it again in a worker)."""

    def parse(text):
        items = _listing(text)
        if not items:
            raise ValueError("--rules names no rule")
        if items == ("all",):
            import algorithms

            items = tuple(algorithms.RULES)
        for item in items:
            load_rule(item)
        return items

    return option(
        default,
        (help + "; " if help else "") + "registered names (algorithms.RULES), module:attribute, or a "
        "wrapper of either: comal(NAME), averaged(NAME)" + (f" (--quick: {quick})" if quick else ""),
        quick=quick,
        parse=parse,
    )


@functools.cache
def load_rule(text: str):
    """The rule a ``--rules`` item names; ``ValueError`` naming it when it cannot be built."""
    import algorithms

    from .rules import _import_rule

    match = re.fullmatch(r"\s*([A-Za-z_]\w*)\((.*)\)\s*", text)
    if match:
        wrapper, inner = match.groups()
        if wrapper not in ("comal", "averaged"):
            raise ValueError(f"rule {text!r}: unknown wrapper {wrapper!r}; valid: comal(...), averaged(...)")
        return algorithms.get(wrapper, inner=load_rule(inner))
    if ":" in text:
        return _import_rule(text.strip())
    return algorithms.get(text.strip())


def games(default: str, help: str = "", *, named: Sequence[str] = (), quick=None):
    """``--games`` (``--game`` too): comma-separated ``named`` games of the study, library games
    (``condorcet_cycle:n=5,p=0.8``), game files (.json; .npy/.csv as ``FILE:kind=preference``) or
    ``module:attribute`` (a Game or a zero-argument factory of one)."""

    def parse(text):
        items = _listing(text)
        if not items:
            raise ValueError("--games names no game")
        return items

    known = f"this study's {', '.join(named)}, " if named else ""
    return option(
        default,
        (help + "; " if help else "")
        + f"{known}a library game with arguments (condorcet_cycle:n=5,p=0.8), a game file, or module:attribute"
        + (f" (--quick: {quick})" if quick else ""),
        quick=quick,
        parse=parse,
        flag=("--games", "--game"),
    )


@functools.cache
def load_game(text: str, dtype: str, seed: int, named: Callable | None = None):
    """The :class:`~experiments.common.gamespec.GameSpec` a ``--games`` item names: ``named(text, dtype, seed)``
    first (a study's own games; it returns None for a name it does not know), then a ``.csv`` of comparison
    records given with ``--comparisons`` (``comparisons:FILE.csv[:k=v]``), a game file
    (``FILE.npy:kind=preference``; ``.json`` needs no kind), ``module:attribute`` or a library game."""
    import games as G

    from .gamespec import GameSpec, comparisons_game, library_game

    if named is not None and (spec := named(text, dtype, seed)) is not None:
        return spec
    if text.startswith("comparisons:"):
        return GameSpec(*comparisons_game(text[len("comparisons:") :], dtype))
    path, _, kind = text.partition(":kind=")
    if Path(path).suffix.lower() in (".json", ".npy", ".csv"):
        if not Path(path).is_file():
            raise ValueError(f"--games: no such file {path!r}")
        if Path(path).suffix.lower() != ".json" and kind not in ("preference", "matrix"):
            raise ValueError(f"--games {text}: a .npy/.csv game file needs :kind=preference or :kind=matrix")
        game = G.io.load(path, kind or None, dtype=dtype)
        return GameSpec(game, Path(path).name, {"file": path, "kind": kind or None})
    if ":" in text and text.partition(":")[0].strip() not in G.library.__all__:
        obj = load_object(text, "--games")
        game = obj if isinstance(obj, G.Game) else obj() if callable(obj) else obj
        if not isinstance(game, G.Game):
            raise ValueError(
                f"--games {text!r} is a {type(game).__name__}, not a games.Game or a factory of one"
            )
        if str(game.dtype) != dtype:
            raise ValueError(f"--games {text!r}: the game is {game.dtype}, the study runs in {dtype}")
        return GameSpec(game, text, {"source": text})
    return GameSpec(*library_game(text, dtype, seed))


def game_items(config) -> tuple[str, ...]:
    """The ``--games`` items of ``config`` and its ``--comparisons`` file (as ``comparisons:FILE``), in order."""
    extra = (f"comparisons:{config.comparisons}",) if getattr(config, "comparisons", None) else ()
    return (*getattr(config, "games", ()), *extra)


def comparisons(help: str = ""):
    """``--comparisons FILE.csv[:k=v,...]``: a game made from comparison records (:func:`games.from_comparisons`)."""
    return option(
        None,
        (help + "; " if help else "")
        + "a CSV of pairwise comparisons made into a game by games.from_comparisons (options after a colon: "
        "missing=tie|bradley_terry|worst_case, kind=rates|margins, ...)",
    )


def feedback(default: str = "exact", help: str = ""):
    """``--feedback``: ``exact``, ``sampled:K`` or ``noisy:SIGMA``, kept as its canonical text."""

    def parse(text):
        try:
            return cli.feedback_spec(cli.feedback_type(str(text)))
        except argparse.ArgumentTypeError as err:
            raise ValueError(str(err)) from None

    return option(
        default,
        (help + "; " if help else "") + "exact, sampled:K (K judged duels per action per evaluation) or "
        f"noisy:SIGMA (Gaussian noise on every gradient entry); default {default}",
        parse=parse,
    )


def hp(help: str = ""):
    """``--hp [RULE.]NAME=VALUE`` (repeatable): a declared hyperparameter, checked against the rule later."""

    def parse(items):
        out = []
        for t in items or ():
            try:
                out.append(cli.hp_type(t) if isinstance(t, str) else tuple(t))
            except argparse.ArgumentTypeError as err:
                raise ValueError(str(err)) from None
        return tuple(out)

    return option(
        (),
        (help + "; " if help else "") + "set a declared hyperparameter: name=value for every rule that "
        "declares it, rule.name=value for one rule (repeatable; checked against the declared interval)",
        parse=parse,
    )


def schedules(default: str, help: str = "", *, named: Sequence[str] = (), quick=None):
    """``--schedules``: comma-separated ``named`` schedules of the study or ``module:attribute``."""

    def parse(text):
        items = _listing(text)
        if not items:
            raise ValueError("--schedules names no schedule")
        for item in items:
            if ":" not in item and item not in named:
                raise ValueError(
                    f"--schedules: unknown {item!r}; valid: {', '.join(named)}, or module:attribute"
                )
            if ":" in item:
                load_object(item, "--schedules")
        return items

    return option(
        default,
        (help + "; " if help else "") + f"{', '.join(named)}, or module:attribute (a schedule: a function "
        "of the step count)" + (f" (--quick: {quick})" if quick else ""),
        quick=quick,
        parse=parse,
    )


@functools.cache
def load_object(text: str, flag: str):
    """``module:attribute`` -> the object; ``ValueError`` naming ``flag`` when it cannot be imported."""
    module, _, attr = text.partition(":")
    try:
        obj = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except Exception as err:  # noqa: BLE001 - the user's module: one line, not a traceback
        raise ValueError(f"{flag} {text!r}: cannot import it ({type(err).__name__}: {err})") from None
    return obj


def seeds(default: int, help: str = "", *, quick=None, least: int = 1):
    """``--seeds N``: the number of seeded runs (:func:`experiments.common.cli.run_seeds`), at least ``least``."""

    def parse(text):
        n = _count("seeds")(text)
        if n < least:
            raise ValueError(f"--seeds must be >= {least} (a 95 % bootstrap interval over seeds), got {n}")
        if n > 100_000:
            raise ValueError(f"--seeds must be <= 100000, got {n}")
        return n

    return option(
        default, help or f"seeded runs per configuration (default {default})", quick=quick, parse=parse
    )


def steps(default: int, help: str = "", *, quick=None):
    """``--steps N``: iterations per run."""
    return option(
        default, help or f"iterations per run (default {default})", quick=quick, parse=_count("steps")
    )


def x_axis(default: str, help: str = "x-axis of the curves"):
    """``--x``: what a study's cost is counted in."""
    return option(
        default, f"{help}: steps, oracle_calls or comparisons (default {default})", choices=tuple(cli.X_AXES)
    )


def jobs(default: int | None = None):
    """``--jobs N``: worker processes; results do not depend on it."""
    default = default or min(2, os.cpu_count() or 1)
    return option(
        default, f"worker processes (default {default}); results do not depend on it", parse=_count("jobs")
    )


def hparams(config, rule) -> dict[str, float]:
    """The ``--hp`` values that apply to ``rule`` (``name=value`` where it declares ``name``; ``rule.name=value``
    where ``rule`` is its name)."""
    declared = {h.name for h in rule.hparams}
    return {n: v for scope, n, v in getattr(config, "hp", ()) if n in declared and scope in (None, rule.name)}


def check_rules(config, game, feedback) -> tuple[str, ...]:
    """``--rules`` and ``--hp`` against ``game`` and ``feedback``, before any work: every ``--hp`` item names a
    rule run and a hyperparameter it declares, each rule's ``init`` accepts its values on ``game`` (declared
    intervals, joint checks); rules that read the whole game need exact feedback. Returns the rules that run:
    under stochastic feedback the whole-game rules are dropped with a note from the default list."""
    names = {t: load_rule(t).name for t in config.rules}
    for scope, n, _ in getattr(config, "hp", ()):
        scoped = [t for t in config.rules if scope is None or scope in (t, names[t])]
        if not scoped:
            raise ValueError(
                f"--hp {scope}.{n}: no rule {scope!r} among the rules run ({', '.join(config.rules)})"
            )
        if not any(n in {h.name for h in load_rule(t).hparams} for t in scoped):
            raise ValueError(f"--hp {n}: no rule run declares {n!r}")
    kept = []
    for t in config.rules:
        rule = load_rule(t)
        if rule.exact_only and feedback.stochastic:
            if len(config.rules) == 1:
                raise ValueError(
                    f"rule {rule.name} reads the whole game: exact feedback only, got {feedback.name}"
                )
            cli.note(
                f"{rule.name} skipped: it reads the whole game (exact feedback only), got {feedback.name}"
            )
            continue
        rule.init(game, config.seed, **hparams(config, rule))
        kept.append(t)
    return tuple(kept)


@dataclasses.dataclass(frozen=True)
class Base:
    """The flags of every study: ``--quick --out --seed --dtype --quiet --no-compile-cache``."""

    quick: bool = option(False, "a small smoke run (fewer steps, seeds and rules)")
    out: str = option(None, "output folder, replaced as a whole at the end (default results/<study>[-quick])")
    seed: int = option(
        0, f"the study's seed, 0 .. {cli.MAX_SEED}: every random draw follows from it", parse=None
    )
    dtype: str = option("float64", "float64 (default) or float32", choices=("float64", "float32"))
    quiet: bool = option(False, "no progress bar (it is also off when stderr is no terminal)")
    no_compile_cache: bool = option(False, f"do not use JAX's persistent compilation cache ({CACHE_DIR})")


@dataclasses.dataclass(frozen=True)
class Study:
    """A study: its name, one-line description, ``Config`` (a :class:`Base` subclass), ``units``, ``simulate``
    and ``report`` (see the module docstring); ``refuses``: shared flag -> why this study does not take it;
    ``prepare(config) -> config``: cross-flag checks and resolution before any work (raise ``ValueError``)."""

    name: str
    description: str
    Config: type
    units: Callable
    simulate: Callable
    report: Callable
    prepare: Callable | None = None
    refuses: Mapping[str, str] = dataclasses.field(default_factory=dict)


def parser(study: Study) -> argparse.ArgumentParser:
    """The study's parser: every ``Config`` field, then every shared flag the ``Config`` lacks (refused)."""
    p = cli._Parser(
        prog=f"python -m experiments {study.name}", description=study.description, allow_abbrev=False
    )
    fields = {f.name: f for f in dataclasses.fields(study.Config)}
    for f in fields.values():
        m = f.metadata
        names = m.get("flag") or (f"--{f.name.replace('_', '-')}",)
        names = (names,) if isinstance(names, str) else names
        if f.type in (bool, "bool"):
            p.add_argument(*names, dest=f.name, action="store_true", default=None, help=m.get("help"))
        elif f.name == "hp":
            p.add_argument(
                *names,
                dest=f.name,
                action="append",
                default=None,
                metavar="[RULE.]NAME=VALUE",
                help=m.get("help"),
            )
        else:
            default = "" if f.default is None else f" (default: {f.default})"
            p.add_argument(
                *names,
                dest=f.name,
                default=None,
                choices=m.get("choices"),
                help=(m.get("help") or "") + ("" if "default" in (m.get("help") or "") else default),
            )
    for name in SHARED:
        if name not in fields:
            why = study.refuses.get(name, AXIS[name])
            p.add_argument(
                f"--{name}",
                dest=f"refused_{name}",
                metavar=name.upper(),
                default=None,
                help=f"not taken: {why}",
            )
    return p


def parse_config(study: Study, argv) -> tuple:
    """``argv`` -> ``(Config, parser)``; every error is one line on stderr and exit 2."""
    p = parser(study)
    ns = p.parse_args(argv)
    for name in SHARED:
        if getattr(ns, f"refused_{name}", None) is not None:
            cli.fail(p, f"--{name}: {study.refuses.get(name, AXIS[name])}")
    quick = bool(ns.quick)
    values = {}
    for f in dataclasses.fields(study.Config):
        given = getattr(ns, f.name)
        m = f.metadata
        text = (
            given
            if given is not None
            else (m["quick"] if quick and m.get("quick") is not None else f.default)
        )
        try:
            if f.name == "seed":
                text = cli.seed_type(str(text))
            elif m.get("parse") is not None and text is not None:
                text = m["parse"](text)
            elif f.type in (int, "int") and text is not None and f.name != "seed":
                text = _count(f.name)(text)
            elif f.type in (float, "float") and text is not None:
                text = _number(f.name)(text)
        except (ValueError, argparse.ArgumentTypeError) as err:
            cli.fail(p, str(err))
        values[f.name] = text
    config = study.Config(**values)
    cli.setup(config)  # float64 before any game is built
    if study.prepare is not None:
        try:
            config = study.prepare(config)
        except (ValueError, TypeError) as err:
            cli.fail(p, str(err))
    return config, p


def compile_cache(config) -> None:
    """JAX's persistent compilation cache in :data:`CACHE_DIR` unless turned off; set in the environment too,
    so that worker processes share it."""
    import jax

    if config.no_compile_cache or os.environ.get("COMAL_COMPILE_CACHE", "1") == "0":
        return
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(CACHE_DIR))
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.05")
    jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
    jax.config.update(
        "jax_persistent_cache_min_compile_time_secs",
        float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]),
    )


def out_folder(study: Study, config) -> Path:
    return (
        Path(config.out)
        if config.out
        else Path("results") / (study.name + ("-quick" if config.quick else ""))
    )


def execute(study: Study, config, folder: Path) -> dict:
    """Run every unit (in workers when ``config.jobs > 1``), write ``<table>.csv`` (rows in the order of the
    units, whatever order they finish in), call ``report``; returns the metadata fields of the run."""
    from .tables import combine

    units = list(study.units(config))
    if not units:
        raise ValueError("the flags select no configuration")
    results: dict = {}  # key -> frames, combined below in the order of the units (not of completion)
    timer = progress.Timer()
    t0 = time.perf_counter()
    with progress.progress(config, len(units), f"{study.name}", "unit") as bar:

        def done(key, result):
            frames, seconds = result
            timer.add(str(key), seconds)
            results[key] = frames
            bar.set_postfix_str(str(key))
            bar.update()

        tasks = [(key, _timed, (study.simulate, config, args)) for key, args in units]
        progress.run_all(getattr(config, "jobs", 1) or 1, tasks, done)
    tables: dict[str, list] = {}
    for key, _ in units:
        for name, frame in results[key].items():
            tables.setdefault(name, []).append(frame)
    combined = {}
    for name, frames in tables.items():
        frame = combine(frames)
        combined[name] = frame
        output.write_frame(folder / f"{name}.csv", frame)
    extra = study.report(config, combined, folder) or {}
    return {"wall_time_s": {**timer.seconds, "total": round(time.perf_counter() - t0, 3)}, **extra}


def _timed(simulate, config, args):
    cli.setup(config)  # in a spawned worker JAX starts at its defaults (float32): float64 again, as here
    tic = time.perf_counter()
    frames = simulate(config, *args)
    return frames, time.perf_counter() - tic


def main(study: Study, argv=None) -> int:
    """Parse, check, run and report ``study``; the one runner of every study."""
    config, p = parse_config(study, argv)
    compile_cache(config)
    with output.Output(p, out_folder(study, config)) as out:
        try:
            fields = execute(study, config, out.path)
        except ValueError as err:
            cli.fail(p, str(err))
        args = argparse.Namespace(
            study=study.name,
            quick=config.quick,
            seed=config.seed,
            dtype=config.dtype,
            feedback=argparse.Namespace(name=getattr(config, "feedback", "exact")),
            hp=getattr(config, "hp", ()),
        )
        meta = metadata.metadata(args, config=_plain(config), **fields)
        meta["command"] = " ".join(
            [f"python -m experiments {study.name}", *(sys.argv[1:] if argv is None else argv)]
        )
        meta["files"] = sorted(f.name for f in out.path.iterdir())
        metadata.write_metadata(out.path, meta)
    print(f"wrote {out.out}/")
    return 0


def _plain(config) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(config).items()}


def command(study: Study):
    """``main(argv)`` for a study module, and ``if __name__ == "__main__": sys.exit(cli.entry(main))``."""
    return lambda argv=None: main(study, argv)
