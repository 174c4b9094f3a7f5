"""The runner: recording, sweeps, determinism, non-finite reporting, robustness, sharding."""

import os
import subprocess
import sys
import textwrap
import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import algorithms
import games
from algorithms import base


def test_trace_layout_and_recorded_metrics():
    g = games.comal_cycle()
    t = algorithms.run(algorithms.inpo(), g, steps=500, record_every=50, nash=games.solve(g))
    np.testing.assert_array_equal(t.steps, np.arange(0, 501, 50))
    assert set(t.metrics) == {"gap", "win_rate", "kl_to_nash", "regularized_gap"}
    assert all(v.shape == (11,) for v in t.metrics.values())
    assert t.finite.shape == (11,) and bool(np.all(t.finite))
    np.testing.assert_array_equal(t.counters["oracle_calls"], np.arange(0, 501, 50))
    np.testing.assert_array_equal(t.counters["comparisons"], np.zeros(11))
    u = np.full(3, 1 / 3)
    assert float(t.metrics["gap"][0]) == pytest.approx(float(games.duality_gap(g, u)), abs=1e-15)
    assert t.axes == ()
    matrix = algorithms.run(algorithms.mwu(), games.matrix_game([[1.0, -1.0], [-1.0, 1.0]]), steps=3)
    assert set(matrix.metrics) == {"gap"}  # no win rate off preference games, no tau, no nash


def test_schedule_errors():
    g = games.comal_cycle()
    with pytest.raises(ValueError, match="multiple of record_every"):
        algorithms.run(algorithms.mwu(), g, steps=10, record_every=3)
    with pytest.raises(ValueError, match="steps must be >= 1"):
        algorithms.run(algorithms.mwu(), g, steps=0)
    with pytest.raises(TypeError):
        algorithms.run(algorithms.mwu(), g, steps=1.5)
    with pytest.raises(TypeError, match="UpdateRule"):
        algorithms.run("mwu", g, steps=1)
    with pytest.raises(ValueError, match="nash"):
        algorithms.run(algorithms.mwu(), g, steps=1, nash=np.ones(4) / 4)


