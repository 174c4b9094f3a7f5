"""One study shell: a study is a declaration, :func:`main` does everything else.

A study module defines ``STUDY`` (its name), a docstring (its first line is the ``--help`` description),
``Config`` (a frozen dataclass of :class:`Base` or :class:`Runs`: one flag per field, made with ``option`` or
a shared maker of :mod:`~experiments.common.flags`, all reachable as ``study.<name>``),
``simulate(config, *args)`` (one unit of work, module-level: it may run in a worker; returns
``{table name: tidy DataFrame}``), ``report(config, tables, folder)`` (summaries, figures and printed lines
from the combined tables alone; returns extra ``metadata.json`` fields) and optionally ``units(config)``
(``[(key, args), ...]``, longest first; default :func:`game_rule_units`), ``prepare(config) -> config``
(checks across flags before any work; default :func:`~experiments.common.checks.check`) and ``named`` (its own
games by name); it ends with ``STUDY_DECL, main = study.declare(globals(), refuses=...)``. :func:`main` owns
the rest: flags, one-line errors with exit 2 before any work, float64, the compilation cache, the atomic
result folder, progress, workers, ``<table>.csv`` and ``metadata.json``. A shared flag the ``Config`` lacks is
refused with the reason in :attr:`Study.refuses` (or :data:`AXIS`).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from . import checks, cli, flags, output, progress
from .checks import effective_hparams, hparams
from .flags import game_items, load_game, load_rule, option


def __getattr__(name: str):
    """``study.<name>``: the flag makers and loaders of :mod:`~experiments.common.flags` and the checks of
    :mod:`~experiments.common.checks`."""
    return getattr(checks if hasattr(checks, name) else flags, name)


#: The user-facing flags every study lists: taken (a ``Config`` field of that name) or refused with a reason.
SHARED = ("rules", "games", "comparisons", "feedback", "hp", "schedules", "seeds", "steps", "x", "jobs")
#: What a refused shared flag says when the study gives no reason of its own.
AXIS = {
    "rules": "this study's rules are part of its design",
    "games": "this study's games are part of its design",
    "comparisons": "this study's games are part of its design",
    "feedback": "this study fixes what the learner observes",
    "hp": "this study fixes its hyperparameters",
    "schedules": "the rules run at constant step sizes",
    "seeds": "this study is deterministic (one run per configuration)",
    "steps": "this study fixes its run length",
    "x": "this study's cost axis is fixed",
    "jobs": "this study runs in one process",
}
#: The parse of an ``int`` or ``float`` field without its own (annotations are text in most studies).
_TYPED = {int: cli.positive_int, "int": cli.positive_int, float: cli.positive, "float": cli.positive}
#: Where the persistent compilation cache lives (``--no-compile-cache`` or ``COMAL_COMPILE_CACHE=0``: off).
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "comal-sandbox" / "jax"


@dataclasses.dataclass(frozen=True)
class Base:
    """The flags of every study: ``--quick --out --seed --dtype --quiet --no-compile-cache``."""

    quick: bool = option(False, "a small smoke run (fewer steps, seeds and rules)")
    out: str = option(None, "output folder, replaced as a whole at the end (default results/<study>[-quick])")
    seed: int = option(
        0, f"the study's seed, 0 .. {cli.MAX_SEED}: every random draw follows from it", parse=cli.seed_type
    )
    dtype: str = option("float64", "float64 (default) or float32", choices=("float64", "float32"))
    quiet: bool = option(False, "no progress bar (it is also off when stderr is no terminal)")
    no_compile_cache: bool = option(
        False,
        "do not use JAX's persistent compilation cache (comal-sandbox/jax in $XDG_CACHE_HOME or ~/.cache)",
    )


@dataclasses.dataclass(frozen=True)
class Runs(Base):
    """The flags of a study that runs rules on games, in this order; redeclare a field to change it."""

    rules: tuple = flags.rules("all", "the rules to run (default all: every registered rule)")
    games: tuple = flags.games("comal_cycle", "the games, one figure each (default comal_cycle)")
    comparisons: str = flags.comparisons()
    feedback: str = flags.feedback()
    hp: tuple = flags.hp()


@dataclasses.dataclass(frozen=True)
class Study:
    """A study's declaration (see the module docstring); ``refuses``: shared flag -> why the study does not
    take it; ``named``: its own games by name, the lookup it passes to :func:`load_game`."""

    name: str
    description: str
    Config: type
    units: Callable
    simulate: Callable
    report: Callable
    prepare: Callable | None = None
    refuses: Mapping[str, str] = dataclasses.field(default_factory=dict)
    named: Callable | None = None


def parser(study: Study) -> argparse.ArgumentParser:
    """The study's parser: every ``Config`` field, then every shared flag the ``Config`` lacks (refused)."""
    p = cli._Parser(
        prog=f"python -m experiments {study.name}", description=study.description, allow_abbrev=False
    )
    fields = {f.name: f for f in dataclasses.fields(study.Config)}
    for f in fields.values():
        m = f.metadata
        names = m.get("flag") or f"--{f.name.replace('_', '-')}"
        if f.type in (bool, "bool"):
            kw = dict(action="store_true", help=m.get("help"))
        elif f.name == "hp":
            kw = dict(action="append", metavar="[RULE.]NAME=VALUE", help=m.get("help"))
        else:
            help_, default = m.get("help") or "", "" if f.default is None else f" (default: {f.default})"
            kw = dict(choices=m.get("choices"), help=help_ + ("" if "default" in help_ else default))
        p.add_argument(*([names] if isinstance(names, str) else names), dest=f.name, default=None, **kw)
    for name in SHARED:
        if name not in fields:
            why = f"not taken: {study.refuses.get(name, AXIS[name])}"
            p.add_argument(f"--{name}", dest=f"refused_{name}", metavar=name.upper(), help=why)
    return p


