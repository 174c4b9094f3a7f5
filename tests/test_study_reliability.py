"""Issue 17's findings in the studies: the interrupt message at the swap, the sampled study's --seed, a deeply
nested JSON game, an empty CSV game and --pairs too large for memory (each one line on stderr, exit 2)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import warnings
from pathlib import Path

import pandas as pd
import pytest

from experiments import paper, sampled
from experiments.common import cli, output


@pytest.fixture
def handlers():
    """``cli.entry`` installs SIGINT/SIGTERM handlers: restore them (and its flag) after the test."""
    saved = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGINT, saved[0])
    signal.signal(signal.SIGTERM, saved[1])
    cli._INTERRUPTED.clear()


def _study(out):
    def main():
        with output.Output(argparse.ArgumentParser(prog="t"), out) as o:
            (o.path / "result.txt").write_text("new")
        print(f"wrote {o.out}/")
        return 0

    return main


def _signal_at(monkeypatch, name, raise_at_once=False):
    """Make the swap's own rename (``os.rename`` into a free ``--out``, or the exchange with an existing one)
    deliver SIGINT to this process the moment it has happened; ``raise_at_once``: as a second Ctrl-C does,
    interrupt right there (``KeyboardInterrupt`` inside the swap)."""
    real = getattr(output, name) if name == "_rename_exchange" else os.rename

    def swapped(*args):
        done = real(*args)
        os.kill(os.getpid(), signal.SIGINT)
        if raise_at_once:
            raise KeyboardInterrupt
        return done

    if name == "_rename_exchange":
        monkeypatch.setattr(output, "_rename_exchange", swapped)
    else:
        monkeypatch.setattr(output.os, "rename", swapped)


@pytest.mark.parametrize(
    "existing, name, at_once",
    [(False, "rename", False), (True, "_rename_exchange", False), (True, "_rename_exchange", True)],
    ids=["new folder", "exchange", "second Ctrl-C inside the swap"],
)
def test_interrupt_at_the_swap_says_the_new_folder_is_in_place(
    tmp_path, capsys, monkeypatch, handlers, existing, name, at_once
):
    out = tmp_path / "out"
    if existing:
        out.mkdir()
        (out / "result.txt").write_text("old")
    _signal_at(monkeypatch, name, at_once)
    assert cli.entry(_study(out)) == 130
    assert (out / "result.txt").read_text() == "new"  # what is on disk ...
    err = capsys.readouterr().err.strip()
    assert (
        err == f"interrupted after the results were complete: {out}/ holds the new folder"
    )  # ... is what it says
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no hidden copy left


def test_interrupt_before_the_swap_keeps_the_previous_folder(tmp_path, capsys, handlers):
    out = tmp_path / "out"
    out.mkdir()
    (out / "result.txt").write_text("old")

    def main():
        with output.Output(argparse.ArgumentParser(prog="t"), out) as o:
            (o.path / "result.txt").write_text("new")
            os.kill(os.getpid(), signal.SIGINT)  # during the last unit of work
        return 0

    assert cli.entry(main) == 130
    assert (out / "result.txt").read_text() == "old"
    assert capsys.readouterr().err.strip() == "interrupted: the output folder was left as it was"


def _sampled_trace(seed: int) -> pd.DataFrame:
    from experiments.common import study

    argv = ["--rules", "inpo", "--pairs", "16", "--steps", "100", "--seeds", "2", "--seed", str(seed)]
    c, _ = study.parse_config(sampled.STUDY_DECL, [*argv, "--games", "paper", "--comal-every", "50"])
    return sampled.simulate(c, "run", "paper", "inpo", "sampled", "tabular")["trace"]


@pytest.mark.slow
def test_sampled_seed_moves_the_sampled_traces():
    a, again, b = _sampled_trace(0), _sampled_trace(0), _sampled_trace(5)
    pd.testing.assert_frame_equal(a, again)  # one seed twice: identical
    assert set(a["seed"]) != set(b["seed"])  # each --seed has its own run seeds ...
    assert not a["value"].reset_index(drop=True).equals(b["value"].reset_index(drop=True))  # ... and draws
    assert a["value"].notna().all() and b["value"].notna().all()


def test_run_seeds_are_drawn_from_the_study_seed():
    assert cli.run_seeds(0, 3) == cli.run_seeds(0, 3) != cli.run_seeds(5, 3)
    assert cli.run_seeds(0, 3)[:2] == cli.run_seeds(0, 2)  # more seeds extend the list, in every study
    assert len(set(cli.run_seeds(7, 16))) == 16


def _cli_error(capsys, main, argv) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning printed before the error line would be an exception here
        with pytest.raises(SystemExit) as exit_:
            main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_deeply_nested_json_game_is_one_line(tmp_path, capsys):
    path = tmp_path / "deep.json"
    path.write_text(
        json.dumps({"kind": "preference", "matrix": None})[:-5] + "[" * 100_000 + "]" * 100_000 + "}"
    )
    err = _cli_error(capsys, paper.main, ["--game", str(path), "--out", str(tmp_path / "o")])
    assert "JSON nested too deeply" in err and str(path) in err


def test_empty_csv_game_is_one_line_without_numpy_warning(tmp_path, capsys):
    path = tmp_path / "empty.csv"
    path.write_text("")
    err = _cli_error(capsys, paper.main, ["--games", f"{path}:kind=preference", "--out", str(tmp_path / "o")])
    assert "the CSV holds no numbers" in err


def test_sampled_pairs_too_large_for_memory_is_one_line(tmp_path, capsys, monkeypatch):
    from algorithms import memory

    monkeypatch.setattr(memory, "machine_memory", lambda: 64 * 2**30)  # 10**9 pairs x 104 bytes = 97 GiB
    out = tmp_path / "o"
    err = _cli_error(capsys, sampled.main, ["--quick", "--pairs", "1000000000", "--out", str(out)])
    assert "--pairs 1000000000: sweep: loss_based(egpo" in err
    assert "needs about 96.9 GiB of memory" in err and "this machine's 64.0 GiB" in err
    assert not out.exists()


def _xla_flags(x):
    return x, os.environ.get("XLA_FLAGS", "")


@pytest.mark.parametrize("jobs", [1, 2])
def test_run_all_hands_every_result_to_its_key(jobs):
    """The studies' one worker pool: each ``(key, fn, args)`` comes back as ``on_done(key, fn(*args))``, in this
    process (``jobs=1``) or from spawned workers; a worker with one core runs XLA on one thread."""
    from experiments.common import progress

    got = {}
    progress.run_all(jobs, [(k, _xla_flags, (10 * k,)) for k in range(3)], lambda k, r: got.setdefault(k, r))
    assert {k: r[0] for k, r in got.items()} == {0: 0, 1: 10, 2: 20}
    one_core_each = jobs > 1 and (os.cpu_count() or 1) // jobs <= 1
    flags = {r[1] for r in got.values()}
    assert all((progress.ONE_THREAD_XLA_FLAGS in f) == one_core_each for f in flags), flags


def test_worker_with_one_core_keeps_the_users_xla_flags(monkeypatch):
    from experiments.common import progress

    saved = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x")
    try:
        progress._worker_init(True)
    finally:
        signal.signal(signal.SIGINT, saved[0])
        signal.signal(signal.SIGTERM, saved[1])
    assert os.environ["XLA_FLAGS"] == f"--xla_dump_to=/tmp/x {progress.ONE_THREAD_XLA_FLAGS}"


def test_run_all_stops_on_a_failing_task():
    from experiments.common import progress

    with pytest.raises(ZeroDivisionError):
        progress.run_all(2, [(0, divmod, (1, 0)), (1, divmod, (4, 2))], lambda k, r: None)


@pytest.mark.parametrize("jobs", [0, -1, 1.5, True])
def test_run_all_refuses_a_bad_number_of_jobs(jobs):
    from experiments.common import progress

    with pytest.raises(ValueError, match=f"jobs must be a whole number >= 1, got {jobs!r}"):
        progress.run_all(jobs, [(0, divmod, (1, 1))], lambda k, r: None)


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_study_exits_128_plus_the_signal(tmp_path, capsys, handlers, signum, code):
    """A script that checks the exit code must not take an interrupted run for a finished one: 130 after
    Ctrl-C, 143 after SIGTERM (what a shell reports for a process the signal ended)."""
    out = tmp_path / "out"

    def main():
        with output.Output(argparse.ArgumentParser(prog="t"), out) as o:
            (o.path / "result.txt").write_text("new")
            os.kill(os.getpid(), signum)
        return 0

    assert cli.entry(main) == code
    assert not out.exists() and "interrupted" in capsys.readouterr().err


@pytest.mark.slow
def test_workers_end_when_the_study_is_killed(tmp_path):
    """SIGKILL (or the OOM killer) on a study's main process ends its worker processes too."""
    import subprocess
    import sys
    import time

    root = Path(__file__).parent.parent
    cmd = [sys.executable, "-m", "experiments", "sweep", "--quiet", "--jobs", "2", "--steps", "20000"]
    proc = subprocess.Popen([*cmd, "--out", str(tmp_path / "s")], cwd=root)
    children = []
    for _ in range(120):  # wait for the pool's workers
        time.sleep(0.5)
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        if len(children) >= 3:  # the resource tracker and two workers
            break
    assert children, "no worker started"
    time.sleep(10)  # the workers are computing (past their initializer)
    proc.kill()
    proc.wait()
    time.sleep(2)
    alive = [
        c
        for c in children
        if Path(f"/proc/{c}").exists() and "zombie" not in Path(f"/proc/{c}/status").read_text()
    ]
    assert not alive


