"""Speed against the limits: the jitted runner vs a NumPy loop of the same update, batches, the LP.

Per rule family (MWU, INPO, MMD) and size: compile time, steps/s on one game, and the ratio to a NumPy
reference loop of the **same** update measured in the same process, interleaved (A B A B ..., median of the
ratios), so machine noise hits both sides alike. Batches go through the public ``sweep`` (10^4 3x3 games,
also as float32 games, 100 100x100 games) against a batched NumPy loop in the same dtype; on CPU the benchmark
makes one JAX device per core, so ``sweep`` shards the batch over every core. The two ratios with targets (MWU
on 10^4 3x3 games: ``sweep`` >= 8x the batched NumPy loop; MWU on one 3x3 game: ``run`` >= 150x the NumPy
loop) are printed with their targets, and the per-call overhead of ``run`` (a one-step run: validation, start,
dispatch, recording, the trace) is measured on its own. The LP (HiGHS) is timed with its certificate for
n = 3 .. 1000 on two families: uniform random preferences and cyclic ones (an interior equilibrium, harder for
the interior-point method and its crossover).
OpenSpiel's MMD is timed on the same 3x3 game when ``pyspiel`` is installed (skipped cleanly otherwise).

``--device gpu`` runs the JAX side on the GPU (``pip install -e ".[cuda]"`` first; the NumPy side stays on the
CPU); the default ``cpu`` makes one JAX CPU device per core.

Writes ``benchmark.md`` and ``benchmark.csv`` (and ``metadata.json``) to ``results/benchmark/`` (``--quick``:
``results/benchmark-quick/``). ``python -m experiments.bench`` runs it too.

    python -m experiments.bench.rules                 # ~ 90 s on a 2-core CPU
    python -m experiments.bench.rules --quick         # ~ 30 s: smaller sizes, fewer repeats, no n = 1000 LP
    python -m experiments.bench.rules --device gpu    # the same on a GPU
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

import numpy as np

from ..common import cli, metadata, output, tables
from . import timing

STUDY = "benchmark"  # the results folder's name
PROG = "python -m experiments.bench.rules"
FAMILIES = ("mwu", "inpo", "mmd")
ETA, TAU = 0.5, 0.1
#: JAX / NumPy ratios the performance issue asks for (full run): case -> target.
TARGETS = {"mwu single 3x3": 150.0, "mwu batch 10000 x 3x3": 8.0}
#: The sampled-losses issue's target: loss-based iterations/s (tabular 3x3, K = 64, M = 10) on one CPU core.
LOSS_BASED_TARGET = 20_000
#: ``--device`` -> the JAX platform it selects.
PLATFORMS = {"cpu": "cpu", "gpu": "cuda"}


# --- NumPy references: the same updates, written plainly ----------------------------------------------------------


def _np_lsm(l, axis=-1):
    m = l.max(axis=axis, keepdims=True)
    return l - m - np.log(np.exp(l - m).sum(axis=axis, keepdims=True))


def numpy_loop(family: str, A: np.ndarray, steps: int) -> np.ndarray:
    """Self-play update on ``A`` ([n, n] or a batch [B, n, n]) for ``steps`` steps; returns the log-policy."""
    n = A.shape[-1]
    l = np.full(A.shape[:-1], -np.log(n), dtype=A.dtype)
    ref = l.copy()
    batched = A.ndim == 3
    for _ in range(steps):
        p = np.exp(l)
        g = np.einsum("bij,bj->bi", A, p) if batched else A @ p
        if family == "mwu":
            l = _np_lsm(l + ETA * g)
        elif family == "inpo":
            l = _np_lsm((1 - ETA * TAU) * l + ETA * TAU * ref + ETA * g)
        else:  # mmd
            l = _np_lsm((l + ETA * TAU * ref + ETA * g) / (1 + ETA * TAU))
    return l


def _hparams(rule) -> dict:
    """``ETA``/``TAU`` where ``rule`` (MWU, INPO, MMD: the NumPy loop's families) declares them."""
    return {k: v for k, v in (("eta", ETA), ("tau", TAU)) if k in {h.name for h in rule.hparams}}


def _game(n: int, seed: int = 0):
    import games

    return games.comal_cycle() if n == 3 else games.random_preference(seed, n, "cyclic")


def bench_single(family: str, n: int, jax_steps: int, np_steps: int, repeats: int) -> dict:
    import jax

    import algorithms

    rule, game = algorithms.get(family), _game(n)
    hp = _hparams(rule)
    run = lambda: jax.block_until_ready(
        algorithms.run(rule, game, steps=jax_steps, record_every=jax_steps, **hp).state
    )
    A = np.asarray(game.A)
    return timing.measure(
        f"{family} single {n}x{n}", run, lambda: numpy_loop(family, A, np_steps), jax_steps, np_steps, repeats
    )


def bench_batch(
    family: str, n: int, batch: int, jax_steps: int, np_steps: int, repeats: int, dtype=None
) -> dict:
    """``sweep`` over ``batch`` games vs the batched NumPy loop; ``dtype``: games cast to it (both sides)."""
    import jax

    import algorithms

    rule = algorithms.get(family)
    game_list = [_game(n, s) for s in range(batch)]
    if dtype is not None:
        game_list = [g.astype(dtype) for g in game_list]
    hp = _hparams(rule)
    run = lambda: jax.block_until_ready(
        algorithms.sweep(rule, game_list, steps=jax_steps, record_every=jax_steps, **hp).state
    )
    A = np.stack([np.asarray(g.A) for g in game_list])
    return timing.measure(
        f"{family} batch {batch} x {n}x{n}" + ("" if dtype is None else f" {np.dtype(dtype).name}"),
        run,
        lambda: numpy_loop(family, A, np_steps),
        batch * jax_steps,
        batch * np_steps,
        repeats,
    )


def bench_overhead(calls: int) -> dict:
    """Per-call overhead of ``run``: a one-step MWU run on the 3x3 game (validation, the start, dispatch of the
    compiled simulation, two records, the trace), and within it ``rule.init`` (hyperparameter checks and the
    start), as medians over ``calls`` calls."""
    import jax

    import algorithms

    rule, game = algorithms.get("mwu"), _game(3)

    def one_step():
        return jax.block_until_ready(algorithms.run(rule, game, steps=1, eta=ETA).state)

    def init():
        return jax.block_until_ready(rule.init(game, 0, eta=ETA))

    one_step(), init()
    t_run = np.median([timing.time_call(one_step) for _ in range(calls)])
    t_init = np.median([timing.time_call(init) for _ in range(calls)])
    return {
        "case": "run overhead (mwu, 3x3, steps=1)",
        "seconds": float(t_run),
        "init_seconds": float(t_init),
    }


def bench_candidates(batch: int, jax_steps: int, np_steps: int, repeats: int) -> list[dict]:
    """The candidate fast paths for a batch of tiny games, as bare scans of one MWU step (no ``sweep``
    around them), each against the batched NumPy loop: the layouts (batch first, as a plain ``vmap``; batch
    last, ``vmap(in_axes=-1)``) crossed with the sums over actions (the ``jnp`` forms; written out,
    :func:`games.core.written_out_sums`), and the hand-written carry of n arrays of shape ``[B]`` (for n = 3
    only: not a rule written once). The batch is sharded over the devices as ``sweep`` does."""
    import jax
    import jax.numpy as jnp

    from algorithms.base import normalize
    from games import core

    A = np.stack([np.asarray(_game(3, s).A) for s in range(batch)])
    l0 = np.full((batch, 3), -np.log(3.0))
    mesh = jax.sharding.Mesh(np.array(jax.devices()), ("b",))

    def shard(x, axis):
        spec = [None] * x.ndim
        spec[axis] = "b"
        return jax.device_put(
            jnp.asarray(x), jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(*spec))
        )

    def step(A, l):  # the rule's own update, written once for one game: normalize(l + eta A exp(l))
        return normalize(l + ETA * core._matvec(A, jnp.exp(l)))

    def tuple_step(A, l):  # A: n*n arrays [B], l: n arrays [B]
        p = [jnp.exp(x) for x in l]
        z = [l[i] + ETA * (A[3 * i] * p[0] + A[3 * i + 1] * p[1] + A[3 * i + 2] * p[2]) for i in range(3)]
        m = jnp.maximum(jnp.maximum(z[0], z[1]), z[2])
        lse = jnp.log(jnp.exp(z[0] - m) + jnp.exp(z[1] - m) + jnp.exp(z[2] - m))
        return tuple(x - m - lse for x in z)

    def scan(body, written_out):
        def f(A, l):
            ctx = core.written_out_sums() if written_out else contextlib.nullcontext()
            with ctx:
                return jax.lax.scan(lambda c, _: (body(A, c), None), l, None, length=jax_steps)[0]

        return jax.jit(f)

    first, last = (0, (shard(A, 0), shard(l0, 0))), (-1, (shard(np.moveaxis(A, 0, -1), 2), shard(l0.T, 1)))
    cases = [
        ("batch first, jnp sums (plain vmap)", False, first),
        ("batch first, sums written out", True, first),
        ("batch last, jnp sums", False, last),
        ("batch last, sums written out (sweep's fast path)", True, last),
    ]
    calls = [(name, scan(jax.vmap(step, in_axes=ax, out_axes=ax), w), args) for name, w, (ax, args) in cases]
    tuple_args = (
        tuple(shard(A[:, i, j], 0) for i in range(3) for j in range(3)),
        tuple(shard(l0[:, i], 0) for i in range(3)),
    )
    calls.append(("carry as n arrays [B], hand-written for n = 3", scan(tuple_step, False), tuple_args))
    return _candidates(
        calls, lambda: numpy_loop("mwu", A, np_steps), batch * jax_steps, batch * np_steps, repeats
    )