def parse_config(study: Study, argv) -> tuple:
    """``argv`` -> ``(Config, parser)``; every error is one line on stderr and exit 2."""
    p = parser(study)
    ns = p.parse_args(argv)
    for name in SHARED:
        if getattr(ns, f"refused_{name}", None) is not None:
            cli.fail(p, f"--{name}: {study.refuses.get(name, AXIS[name])}")
    values = {}
    for f in dataclasses.fields(study.Config):
        text = getattr(ns, f.name)
        if text is None and ns.quick and f.metadata.get("quick") is not None:
            text = f.metadata["quick"]
        text = f.default if text is None else text
        flag = f"--{f.name.replace('_', '-')}"
        parse = f.metadata.get("parse") or (_TYPED[f.type](flag) if f.type in _TYPED else None)
        try:
            values[f.name] = text if parse is None or text is None else parse(text)
        except (ValueError, argparse.ArgumentTypeError) as err:
            cli.fail(p, str(err))
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
    dir_ = os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(CACHE_DIR))
    least = os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.05")
    jax.config.update("jax_compilation_cache_dir", dir_)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(least))


def execute(study: Study, config, folder: Path) -> dict:
    """Run every unit (in workers when ``config.jobs > 1``), write ``<table>.csv``, call ``report``; returns
    the metadata fields of the run (wall times, the report's fields)."""
    from algorithms.progress import progress_bar  # here: workers import this module before XLA is set up

    from .tables import stack

    units = list(study.units(config))
    if not units:
        raise ValueError("the flags select no configuration")
    results: dict = {}
    seconds: dict[str, float] = {}  # wall time per unit, measured where it ran
    t0 = time.perf_counter()
    # the library's bar: silent with --quiet or off a terminal; a deferred Ctrl-C takes effect at its update
    show = False if config.quiet else None
    with progress_bar(len(units), study.name, show=show, unit="unit", on_update=cli.checkpoint) as bar:

        def done(key, result):
            results[key], seconds[str(key)] = result[0], round(result[1], 4)
            bar.set_postfix_str(str(key))
            bar.update()

        tasks = [(key, _timed, (study.simulate, config, args)) for key, args in units]
        progress.run_all(getattr(config, "jobs", 1) or 1, tasks, done)
    # in the order of the units, not of completion: the CSVs do not depend on --jobs
    names = dict.fromkeys(name for key, _ in units for name in results[key])
    combined = {n: stack([results[k][n] for k, _ in units if n in results[k]]) for n in names}
    for name, frame in combined.items():
        output.write_frame(folder / f"{name}.csv", frame)
    extra = study.report(config, combined, folder) or {}
    return {"wall_time_s": {**seconds, "total": round(time.perf_counter() - t0, 3)}, **extra}