_ENDLESS_STUDY = """
import argparse, sys, time
from experiments.common import cli, output, progress

def main():
    with output.Output(argparse.ArgumentParser(prog="endless"), sys.argv[1]) as o:
        (o.path / "partial.txt").write_text("never swapped in")
        progress.run_all(2, [(k, time.sleep, (3600,)) for k in range(3)], lambda k, r: None)
    return 0

sys.exit(cli.entry(main))
"""


@pytest.mark.slow
def test_sigterm_stops_a_study_whose_units_never_end(tmp_path):
    """Issue 33: with ``--jobs 2`` the parent used to wait for the running units, so a SIGTERM to a study of
    long units was never acted on. Now it exits 143 within seconds, kills its workers and leaves no folder."""
    import subprocess
    import sys
    import time

    root, out = Path(__file__).parent.parent, tmp_path / "s"
    proc = subprocess.Popen(
        [sys.executable, "-c", _ENDLESS_STUDY, str(out)], cwd=root, stderr=subprocess.PIPE
    )
    children = []
    for _ in range(120):  # wait for the pool's two workers (and the resource tracker)
        time.sleep(0.5)
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        if len(children) >= 3:
            break
    assert len(children) >= 2, "no worker started"
    time.sleep(2)  # the units are running
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()  # (a no-op once it has ended; its workers die with it: PR_SET_PDEATHSIG)
    assert proc.returncode == 143, err.decode()
    assert time.monotonic() - start < 10
    assert "interrupted" in err.decode()
    time.sleep(1)
    alive = [
        c
        for c in children
        if Path(f"/proc/{c}").exists() and "zombie" not in Path(f"/proc/{c}/status").read_text()
    ]
    assert not alive
    assert not out.exists() and not list(tmp_path.glob(".s.tmp-*"))