def test_same_key_bitwise_identical():
    g = games.random_preference(3, 6, "cyclic")
    a = algorithms.run(algorithms.comal(), g, steps=300, record_every=10, key=11, start_noise=0.5)
    b = algorithms.run(algorithms.comal(), g, steps=300, record_every=10, key=11, start_noise=0.5)
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))
    c = algorithms.run(algorithms.comal(), g, steps=300, record_every=10, key=12, start_noise=0.5)
    assert not np.array_equal(np.asarray(a.metrics["gap"]), np.asarray(c.metrics["gap"]))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_million_steps_of_mwu_stay_finite(dtype):
    g = games.comal_cycle(dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = algorithms.run(algorithms.mwu(), g, steps=1_000_000, record_every=100_000, eta=1.0)
    assert bool(np.all(t.finite))
    assert np.isfinite(np.asarray(t.metrics["gap"])).all()
    assert float(np.asarray(t.policy[0]).max()) > 0.99  # it drifted to a vertex, in log space


class Broken(NamedTuple):
    logits: Any
    eta: jax.Array


def _broken_rule():
    def init_state(game, logits, ref, key, eta):
        return Broken(logits, eta)

    def step(s, oracle):  # blows up after logits pass -40 in the first coordinate
        l = s.logits.x + s.eta * jnp.array([-1.0, 0.0, 1.0])
        return s._replace(logits=games.Profile(jnp.where(l[0] < -40, jnp.nan, l)))

    return base.make_rule("broken", init_state, step, hparams={"eta": (1.0, "(0, inf)")})


BROKEN = _broken_rule()


def test_nonfinite_run_is_reported_with_step():
    # logits start at log(1/3) = -1.0986 and fall by 1 per step: below -40 at step 39
    with pytest.warns(algorithms.NonFiniteWarning, match=r"broken: non-finite values: first at step 39$"):
        t = algorithms.run(BROKEN, games.comal_cycle(), steps=100, record_every=10)
    assert not bool(t.finite[4]) and bool(t.finite[3])
    with pytest.warns(
        algorithms.NonFiniteWarning, match=r"1 of 2 runs; first seen at recorded step 40 \(after step 30\)"
    ):
        algorithms.sweep(BROKEN, games.comal_cycle(), steps=100, record_every=10, eta=[1.0, 0.1])


@pytest.mark.slow
def test_sweep_axes_and_equality_with_run():
    g1, g2 = games.comal_cycle(), games.random_preference(1, 3, "cyclic")
    rule = algorithms.inpo()
    t = algorithms.sweep(
        rule, [g1, g2], steps=200, record_every=20, seeds=2, eta=[0.2, 0.5, 1.0], tau=0.1, start_noise=0.3
    )
    assert t.axes == ("game", "seed", "eta")
    assert t.metrics["gap"].shape == (2, 2, 3, 11)
    assert t.policy[0].shape == (2, 2, 3, 3)
    for gi, g in enumerate([g1, g2]):
        for s in range(2):
            for ei, eta in enumerate([0.2, 0.5, 1.0]):
                r = algorithms.run(
                    rule, g, steps=200, record_every=20, key=s, eta=eta, tau=0.1, start_noise=0.3
                )
                np.testing.assert_allclose(
                    np.asarray(t.metrics["gap"][gi, s, ei]),
                    np.asarray(r.metrics["gap"]),
                    rtol=1e-12,
                    atol=1e-14,
                )


def test_sweep_grid_is_outer_product_and_validated():
    t = algorithms.sweep(
        algorithms.inpo(), games.comal_cycle(), steps=10, eta=[0.1, 0.5], tau=[0.01, 0.1, 1.0]
    )
    assert t.axes == ("eta", "tau") and t.metrics["gap"].shape == (2, 3, 11)
    with pytest.raises(ValueError, match=r"tau must lie in \(0, inf\)"):
        algorithms.sweep(algorithms.inpo(), games.comal_cycle(), steps=10, tau=[0.1, -1.0])
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        algorithms.sweep(algorithms.mwu(), games.comal_cycle(), steps=10, tau=[0.1])
    with pytest.raises(ValueError, match="1-D"):
        algorithms.sweep(algorithms.mwu(), games.comal_cycle(), steps=10, eta=[[0.1]])


def test_start_noise_has_one_name():
    g = games.comal_cycle()
    t = algorithms.run(algorithms.mwu(), g, steps=2, key=3, start_noise=0.4)
    assert float(t.hparams["start_noise"]) == 0.4 and "start_noise" in set(t.to_dataframe().columns)
    moved = np.asarray(algorithms.mwu().init(g, 3, start_noise=0.4).logits.x)
    assert np.abs(np.exp(moved) - 1 / 3).max() > 1e-3  # it perturbs the start
    with pytest.raises(ValueError, match=r"unknown hyperparameter\(s\) noise; valid: eta, start_noise"):
        algorithms.run(algorithms.mwu(), g, steps=2, noise=0.4)


def test_sweep_over_several_rules_is_one_sweep_per_rule():
    g, kw = games.comal_cycle(), dict(steps=40, record_every=20, seeds=2, eta=[0.2, 0.5])
    rules = [algorithms.get("mwu"), algorithms.get("omwu")]
    both = algorithms.sweep(rules, g, **kw)
    assert list(both) == ["mwu", "omwu"]
    for r in rules:
        alone = algorithms.sweep(r, g, **kw)
        assert both[r.name].axes == alone.axes == ("seed", "eta") and both[r.name].rule == r.name
        np.testing.assert_array_equal(
            np.asarray(both[r.name].metrics["gap"]), np.asarray(alone.metrics["gap"])
        )
    labelled = algorithms.sweep({"a": rules[0], "b": rules[0]}, g, steps=20, record_every=20, seeds=2)
    assert list(labelled) == ["a", "b"]
    # every rule is checked before any runs: omwu declares no tau, so nothing is simulated for mwu either
    before = dict(algorithms.runner.TRACE_COUNT)
    with pytest.raises(ValueError, match=r"omwu: unknown hyperparameter\(s\) tau"):
        algorithms.sweep([algorithms.get("inpo"), rules[1]], g, steps=20, tau=0.1)
    with pytest.raises(ValueError, match="repeated rule names"):
        algorithms.sweep([rules[0], rules[0]], g, steps=20)
    with pytest.raises(ValueError, match="empty"):
        algorithms.sweep([], g, steps=20)
    with pytest.raises(TypeError, match="call the factory"):
        algorithms.sweep([rules[0], algorithms.mwu], g, steps=20)
    assert algorithms.runner.TRACE_COUNT == before


@pytest.mark.slow
def test_sweep_does_not_recompile_for_new_values(fresh_programs):
    from algorithms.runner import TRACE_COUNT, _simulate_batch

    g = games.comal_cycle()
    algorithms.sweep(algorithms.mmd(), g, steps=20, seeds=3, eta=[0.1, 0.2], tau=0.1)
    n, traces = _simulate_batch._cache_size(), TRACE_COUNT["mmd"]
    algorithms.sweep(algorithms.mmd(), g, steps=20, seeds=[7, 8, 9], eta=[0.3, 0.9], tau=0.05)
    assert _simulate_batch._cache_size() == n and TRACE_COUNT["mmd"] == traces
    algorithms.sweep(algorithms.mmd(), g, steps=40, seeds=[7, 8, 9], eta=[0.3, 0.9], tau=0.05)
    assert TRACE_COUNT["mmd"] == traces + 1  # the counter does see a real recompile (new static steps)


def test_contextual_game_runs_and_weights_metrics():
    P = np.stack([np.asarray(games.comal_cycle().P), np.asarray(games.comal_cycle().P).T])
    g = games.preference_game(P, [0.3, 0.7])
    eq = games.solve(g)
    t = algorithms.run(algorithms.comal(), g, steps=5000, record_every=100, nash=eq)
    assert float(t.metrics["gap"][-1]) < 1e-10
    assert t.policy[0].shape == (2, 3)


@pytest.mark.slow
def test_sharded_sweep_equals_single_device():
    code = textwrap.dedent(
        """
        import jax; jax.config.update("jax_enable_x64", True)
        import numpy as np, algorithms, games
        assert jax.device_count() == 4, jax.devices()
        gs = [games.random_preference(s, 4, "cyclic") for s in range(3)]
        t = algorithms.sweep(algorithms.comal(), gs, steps=200, record_every=50, seeds=3, start_noise=0.2)
        np.save("OUT", np.asarray(t.metrics["gap"]))
        """
    )
    out = {}
    for devices in (1, 4):
        path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"sharded_{os.getpid()}_{devices}.npy")
        env = dict(
            os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", JAX_PLATFORMS="cpu"
        )
        src = code.replace("OUT", path)
        if devices == 1:
            src = src.replace("assert jax.device_count() == 4, jax.devices()", "")
        subprocess.run([sys.executable, "-c", src], check=True, env=env, timeout=300)
        out[devices] = np.load(path)
        os.remove(path)
    # 9 runs on one device or 3 per device: XLA vectorises the batch-last fast path (4x4 games) differently by
    # batch size, as it does any chunk size: equal to round-off (bitwise for the same share per device)
    np.testing.assert_allclose(out[1], out[4], rtol=1e-12, atol=1e-15)
    assert out[4].shape == (3, 3, 5)