def _candidates(calls, np_call, jax_work: int, np_work: int, repeats: int) -> list[dict]:
    """:func:`experiments.bench.timing.measure_all` of jitted ``(name, f, args)`` calls, named ``candidate: ...``."""
    import jax

    runs = [
        (f"candidate: {name}", lambda f=f, a=args: jax.block_until_ready(f(*a))) for name, f, args in calls
    ]
    return timing.measure_all(runs, np_call, jax_work, np_work, repeats)


def single_game_representations(steps: int) -> list[tuple]:
    """One MWU step on the paper's 3x3 game in three representations of the policy, each as a jitted bare scan
    of ``steps`` steps from the uniform start: ``(label, f, args, log_policy)``, ``log_policy(f(*args))`` the
    final normalised log-policy. XLA:CPU's float64 ``exp`` and ``log`` cost their latency (about 18 and 11 ns
    here, for 1 to 6 entries alike; ``log`` about 2 ns when its argument is exactly 1), and a step is one
    dependent chain, so the representation sets the floor:

    * the rules' state, normalised log-probabilities: ``p = exp(l)``, then ``normalize`` (max, exp, sum, log);
    * probabilities carried next to them: ``p' = e / S`` from ``normalize``'s own exponentials (one exp a step);
    * probabilities and max-shifted logits carried, normalised only when recorded (no log either).

    The second and third are a state every rule would have to carry; they are measured, not used."""
    import jax
    import jax.numpy as jnp

    import games
    from algorithms.base import normalize

    steps = games.core.check_int(steps, "steps")
    A = np.asarray(_game(3).A)
    l0, p0 = np.full(3, -np.log(3.0)), np.full(3, 1 / 3)

    def written(A, l):
        return normalize(l + ETA * (A @ jnp.exp(l)))

    def with_probs(A, c, normalise: bool):
        l, p = c
        z = l + ETA * (A @ p)
        s = z - jnp.max(z)
        e = jnp.exp(s)
        total = jnp.sum(e)
        return (s - jnp.log(total) if normalise else s), e / total

    def scan(body):
        return jax.jit(lambda A, c: jax.lax.scan(lambda c, _: (body(A, c), None), c, None, length=steps)[0])

    return [
        ("normalised log-probabilities (the rules' state)", scan(written), (A, l0), lambda l: l),
        (
            "probabilities carried too",
            scan(lambda A, c: with_probs(A, c, True)),
            (A, (l0, p0)),
            lambda c: c[0],
        ),
        (
            "probabilities and shifted logits carried (no log)",
            scan(lambda A, c: with_probs(A, c, False)),
            (A, (l0, p0)),
            lambda c: normalize(c[0]),
        ),
    ]


