"""Every study in --quick mode: its outputs (tidy, numeric, complete), its CLI contract (one-line errors before any
computation), your own rules and games, progress, and result folders replaced whole (interrupts, concurrency)."""

import json
import os
import pty
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).parent.parent
COLUMNS_HEAD = ["experiment", "game", "rule"]
COLUMNS_TAIL = ["seed", "step", "oracle_calls", "comparisons", "finite", "metric", "value"]
FAST = ["--rules", "mwu,inpo", "--steps", "200"]  # a paper run of a second or two


def env(extra_path=None):
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join(filter(None, [str(extra_path or ""), str(ROOT), e.get("PYTHONPATH")]))
    return e


def run_cli(*args, check=True, cwd=None, extra_path=None, **kw):
    proc = subprocess.run(
        [sys.executable, "-m", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
        env=env(extra_path),
        **kw,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def assert_cli_error(proc, message: str, out: Path, cwd: Path) -> None:
    """Exit 2, the message on one line of stderr, no traceback, nothing written (it stopped before computing)."""
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert not out.exists() and not leftovers(cwd)


def leftovers(parent: Path):
    return [p.name for p in parent.iterdir() if ".tmp" in p.name or ".old-" in p.name]


def _consistent(out: Path) -> int:
    meta = json.loads((out / "metadata.json").read_text())
    for name in meta["files"]:
        assert (out / name).stat().st_size > 0, name
    seeds = set(pd.read_csv(out / "trace.csv")["seed"])
    assert seeds == {meta["seed"]}
    return meta["seed"]


@pytest.mark.slow
def test_interrupts_leave_the_old_or_the_new_complete_folder(tmp_path):
    out = tmp_path / "paper"
    run_cli("experiments.paper", *FAST, "--seed", "1", "--out", str(out))
    seen = set()
    for delay in (1.0, 2.0, 3.0, 4.0, 6.0):  # after start-up (an interrupt while Python imports is its own)
        proc = subprocess.Popen(
            [sys.executable, "-m", "experiments.paper", *FAST, "--seed", "2", "--out", str(out)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env(),
            text=True,
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        assert "Traceback" not in err, err
        seen.add(_consistent(out))
        assert not leftovers(tmp_path), leftovers(tmp_path)
        if proc.returncode == 130:
            assert "interrupted" in err
    assert seen <= {1, 2}


@pytest.mark.slow
def test_two_concurrent_runs_into_one_folder(tmp_path):
    out = tmp_path / "paper"
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "experiments.paper", *FAST, "--seed", str(s), "--out", str(out)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env(),
        )
        for s in (3, 4)
    ]
    assert all(p.wait(timeout=300) == 0 for p in procs)
    assert _consistent(out) in {3, 4}
    assert not leftovers(tmp_path)


def _run_in_pty(args, out):
    """Run with stderr on a terminal (so the progress bar is on); returns (stderr text, trace.csv bytes)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "experiments.paper", *args, "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=slave,
        env=env(),
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=300)
    os.close(master)
    return b"".join(chunks).decode(errors="replace"), (out / "trace.csv").read_bytes()


@pytest.mark.slow
def test_progress_on_a_terminal_only_and_it_changes_no_result(tmp_path):
    err_tty, with_bar = _run_in_pty(FAST, tmp_path / "a")
    assert "paper" in err_tty and "2/2" in err_tty  # what runs, done/total
    err_quiet, quiet = _run_in_pty([*FAST, "--quiet"], tmp_path / "b")
    assert "paper" not in err_quiet
    plain = run_cli("experiments.paper", *FAST, "--out", str(tmp_path / "c"))
    assert "paper" not in plain.stderr  # stderr is a pipe: silent
    assert with_bar == quiet == (tmp_path / "c" / "trace.csv").read_bytes()  # bitwise identical


@pytest.mark.slow
def test_benchmark_quick_smoke(tmp_path, monkeypatch, capsys):
    """The --quick benchmark end to end, in-process, with the rules registered cut to the families it times (its
    registry section times every registered rule the same way; all of them took over half of the run, compiling):
    every section of the report, --candidates and the overhead benchmark written; no timing asserted."""
    import algorithms
    from experiments.bench import rules

    monkeypatch.setattr(algorithms, "RULES", {name: algorithms.RULES[name] for name in rules.FAMILIES})
    argv = ["--quick", "--quiet", "--repeats", "1", "--candidates", "--out", str(tmp_path / "b")]
    assert rules.main(argv) == 0
    out, err = capsys.readouterr()
    md = (tmp_path / "b" / "benchmark.md").read_text()
    for case in (
        "mwu single 3x3",
        "mwu batch 1000 x 3x3",
        "LP n=100 (cyclic)",
        "loss_based inpo autoregressive 4^4=256 seq",
        "Per-call overhead of `run`",
    ):
        assert case in md, case
    for case in (
        "batch last, sums written out (sweep's fast path)",
        "one 3x3 game, 200,000 steps, probabilities",
    ):
        assert f"candidate: {case}" in md, case
    rows = pd.read_csv(tmp_path / "b" / "benchmark.csv")
    rates = rows.loc[rows.quantity == "rate", "value"]
    assert len(rates) and (rates > 0).all()  # no timing asserts: only that it measured something
    assert rows.loc[rows.quantity == "certificate", "value"].max() <= 1e-9
    assert set(rows.loc[rows.quantity == "gap_after_1000", "case"]) == set(rules.FAMILIES)  # the registry
    assert out.startswith("wrote") and "mwu single" not in out + err  # --quiet
    meta = json.loads((tmp_path / "b" / "metadata.json").read_text())
    assert meta["command"].startswith("python -m experiments.bench.rules --quick --quiet")  # runnable


@pytest.mark.slow
def test_overhead_benchmark_smoke(capsys):
    """The per-call overhead benchmark runs end to end in-process (it once died on a renamed key after all its
    timing) and prints its three figures; no timing is asserted."""
    from experiments.bench import overhead

    assert overhead.main(["--calls", "2", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "run(steps=1):" in out and "check(steps=1):" in out
    assert "run / C =" in out or "no C compiler" in out


def test_benchmark_gpu_without_a_gpu_is_a_cli_error(tmp_path):
    import jax

    if jax.default_backend() == "gpu":
        pytest.skip("this machine has a GPU")
    out = tmp_path / "b"
    proc = run_cli(
        "experiments.bench.rules", "--quick", "--device", "gpu", "--out", str(out), check=False, cwd=tmp_path
    )
    assert_cli_error(proc, "--device gpu asked for, but JAX's default backend is", out, tmp_path)


def test_benchmark_single_game_representations_compute_mwu():
    """The representations the benchmark times against each other are the same update: the rules' own state
    is ``run``'s loop bitwise; the two that carry probabilities agree to round-off (observed <= 2e-13 after 1000
    steps of MWU on the cycle, whose dynamics amplify it)."""
    import algorithms
    import games
    from experiments.bench.rules import single_game_representations

    steps = 1000
    ref = algorithms.run(algorithms.mwu(), games.comal_cycle(), steps=steps, eta=0.5, record_every=steps)
    ref = np.asarray(ref.state.logits.x)
    out = [np.asarray(pol(f(*args))) for _, f, args, pol in single_game_representations(steps)]
    np.testing.assert_array_equal(out[0], ref)
    for o in out[1:]:
        np.testing.assert_allclose(o, ref, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="steps must be >= 1, got 0"):
        single_game_representations(0)


@pytest.mark.slow
def test_numpy_autoregressive_loop_learns_the_better_sequence():
    """The benchmark's NumPy reference of the autoregressive case: normalised, and on a Bradley-Terry sequence
    game whose favoured token is b it moves its mass to "bb" (the best sequence)."""
    import games
    from experiments.bench.loss_based import numpy_autoregressive_loop

    g = games.sequence_game(2, 2, "reward_cycle", cycle=0.0, verbosity=3.0, favoured=1)
    pi = np.exp(numpy_autoregressive_loop(np.asarray(g.P), 2, 2, 40))
    assert pi.sum() == pytest.approx(1.0, abs=1e-12)
    assert int(np.argmax(pi)) == g.sequences.labels.index("bb") and pi.max() > 0.9


def test_numpy_log_prob_gradient_is_jax_grad_of_the_autoregressive_policy():
    import jax
    import jax.numpy as jnp

    import games
    from algorithms import policies
    from experiments.bench.loss_based import log_prob_grad

    space = games.sequence_game(3, 2).sequences
    pol = policies.autoregressive(games.sequence_game(3, 2))
    theta = np.random.default_rng(0).normal(size=(1, space.num_prefixes, 3))
    ys, weights = np.array([0, 4, 4, 8, 5]), np.array([0.3, -1.0, 0.5, 2.0, -0.7])
    want = jax.grad(lambda t: jnp.sum(pol.log_probs(t)[0, ys] * weights))(jnp.asarray(theta))
    got = log_prob_grad(theta[0], space.prefixes, space.tokens, ys, weights)
    np.testing.assert_allclose(got, np.asarray(want)[0], atol=1e-12)