_MULTIPROCESS_WORKER = """
import sys
import jax
jax.config.update("jax_enable_x64", True)
port, rank, procs, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
chunks = [int(c) for c in sys.argv[5].split(",")]
if procs > 1:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        f"127.0.0.1:{port}", num_processes=procs, process_id=rank, initialization_timeout=60
    )
assert jax.process_count() == procs and jax.process_index() == rank
import numpy as np, algorithms, games
gs = [games.random_preference(s, 3, "cyclic") for s in range(3)]
res = {}
for chunk in chunks:
    t = algorithms.sweep(
        algorithms.comal(), gs, steps=40, record_every=10, seeds=3, start_noise=0.2, eta=[0.1, 0.3], chunk=chunk
    )
    leaves = {"finite": t.finite, "x": t.policy[0], **t.metrics, **t.counters}
    leaves.update({f"state{i}": l for i, l in enumerate(jax.tree.leaves(t.state))})
    res.update({f"{chunk}/{k}": np.asarray(v) for k, v in leaves.items()})
np.savez(out, **res)
"""


@pytest.mark.slow
def test_sweep_over_two_processes_equals_one_process(tmp_path):
    """Two CPU processes (jax.distributed, gloo) each simulate half of every chunk and both return the whole
    Trace, bitwise equal to one process sweeping with ``chunk=`` the per-process share."""
    import socket

    script = tmp_path / "worker.py"
    script.write_text(_MULTIPROCESS_WORKER)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=1")

    def start(rank, procs, chunks):
        args = [str(port), str(rank), str(procs), str(tmp_path / f"{procs}_{rank}.npz"), chunks]
        return subprocess.Popen([sys.executable, str(script), *args], env=env)

    # 18 runs; chunk 8 -> shares of 4 (the last global chunk is half padding), default chunk -> shares of 9
    workers = [start(rank, 2, "8,16384") for rank in range(2)]
    single = start(0, 1, "4,9")
    try:
        for p in [*workers, single]:
            assert p.wait(timeout=120) == 0
    finally:
        for p in [*workers, single]:
            p.kill()
    ref = dict(np.load(tmp_path / "1_0.npz"))
    ref = {k.replace("4/", "8/").replace("9/", "16384/"): v for k, v in ref.items()}
    for rank in range(2):
        got = np.load(tmp_path / f"2_{rank}.npz")
        assert sorted(got.files) == sorted(ref)
        for k, v in ref.items():
            assert got[k].dtype == v.dtype and got[k].shape == v.shape, k
            np.testing.assert_array_equal(got[k], v, err_msg=k)
    assert ref["8/gap"].shape == (3, 3, 2, 5)
    np.testing.assert_allclose(ref["8/gap"], ref["16384/gap"], rtol=1e-12, atol=1e-15)  # chunking: round-off