def bench_single_candidates(jax_steps: int, np_steps: int, repeats: int) -> list[dict]:
    """:func:`single_game_representations` against the NumPy loop. The cost of a step also depends on where the
    dynamics are: ``normalize``'s sum becomes exactly 1 once MWU's policy on the cycle is nearly pure, and the
    ``log`` of 1 is short, so the per-step cost of a run from the uniform start falls with its length (the NumPy
    loop's does not): hence two lengths."""
    calls = [
        (f"one 3x3 game, {jax_steps:,} steps, {label}", f, args)
        for label, f, args, _ in single_game_representations(jax_steps)
    ]
    A = np.asarray(_game(3).A)
    return _candidates(calls, lambda: numpy_loop("mwu", A, np_steps), jax_steps, np_steps, repeats)


def bench_registry(steps: int, rate_steps: int) -> list[dict]:
    """Every registered rule on the paper's game at its declared defaults (``ETA``, ``TAU``; IPO/DPO
    ``tau = 1/ETA``): compile time and steps/s (runs of ``rate_steps``) and the last-iterate gap after ``steps``."""
    import jax

    import algorithms

    game, out = _game(3), []
    for name in algorithms.RULES:
        rule = algorithms.get(name)

        def run(n, rule=rule):
            return jax.block_until_ready(algorithms.run(rule, game, steps=n, record_every=n))

        first = timing.time_call(lambda: run(rate_steps))
        second = timing.time_call(lambda: run(rate_steps))
        gap = float(run(steps).metrics["gap"][-1])
        out.append({"case": rule.name, "compile_s": first - second, "rate": rate_steps / second, "gap": gap})
    return out


