"""The flags a study's ``Config`` declares: :func:`option` for its own knobs and one maker per shared flag, with
the loaders that turn their text into rules and games (cached per process)."""

from __future__ import annotations

import dataclasses
import functools
import importlib
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from . import cli


def option(default, help: str, *, quick=None, parse: Callable | None = None, choices=None, flag=None):
    """A ``Config`` field that is a flag. ``default`` and ``quick`` (its value under ``--quick``) are given as
    the command line would give them; ``parse(text) -> value`` converts and checks (raise ``ValueError`` naming
    the flag); ``bool`` fields are switches."""
    meta = {"help": help, "quick": quick, "parse": parse, "choices": choices, "flag": flag}
    return dataclasses.field(default=default, metadata=meta)


def _help(help: str, text: str, quick=None) -> str:
    """A shared flag's help: the study's own words, what the flag takes, its ``--quick`` value."""
    return (help + "; " if help else "") + text + (f" (--quick: {quick})" if quick else "")


def _count(name: str):
    return cli.positive_int(f"--{name}")


#: The most work one run may be asked for (``--steps``, the suite's ``--budget``): 5,000 times the largest
#: default of any study (issue 33: ``suite --budget 1000000000000`` computed until it was killed).
MAX_WORK = 10**8
CAP_REASON = "over 5,000 times any study's default: a larger run is a typo or does not end"
CAP_HELP = f"at most {MAX_WORK:,} ({CAP_REASON})"


def _work(name: str):
    """A positive integer of at most :data:`MAX_WORK` (``--steps``, ``--budget``)."""

    def parse(text):
        n = _count(name)(text)
        if n > MAX_WORK:
            raise ValueError(f"--{name} {n} is above the cap of {MAX_WORK:,} per run ({CAP_REASON})")
        return n

    return parse


def _listing(text) -> tuple[str, ...]:
    """Comma-separated items, repeats dropped; a comma before ``k=`` after a colon belongs to an item's options
    (``random_preference:n=5,kind=x``), one inside brackets to a wrapper (``comal(averaged(mwu))``)."""
    items, depth, cur = [], 0, ""
    for i, ch in enumerate(str(text)):
        depth += (ch == "(") - (ch == ")")
        options = ":" in cur and re.match(r"\s*[A-Za-z_]\w*\s*=", str(text)[i + 1 :])
        if ch == "," and depth == 0 and not options:
            items.append(cur)
            cur = ""
        else:
            cur += ch
    return tuple(dict.fromkeys(t.strip() for t in [*items, cur] if t.strip()))


def _items(flag: str, what: str, check: Callable = lambda items: None):
    """The ``parse`` of a list flag: :func:`_listing`, not empty, then ``check(items)``."""

    def parse(text):
        items = _listing(text)
        if not items:
            raise ValueError(f"{flag} names no {what}")
        return check(items) or items

    return parse


def subset(flag: str, valid: Sequence[str]) -> Callable:
    """The ``parse`` of an :func:`option` taking comma-separated names from ``valid``; ``ValueError`` naming
    ``flag`` and the valid names for an unknown one or an empty list."""

    def parse(text):
        items = _listing(text)
        bad = [t for t in items if t not in valid]
        if bad or not items:
            raise ValueError(f"{flag}: unknown {(bad or [''])[0]!r}; valid: {', '.join(valid)}")
        return items

    return parse


def rules(default: str, help: str = "", *, quick=None):
    """``--rules``: registered names (``all``: every one), ``module:attribute`` and ``comal(...)`` /
    ``averaged(...)`` wrappers; each is built now and kept as its text (:func:`load_rule`)."""

    def check(items):
        if items == ("all",):
            import algorithms

            items = tuple(algorithms.RULES)
        names = [load_rule(item).name for item in items]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"--rules: rule name(s) given twice: {', '.join(twice)}")
        return items

    what = "registered names (algorithms.RULES), module:attribute, or a wrapper of either: comal(NAME), averaged(NAME)"
    return option(default, _help(help, what, quick), quick=quick, parse=_items("--rules", "rule", check))


@functools.cache
def load_rule(text: str):
    """The rule a ``--rules`` item names; ``ValueError`` naming it when it cannot be built."""
    import algorithms

    match = re.fullmatch(r"\s*([A-Za-z_]\w*)\((.*)\)\s*", text)
    if match:
        wrapper, inner = match.groups()
        if wrapper not in ("comal", "averaged"):
            raise ValueError(f"rule {text!r}: unknown wrapper {wrapper!r}; valid: comal(...), averaged(...)")
        return algorithms.get(wrapper, inner=load_rule(inner))
    if ":" in text:
        return load_instance(text.strip(), "--rules", algorithms.UpdateRule, "an UpdateRule")
    return algorithms.get(text.strip())


def games(default: str, help: str = "", *, named: Sequence[str] = (), quick=None):
    """``--games`` (``--game`` too): the study's ``named`` games, library games with arguments, game files or
    ``module:attribute``, comma-separated (:func:`load_game`)."""
    known = f"this study's {', '.join(named)}, " if named else ""
    what = (
        f"{known}a library game with arguments (condorcet_cycle:n=5,p=0.8), a game file, or module:attribute"
    )
    parse = _items("--games", "game")
    return option(default, _help(help, what, quick), quick=quick, parse=parse, flag=("--games", "--game"))


