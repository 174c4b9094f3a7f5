"""Every study on the shell (a module declaring ``STUDY_DECL``) takes the user's work the same way: a rule, a
game and (where it has a schedule axis) a schedule of your own, as ``module:attribute``, in-process at the
tiniest size; and its ``--help`` lists the same shared flags, each taken or refused with a reason."""

import contextlib
import importlib
import io
import json

import pytest

from experiments.__main__ import studies
from experiments.common import study

STUDIES = sorted(studies())
#: Studies over 10 s at their tiniest (measured on 2 busy cores): paper 12 s (its report solves and draws).
SLOW = {"paper", "judges", "reproduce"}  # the longest tiny runs (the slow set runs them)
#: Studies whose own tests check the same (a user's rule and game in-process, the command in the metadata).
ELSEWHERE = {
    "real_preferences": "tests/test_study_real_preferences.py::test_takes_a_user_rule_and_a_user_game"
}
#: The smallest flags of each study, added to --quick when it takes them.
TINY = {
    "steps": ["--steps", "100"],
    "record_every": ["--record-every", "50"],
    "seeds": ["--seeds", "2"],
    "jobs": ["--jobs", "1"],
    "grid": ["--grid", "2"],
    "inner_steps": ["--inner-steps", ""],
    "budget": ["--budget", "40"],
}
#: Where a study's design needs more than the tiniest: the suite's bootstrap intervals need >= 16 seeds.
LEAST = {"suite": {"seeds": ["--seeds", "16"]}}
USER = '''
import functools

import algorithms
import games
from algorithms import losses, schedules


@functools.cache  # one rule object: jit keys on identity
def rule():
    """INPO under a name of its own: takes eta and tau, as most studies' rules must."""
    return algorithms.get("inpo")._replace(name="users_inpo")


def game():
    return games.condorcet_cycle(3, 0.8)


schedule = schedules.growth(4, power=0.5, cap=16)

loss = losses.LOSSES["inpo"]  # for the sequences study, whose rules are losses


def sequence_game():
    return games.sequence_game(3, 2)
'''
#: What a study needs beside the shared flags to run at its tiniest with the user's work.
EXTRA = {
    "ensemble": ["--hp", "start_noise=0.1"],  # one fixed game: an ensemble of random starts
    "sequences": ["--policies", "autoregressive", "--feedback", "exact"],
    "schedules": ["--budget", "1000", "--max-steps", "100"],  # runs last until a budget, not --steps
}
#: The user's rule and game for studies whose rules or games are of another kind.
USER_RULE = {"sequences": "users_work:loss"}
USER_GAME = {"sequences": "users_work:sequence_game"}


def _module(name):
    return importlib.import_module(f"experiments.{name}")


def _fields(name):
    import dataclasses

    return {f.name for f in dataclasses.fields(_module(name).STUDY_DECL.Config)}


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in STUDIES if n not in ELSEWHERE],
)
def test_every_study_takes_a_rule_a_game_and_a_schedule_of_your_own(name, tmp_path, monkeypatch, capsys):
    (tmp_path / "users_work.py").write_text(USER)
    monkeypatch.syspath_prepend(str(tmp_path))
    fields, out = _fields(name), tmp_path / "out"
    user_rule, user_game = USER_RULE.get(name, "users_work:rule"), USER_GAME.get(name, "users_work:game")
    args = ["--quick", "--quiet", "--no-compile-cache", "--out", str(out), "--rules", user_rule]
    args += [a for f, flag in {**TINY, **LEAST.get(name, {})}.items() if f in fields for a in flag]
    args += EXTRA.get(name, [])
    args += ["--schedules", "users_work:schedule"] if "schedules" in fields else []
    if "games" not in fields:  # refused: one line, exit 2, before any work
        with pytest.raises(SystemExit) as exit_:
            _module(name).main([*args, "--games", user_game])
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and "--games" in err and len(err.strip().splitlines()) == 1
        assert not out.exists()
    else:
        args += ["--games", user_game]
    assert _module(name).main(args) == 0
    assert (out / "metadata.json").exists() and list(out.glob("*.csv"))
    meta = json.loads((out / "metadata.json").read_text())
    assert user_rule in meta["config"]["rules"]
    assert meta["command"] == " ".join([f"python -m experiments {name}", *args])  # what reruns it


@pytest.mark.parametrize("name", STUDIES)
def test_help_lists_every_shared_flag_taken_or_refused_with_a_reason(name, capsys):
    with pytest.raises(SystemExit) as exit_, contextlib.redirect_stdout(io.StringIO()) as text:
        _module(name).main(["--help"])
    assert exit_.value.code == 0
    help_text = " ".join(text.getvalue().split())  # argparse wraps lines
    fields = _fields(name)
    for flag in study.SHARED:
        assert f"--{flag} " in help_text, (name, flag)
        refused = f"--{flag} {flag.upper()} not taken: "
        assert (flag in fields) != (refused in help_text), (name, flag)
        if flag not in fields:
            assert help_text.split(refused)[1].split(" --")[0].strip(), (name, flag)  # a reason follows