def bench_lp(n: int, kind: str) -> dict:
    import games

    g = games.random_preference(1, n, kind)
    games.solve(_game(3))  # warm scipy
    t = time.perf_counter()
    eq = games.solve(g)
    return {"case": f"LP n={n} ({kind})", "seconds": time.perf_counter() - t, "certificate": eq.certificate}


def bench_openspiel(steps: int) -> dict | None:
    try:
        import pyspiel  # noqa: F401
        from open_spiel.python.algorithms import mmd_dilated
    except ImportError:
        return None
    game = pyspiel.create_matrix_game(
        "comal_cycle",
        "paper 3x3",
        ["a", "b", "c"],
        ["a", "b", "c"],
        [[0, -0.4, 0.3], [0.4, 0, -0.4], [-0.3, 0.4, 0]],
        [[0, 0.4, -0.3], [-0.4, 0, 0.4], [0.3, -0.4, 0]],
    )
    solver = mmd_dilated.MMDDilatedEnt(game, alpha=TAU, stepsize=ETA)
    t = time.perf_counter()
    for _ in range(steps):
        solver.update_sequences()
    return {
        "case": "OpenSpiel MMD 3x3",
        "seconds": time.perf_counter() - t,
        "rate": steps / (time.perf_counter() - t),
    }


def _target(case: str) -> float | None:
    """The target of a row (the batch target also labels the smaller ``--quick`` batch)."""
    if case in TARGETS:
        return TARGETS[case]
    if case.startswith("mwu batch ") and case.endswith(" x 3x3"):
        return TARGETS["mwu batch 10000 x 3x3"]
    return None


def _say_target(r: dict) -> str:
    target = _target(r["case"])
    return "" if target is None else f" (target >= {target:g})"