@functools.cache
def load_game(text: str, dtype: str, seed: int, named: Callable | None = None):
    """The :class:`~experiments.common.gamespec.GameSpec` of a ``--games`` item: ``named(text, dtype, seed)``
    (a study's own games, None for a name it does not know), ``comparisons:FILE.csv[:k=v]``, a game file
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
        game = load_instance(text, "--games", G.Game, "a games.Game")
        if str(game.dtype) != dtype:
            raise ValueError(f"--games {text!r}: the game is {game.dtype}, the study runs in {dtype}")
        return GameSpec(game, text, {"source": text})
    return GameSpec(*library_game(text, dtype, seed))


def game_items(config) -> tuple[str, ...]:
    """The ``--games`` items of ``config``, then its ``--comparisons`` file as ``comparisons:FILE``;
    ``--comparisons`` without ``--games`` replaces the study's default games."""
    games_ = tuple(getattr(config, "games", ()))
    if not getattr(config, "comparisons", None):
        return games_
    default = {f.name: f.default for f in dataclasses.fields(config)}.get("games")
    if games_ == _listing(default or ""):
        games_ = ()
    return (*games_, f"comparisons:{config.comparisons}")


def comparisons(help: str = ""):
    """``--comparisons FILE.csv[:k=v,...]``: a game made from comparison records (``games.from_comparisons``)."""
    what = "a CSV of pairwise comparisons made into a game by games.from_comparisons (options after a colon: "
    return option(None, _help(help, what + "missing=tie|bradley_terry|worst_case, kind=rates|margins, ...)"))


def feedback(default: str = "exact", help: str = ""):
    """``--feedback``: ``exact``, ``sampled:K`` or ``noisy:SIGMA``, kept as its canonical text."""
    what = (
        "exact, sampled:K (K judged duels per action per evaluation) or noisy:SIGMA (Gaussian noise on every "
        f"gradient entry); default {default}"
    )
    parse = lambda text: cli.feedback_spec(cli.feedback_type(str(text)))
    return option(default, _help(help, what), parse=parse)


def hp(help: str = ""):
    """``--hp [RULE.]NAME=VALUE`` (repeatable): a declared hyperparameter, checked against the rule later."""
    what = (
        "set a declared hyperparameter: name=value for every rule that declares it, rule.name=value for one "
        "rule (repeatable; checked against the declared interval)"
    )
    parse = lambda items: tuple(cli.hp_type(t) if isinstance(t, str) else tuple(t) for t in items or ())
    return option((), _help(help, what), parse=parse)


def schedules(default: str, help: str = "", *, named: Sequence[str] = (), quick=None):
    """``--schedules``: the study's ``named`` schedules or ``module:attribute``, comma-separated."""

    def check(items):
        for item in items:
            if ":" in item:
                load_object(item, "--schedules")
            elif item not in named:
                raise ValueError(
                    f"--schedules: unknown {item!r}; valid: {', '.join(named)}, or module:attribute"
                )

    what = f"{', '.join(named)}, or module:attribute (a schedule: a function of the step count)"
    return option(
        default, _help(help, what, quick), quick=quick, parse=_items("--schedules", "schedule", check)
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
        hint = "; is its folder on PYTHONPATH?" if isinstance(err, ImportError) else ""
        raise ValueError(f"{flag} {text!r}: cannot import it ({type(err).__name__}: {err}){hint}") from None
    return obj


def load_instance(text: str, flag: str, cls: type, what: str):
    """``module:attribute`` naming a ``cls`` (``what``: its name in messages) or a zero-argument factory of one
    -> the instance; ``ValueError`` naming ``flag`` otherwise."""
    obj = load_object(text, flag)
    if not isinstance(obj, cls) and callable(obj):
        try:
            obj = obj()
        except Exception as err:  # noqa: BLE001 - the user's factory: one line, not a traceback
            raise ValueError(
                f"{flag} {text!r}: calling the factory raised {type(err).__name__}: {err}"
            ) from None
    if not isinstance(obj, cls):
        raise ValueError(f"{flag} {text!r} is a {type(obj).__name__}, not {what} or a factory of one")
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
    """``--steps N``: iterations per run, at most :data:`MAX_WORK`."""
    help = help or f"iterations per run (default {default})"
    return option(default, f"{help}; {CAP_HELP}", quick=quick, parse=_work("steps"))


def x_axis(default: str, help: str = "x-axis of the curves"):
    """``--x``: what a study's cost is counted in."""
    what = f"{help}: steps, oracle_calls or comparisons (default {default})"
    return option(default, what, choices=tuple(cli.X_AXES))


def jobs(default: int | None = None):
    """``--jobs N``: worker processes; results do not depend on it."""
    default = default or min(2, os.cpu_count() or 1)
    what = f"worker processes (default {default}); results do not depend on it"
    return option(default, what, parse=_count("jobs"))