def _timed(simulate, config, args):
    cli.setup(config)  # a spawned worker starts with JAX's defaults: float64 again, before any game is built
    compile_cache(config)
    tic = time.perf_counter()
    frames = simulate(config, *args)
    return frames, time.perf_counter() - tic


def main(study: Study, argv=None) -> int:
    """Parse, check, run and report ``study``; the one runner of every study. The x64 switch is restored on
    return, so a study called in-process (a test, a notebook) leaves the caller's setting as it was."""
    import jax

    x64 = bool(jax.config.jax_enable_x64)
    try:
        return _main(study, argv)
    finally:
        jax.config.update("jax_enable_x64", x64)


def _main(study: Study, argv) -> int:
    config, p = parse_config(study, argv)
    compile_cache(config)
    out_folder = Path(config.out or Path("results") / (study.name + "-quick" * config.quick))
    with output.Output(p, out_folder) as out:
        try:
            fields = execute(study, config, out.path)
        except ValueError as err:
            cli.fail(p, str(err))
        extra = {}
        if getattr(config, "rules", None):
            rules_run = {}
            for t in config.rules:  # a study may take more than UpdateRules (sequences: losses)
                with contextlib.suppress(ValueError, TypeError):
                    rules_run[t] = load_rule(t)
            extra["rules"] = [{"name": r.name, "source": t} for t, r in rules_run.items()]
            extra["hyperparameters"] = {
                r.name: effective_hparams(r, hparams(config, t)) for t, r in rules_run.items()
            }
        for item in game_items(config) if getattr(config, "games", None) else ():
            try:  # an item only the study itself resolves (built from other flags) is recorded as given
                game = load_game(item, config.dtype, config.seed, study.named).meta
            except ValueError:
                game = {"given": item}
            extra.setdefault("games", {})[item] = game
        given = sys.argv[1:] if argv is None else list(argv)
        plain = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}
        meta = output.metadata(
            study.name,
            " ".join([f"python -m experiments {study.name}", *given]),
            quick=config.quick,
            seed=config.seed,
            dtype=config.dtype,
            feedback=getattr(config, "feedback", "exact"),
            hp=getattr(config, "hp", ()),
            **{"config": plain, **extra, **fields},  # the study's own fields win
        )
        meta["files"] = sorted(f.name for f in out.path.iterdir())
        output.write_metadata(out.path, meta)
    print(f"wrote {out.out}/")
    return 0


def command(study: Study):
    """``main(argv)`` for a study module."""
    return lambda argv=None: main(study, argv)


def declare(module: Mapping, *, refuses: Mapping[str, str] | None = None) -> tuple[Study, Callable]:
    """``(Study, main(argv))`` of a study module, read from its ``globals()`` (see the module docstring); run
    as ``python -m experiments.<study>`` (the module is ``__main__``), it runs the study and exits."""
    parts = {"units": game_rule_units, "prepare": checks.check, "refuses": refuses or {}}
    parts |= {
        k: module[k] for k in ("Config", "units", "simulate", "report", "prepare", "named") if k in module
    }
    decl = Study(module["STUDY"], module["__doc__"].splitlines()[0], **parts)
    if module["__name__"] == "__main__":
        sys.exit(cli.entry(command(decl)))
    return decl, command(decl)


def game_rule_units(config) -> list:
    """One unit per ``--games`` item and ``--rules`` rule: key and arguments ``(item, rule)``."""
    return [((item, r), (item, r)) for item in game_items(config) for r in config.rules]


def each_game(config, named=None):
    """``(item, spec, tag)`` per ``--games`` item (:func:`load_game`); ``tag`` suffixes its files' names: empty
    for one game, else ``-<label>``."""
    items = game_items(config)
    for item in items:
        gs = load_game(item, config.dtype, config.seed, named)
        yield item, gs, "" if len(items) == 1 else f"-{gs.label}"


def write_summary(folder: Path, rows, header, games: int) -> None:
    """``summary.csv`` of rows that start with their game's label: that column is left out for one game."""
    rows, header = ([r[1:] for r in rows], header) if games == 1 else (rows, ("game", *header))
    output.write_csv(folder / "summary.csv", rows, header)