def _targets_section(rows: list[dict], overhead: dict, single_steps: int, quick: bool) -> list[str]:
    """The ratios the performance issue sets targets for, beside their targets, and ``run``'s overhead."""
    out = []
    for r in rows:
        target = _target(r["case"])
        if target is not None:
            what = "`run`" if " single " in r["case"] else "`sweep`"
            met = "yes" if r["ratio"] >= target else "no"
            out.append((f"{r['case']} ({what})", f"{r['ratio']:.1f}", f">= {target:g}", met))
    loss_based = next(
        (r for r in rows if r["case"].startswith("loss_based") and "one run" in r["case"]), None
    )
    single = next((r for r in rows if r["case"] == "mwu single 3x3"), None)
    lines = [
        "Targets (JAX / NumPy, median of interleaved ratios"
        + ("; --quick: smaller batch and runs, the targets are for the full run" if quick else "")
        + "):",
        "",
        tables.table(out, ("case", "JAX / NumPy", "target", "met")),
        "",
    ]
    if loss_based:
        met = "met" if loss_based["jax_rate"] >= LOSS_BASED_TARGET else "not met"
        lines += [
            f"Loss-based iteration ({loss_based['case']}): {loss_based['jax_rate']:,.0f} iterations/s on one "
            f"core, target >= {LOSS_BASED_TARGET:,} ({met}); x{loss_based['ratio']:.1f} the NumPy loop.",
            "",
        ]
    lines += [
        f"Per-call overhead of `run` (MWU, 3x3, steps=1: validation, start, dispatch, two records, the trace): "
        f"{overhead['seconds'] * 1e6:.0f} us per call, of which `rule.init` (checks and start) "
        f"{overhead['init_seconds'] * 1e6:.0f} us"
        + (
            f"; {100 * overhead['seconds'] * single['jax_rate'] / single_steps:.1f} % of a {single_steps:,}-step "
            f"call in the single 3x3 row."
            if single
            else "."
        ),
        "",
    ]
    return lines