def test_sweep_runs_on_the_default_backend_devices():
    """The batch goes to the default backend's devices (whatever the platform), and so does the Trace."""
    from algorithms import runner

    tree = {"a": jnp.arange(5.0), "b": jnp.ones((5, 3))}
    placed = runner._device_batch(tree, 5)
    local = set(jax.local_devices())
    assert all(leaf.sharding.device_set == local for leaf in jax.tree.leaves(placed))
    assert all(d.platform == jax.default_backend() for d in local)
    n = len(local)
    assert all(leaf.shape[0] == -(-5 // n) * n for leaf in jax.tree.leaves(placed))
    t = algorithms.sweep(algorithms.mwu(), games.comal_cycle(), steps=4, record_every=2, eta=[0.1, 0.2, 0.3])
    for leaf in jax.tree.leaves((t.metrics, t.counters, t.finite, t.policy, t.state)):
        assert leaf.devices() <= set(jax.devices()), leaf.devices()
        assert {d.platform for d in leaf.devices()} == {jax.default_backend()}


def test_check_is_runs_preflight_and_traces_nothing_twice(monkeypatch):
    """``algorithms.check`` raises what ``run`` raises, and a second check (or run) with new values, a new seed or
    another game of the same shapes evaluates no shape again: the pre-flight's abstract evaluations are cached."""
    rule, g = algorithms.get("inpo"), games.comal_cycle()
    plan = algorithms.check(rule, g, steps=100, record_every=10, eta=0.05, tau=0.1)
    assert plan.num_records == 10 and plan.self_play and plan.feedback.name == "exact"
    assert [n for n, _ in plan.metrics] == ["gap", "win_rate", "regularized_gap"]
    assert plan.hparams == {"eta": 0.05, "tau": 0.1, "start_noise": 0.0}
    assert plan.memory.total > 0
    for bad, error, match in [
        (dict(eta=-1.0), ValueError, "eta must lie in"),
        (dict(steps=7, record_every=2), ValueError, "multiple of record_every"),
        (dict(bogus=1.0), ValueError, r"unknown hyperparameter\(s\) bogus"),
        (dict(feedback="exact"), TypeError, "feedback"),
        (dict(ref=[0.5, 0.5]), ValueError, r"ref must have shape \(3,\)"),
        (dict(metrics=["nope"]), ValueError, "unknown metric 'nope'"),
    ]:
        kw = {"steps": 10, **bad}
        with pytest.raises(error, match=match):
            algorithms.check(rule, g, **kw)
        with pytest.raises(error, match=match):
            algorithms.run(rule, g, **kw)
    user_metric = ("mass", lambda game, x, y: x.sum())
    sched = algorithms.schedules.exponential(0.1, 0.99)
    kw = dict(steps=20, record_every=10, metrics=["gap", user_metric], eta=sched)
    algorithms.run(rule, g, key=1, tau=0.1, **kw)
    calls = []
    real = jax.eval_shape
    monkeypatch.setattr(jax, "eval_shape", lambda *a, **k: calls.append(a) or real(*a, **k))
    other = games.preference_game(np.asarray(games.random_preference(3, 3, "cyclic").P))
    algorithms.run(rule, other, key=2, tau=0.05, **{**kw, "eta": algorithms.schedules.exponential(0.2, 0.9)})
    algorithms.check(rule, g, tau=0.2, **kw)
    assert calls == []  # new values, seed and game of the same shapes: nothing traced again
    algorithms.check(rule, games.random_preference(0, 4), tau=0.2, **kw)
    assert calls  # new shapes: evaluated afresh


def test_check_accepts_a_rule_that_cannot_be_hashed():
    """A user's rule holding a list is not cached, but checked and run as any other."""
    rule = algorithms.get("mwu")._replace(hparams=list(algorithms.get("mwu").hparams))
    with pytest.raises(TypeError):
        hash(rule)
    plan = algorithms.check(rule, games.comal_cycle(), steps=4, eta=0.1)
    assert plan.hparams["eta"] == 0.1


def test_one_progress_bar_for_the_library_and_the_studies():
    """``algorithms.progress.progress_bar``: disabled unless shown, and its hook runs at every update anyway
    (where a study's deferred Ctrl-C takes effect)."""
    from algorithms.progress import progress_bar

    calls = []
    bar = progress_bar(3, "units", False, unit="unit", on_update=lambda: calls.append(1))
    assert bar.disable
    bar.update(), bar.update(2), bar.close()
    assert calls == [1, 1]
    assert not progress_bar(1, "shown", True).disable