def main(argv=None) -> int:
    p = cli._Parser(prog=PROG, description=__doc__.splitlines()[0])
    p.add_argument(
        "--quick", action="store_true", help="a few-second smoke run (fewer steps / smaller batches)"
    )
    p.add_argument(
        "--out",
        type=Path,
        help=f"output folder, replaced as a whole at the end (default: results/{STUDY}, with --quick "
        f"results/{STUDY}-quick)",
    )
    p.add_argument(
        "--seed",
        type=cli.seed_type,
        default=0,
        help=f"PRNG seed, 0 .. {cli.MAX_SEED} (start noise, random games); default 0",
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
    p.add_argument("--repeats", type=cli.positive_int("--repeats"), help="default 5 (--quick 3)")
    p.add_argument(
        "--candidates",
        action="store_true",
        help="also time the candidate fast paths for batches of tiny games and the representations of one game's "
        "policy (bare scans of one MWU step)",
    )
    p.add_argument(
        "--device",
        choices=tuple(PLATFORMS),
        default="cpu",
        help="where the JAX side runs: cpu (default; one JAX device per core) or gpu (pip install -e "
        "'.[cuda]'); the NumPy references always run on the CPU",
    )
    args = p.parse_args(argv)
    args.t0 = t0 = time.perf_counter()
    start_jax(p, args)
    folder = output.Output(
        p, args.out or Path("results") / (STUDY + "-quick" * args.quick)
    )  # before any work
    with folder:
        run_benchmark(args, folder.path)
    print(f"wrote {folder.out}/ in {time.perf_counter() - t0:.1f} s")
    return 0


def _load() -> str:
    """The 1-minute load average over the core count (other processes share the cores; the ratios are
    interleaved, but a two-device ``sweep`` loses more to them than the one-thread NumPy loop)."""
    try:
        return f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    except OSError:  # not available on this platform
        return "unknown"


def start_jax(p, args) -> None:
    """Select ``--device`` before JAX starts (one JAX CPU device per core on a CPU) and check that JAX got it:
    a device this install or machine lacks is a one-line error, exit 2, before anything is measured."""
    platform = PLATFORMS[getattr(args, "device", "cpu")]
    if "jax" not in sys.modules:  # both must be set before JAX starts; an explicit environment wins
        os.environ.setdefault("JAX_PLATFORMS", platform)
        # one JAX CPU device per core, so the sharded ``sweep`` uses every core (XLA runs each CPU op on one
        # thread); harmless on a GPU run (the GPU is the default backend)
        if platform == "cpu" and "XLA_FLAGS" not in os.environ:
            os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={os.cpu_count() or 1}"
    cli.setup(args)
    import jax

    try:
        backend = jax.default_backend()
    except (RuntimeError, AssertionError) as e:  # JAX_PLATFORMS names a backend this install lacks
        backend = f"unavailable ({type(e).__name__}{': ' + str(e) if str(e) else ''})"
    if backend != {"cuda": "gpu"}.get(platform, platform):
        cli.fail(
            p,
            f"--device {args.device} asked for, but JAX's default backend is {backend} "
            f"(for a GPU: pip install -e '.[cuda]', and JAX_PLATFORMS unset or 'cuda')",
        )


def run_benchmark(args, out) -> None:
    import jax

    backend = jax.default_backend()
    say = (lambda *a: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    load_start = _load()
    q = args.quick
    repeats = args.repeats or (3 if q else 5)
    # (n, jax steps, numpy steps): numpy steps sized to ~0.1-0.5 s per call
    singles = [(3, 200_000, 5_000), (10, 100_000, 5_000), (100, 20_000, 2_000)] + (
        [] if q else [(1000, 500, 200)]
    )
    # (n, batch, jax steps, numpy steps, dtype of the games: None keeps the run's)
    batches = [
        (3, 1000 if q else 10_000, 500 if q else 5_000, 20 if q else 100, None),
        (3, 1000 if q else 10_000, 500 if q else 5_000, 20 if q else 100, "float32"),
        (100, 20 if q else 100, 100 if q else 1_000, 20 if q else 50, None),
    ]
    rows = []
    for family in FAMILIES:
        for n, js, ns in singles:
            r = bench_single(family, n, js // (10 if q else 1), ns // (5 if q else 1), repeats)
            rows.append(r)
            say(
                f"  {r['case']:<28} {r['jax_rate']:12,.0f} steps/s  x{r['ratio']:.1f} vs NumPy{_say_target(r)}  "
                f"compile {r['compile_s']:.2f} s"
            )
        if family == "mwu" or not q:
            for n, b, js, ns, dtype in batches:
                if dtype is not None and (family != "mwu" or args.dtype == dtype):
                    continue  # the float32 row: MWU only, and only when the run's dtype is not float32
                r = bench_batch(family, n, b, js, ns, repeats, dtype)
                rows.append(r)
                say(
                    f"  {r['case']:<28} {r['jax_rate']:12,.0f} game-steps/s  x{r['ratio']:.1f} vs NumPy"
                    f"{_say_target(r)}  compile {r['compile_s']:.2f} s"
                )
    from . import loss_based

    for r in loss_based.bench(repeats, quick=q) + loss_based.sequence_bench(repeats, quick=q):
        rows.append(r)
        target = f" (target >= {LOSS_BASED_TARGET:,} iterations/s)" if "one run" in r["case"] else ""
        say(f"  {r['case']:<28} {r['jax_rate']:12,.0f} iterations/s{target}  x{r['ratio']:.1f} vs NumPy")
    sizes = (3, 10, 100) if q else (3, 10, 100, 300, 1000)
    lp = [bench_lp(n, kind) for kind in ("uniform", "cyclic") for n in sizes]
    for r in lp:
        say(f"  {r['case']:<28} {r['seconds'] * 1e3:10.1f} ms  certificate {r['certificate']:.1e}")
    candidates = []
    if args.candidates:
        candidates = bench_candidates(1000 if q else 10_000, 500 if q else 2_000, 20 if q else 100, repeats)
        for steps in (20_000, 200_000) if q else (200_000, 2_000_000):
            candidates += bench_single_candidates(steps, 1_000 if q else 5_000, repeats)
        for r in candidates:
            say(f"  {r['case']:<60} {r['jax_rate']:12,.0f} (game-)steps/s  x{r['ratio']:.1f} vs NumPy")
        rows += candidates
    overhead = bench_overhead(50 if q else 200)
    say(
        f"  {overhead['case']:<28} {overhead['seconds'] * 1e6:10.0f} us per call "
        f"(rule.init {overhead['init_seconds'] * 1e6:.0f} us)"
    )
    spiel = bench_openspiel(200 if q else 2000)
    reg_steps = 1000 if q else 5000
    registry = bench_registry(reg_steps, 10_000 if q else 100_000)

    header = (
        "case",
        "compile (s)",
        "JAX rate (steps/s or game-steps/s)",
        "NumPy rate",
        "JAX / NumPy (median of interleaved ratios)",
    )
    table_rows = [
        (
            r["case"],
            f"{r['compile_s']:.2f}",
            f"{r['jax_rate']:,.0f}",
            f"{r['numpy_rate']:,.0f}",
            f"{r['ratio']:.1f}",
        )
        for r in rows
    ]
    lp_rows = [(r["case"], f"{r['seconds'] * 1e3:.1f} ms", f"{r['certificate']:.1e}") for r in lp]
    device = f"{len(jax.devices())} x {jax.devices()[0].device_kind} ({jax.default_backend()})"
    md = [
        f"# Benchmark ({'quick' if q else 'full'}; {args.dtype}; JAX device: {device})",
        "",
        f"Load average (1 min) at the start: {load_start}; at the end: {_load()}.",
        "",
        tables.table(table_rows, header),
        "",
        tables.table(lp_rows, ("LP", "time", "certificate (gap)")),
        "",
        f"Every registered rule on comal_cycle (eta={ETA}, tau={TAU}; IPO/DPO tau=1/eta), {reg_steps} steps:",
        "",
        tables.table(
            [(r["case"], f"{r['compile_s']:.2f}", f"{r['rate']:,.0f}", f"{r['gap']:.3e}") for r in registry],
            ("rule", "compile (s)", "steps/s", f"gap after {reg_steps} steps"),
        ),
        "",
    ]
    md += _targets_section(rows, overhead, singles[0][1] // (10 if q else 1), q)
    md.append(
        "GPU: "
        + (
            f"measured above ({device})."
            if backend == "gpu"
            else "not measured here (no GPU). On a machine with an NVIDIA GPU: "
            "`pip install -e '.[cuda]' && python -m experiments.bench.rules --device gpu`."
        )
    )
    md.append("")
    md.append(
        "OpenSpiel MMD: "
        + (f"{spiel['rate']:,.0f} steps/s on the 3x3 game" if spiel else "not installed (optional; skipped)")
    )
    output.atomic_write(out / "benchmark.md", "\n".join(md) + "\n")
    quantities = (
        ("compile_s", "compile_s"),
        ("rate", "jax_rate"),
        ("numpy_rate", "numpy_rate"),
        ("ratio", "ratio"),
    )
    csv_rows = [(r["case"], name, r[key]) for name, key in quantities for r in rows]
    csv_rows += [(r["case"], "seconds", r["seconds"]) for r in lp]
    csv_rows += [(overhead["case"], k, overhead[k]) for k in ("seconds", "init_seconds")]
    csv_rows += [(r["case"], "certificate", r["certificate"]) for r in lp]
    names = (("compile_s", "compile_s"), ("rate", "rate"), (f"gap_after_{reg_steps}", "gap"))
    csv_rows += [(r["case"], name, r[key]) for r in registry for name, key in names]
    if spiel:
        csv_rows.append((spiel["case"], "rate", spiel["rate"]))
    output.write_csv(out / "benchmark.csv", csv_rows, ("case", "quantity", "value"))
    wall = {"total": round(time.perf_counter() - args.t0, 3)}
    meta = metadata.metadata(
        STUDY, quick=q, seed=args.seed, dtype=args.dtype, repeats=repeats, wall_time_s=wall
    )
    metadata.write_metadata(out, meta)
    print("\n".join(md))
    return None


if __name__ == "__main__":
    sys.exit(cli.entry(main))
