"""Speed against the limits: the jitted runner vs a NumPy loop of the same update, batches, the LP.

Per rule family and size, ``run`` and ``sweep`` against a NumPy loop of the same update, timed interleaved; the
per-call overhead of ``run``; the LP with its certificate; every registered rule. What and why:
``docs/studies/benchmark.md``. Writes ``benchmark.md``, ``benchmark.csv``, ``metadata.json``.

    python -m experiments.bench.rules [--quick] [--device gpu]    # ~ 90 s (--quick ~ 30 s) on a 2-core CPU
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import numpy as np

from ..common import cli, output, tables
from . import loss_based, timing

STUDY = "benchmark"  # the results folder's name
FAMILIES = ("mwu", "inpo", "mmd")
ETA, TAU = 0.5, 0.1
#: The sampled-losses issue's target: loss-based iterations/s (tabular 3x3, K = 64, M = 10) on one CPU core.
LOSS_BASED_TARGET = 20_000
#: The JAX / NumPy ratios the performance issue asks for (case pattern -> target, what is timed): the full run's;
#: the smaller ``--quick`` batch is held to the batch target too.
TARGETS = {"mwu single 3x3": (150.0, "`run`"), r"mwu batch \d+ x 3x3": (8.0, "`sweep`")}
GPU_COMMAND = "pip install -e '.[cuda]' && python -m experiments.bench.rules --device gpu"
#: family -> its self-play update of the log-policy ``l`` before normalisation (gradient ``g``, reference ``r``)
NUMPY_STEPS = {
    "mwu": lambda l, g, r: l + ETA * g,
    "inpo": lambda l, g, r: (1 - ETA * TAU) * l + ETA * TAU * r + ETA * g,
    "mmd": lambda l, g, r: (l + ETA * TAU * r + ETA * g) / (1 + ETA * TAU),
}


def numpy_loop(family: str, A: np.ndarray, steps: int) -> np.ndarray:
    """Self-play update on ``A`` ([n, n] or a batch [B, n, n]) for ``steps`` steps; returns the log-policy."""
    l = np.full(A.shape[:-1], -np.log(A.shape[-1]), dtype=A.dtype)
    ref, update = l.copy(), NUMPY_STEPS[family]
    for _ in range(steps):
        p = np.exp(l)
        l = loss_based.log_softmax(update(l, np.einsum("bij,bj->bi", A, p) if A.ndim == 3 else A @ p, ref))
    return l


def _game(n: int, seed: int = 0):
    import games

    return games.comal_cycle() if n == 3 else games.random_preference(seed, n, "cyclic")


def bench_rule(family, n, jax_steps, np_steps, repeats, batch: int = 0, dtype=None) -> dict:
    """A row: ``run`` on one n x n game (``batch = 0``), or ``sweep`` over ``batch`` games (cast to ``dtype`` on
    both sides), against the NumPy loop of the same update."""
    import jax

    import algorithms

    rule = algorithms.get(family)
    hp = {k: v for k, v in (("eta", ETA), ("tau", TAU)) if k in {h.name for h in rule.hparams}}
    gs = [_game(n, s) if dtype is None else _game(n, s).astype(dtype) for s in range(batch or 1)]
    if batch:
        run, A = algorithms.sweep, np.stack([np.asarray(g.A) for g in gs])
        case = f"{family} batch {batch} x {n}x{n}" + ("" if dtype is None else f" {np.dtype(dtype).name}")
    else:
        run, A, case, gs = algorithms.run, np.asarray(gs[0].A), f"{family} single {n}x{n}", gs[0]
    call = lambda: jax.block_until_ready(run(rule, gs, steps=jax_steps, record_every=jax_steps, **hp).state)
    work = (batch or 1) * jax_steps, (batch or 1) * np_steps
    return timing.measure(case, call, lambda: numpy_loop(family, A, np_steps), *work, repeats)


def bench_overhead(calls: int) -> dict:
    """Per-call overhead of ``run`` (one MWU step on the 3x3 game: validation, start, dispatch, two records, the
    trace) and of ``rule.init`` within it (checks and start), as medians over ``calls`` calls."""
    import jax

    import algorithms

    rule, game = algorithms.get("mwu"), _game(3)
    one_step = lambda: jax.block_until_ready(algorithms.run(rule, game, steps=1, eta=ETA).state)
    init = lambda: jax.block_until_ready(rule.init(game, 0, eta=ETA))
    one_step(), init()
    t_run, t_init = (np.median([timing.time_call(f) for _ in range(calls)]) for f in (one_step, init))
    return dict(case="run overhead (mwu, 3x3, steps=1)", seconds=float(t_run), init_seconds=float(t_init))


def _scan(body, steps: int):
    """A jitted bare scan of ``steps`` steps of ``body(A, carry)``."""
    import jax

    return jax.jit(lambda A, c: jax.lax.scan(lambda c, _: (body(A, c), None), c, None, length=steps)[0])


def _mwu(A, l):
    """The rules' own MWU update, written once for one game: ``normalize(l + eta A exp(l))``."""
    import jax.numpy as jnp

    from algorithms.base import normalize

    return normalize(l + ETA * (A @ jnp.exp(l)))


def bench_candidates(quick: bool, repeats: int) -> list[dict]:
    """Rows of the fast paths considered (docs/performance.md), bare scans of one MWU step: batch layouts of tiny
    games sharded over the devices, and :func:`single_game_representations` at two lengths (a run's per-step
    cost falls with its length: ``normalize``'s sum becomes exactly 1, and ``log 1`` is short)."""
    import jax
    import jax.numpy as jnp

    from algorithms.layout import written_out

    batch, jax_steps, np_steps = (1000, 500, 20) if quick else (10_000, 2_000, 100)
    A = np.stack([np.asarray(_game(3).A)] * batch)
    l0 = np.full((batch, 3), -np.log(3.0))
    mesh = jax.sharding.Mesh(np.array(jax.devices()), ("b",))

    def shard(x, axis):
        spec = jax.sharding.PartitionSpec(*[("b" if i == axis else None) for i in range(x.ndim)])
        return jax.device_put(jnp.asarray(x), jax.sharding.NamedSharding(mesh, spec))

    def tuple_step(A, l):  # A: n*n arrays [B], l: n arrays [B]
        p = [jnp.exp(x) for x in l]
        z = [l[i] + ETA * (A[3 * i] * p[0] + A[3 * i + 1] * p[1] + A[3 * i + 2] * p[2]) for i in range(3)]
        m = jnp.maximum(jnp.maximum(z[0], z[1]), z[2])
        lse = jnp.log(jnp.exp(z[0] - m) + jnp.exp(z[1] - m) + jnp.exp(z[2] - m))
        return tuple(x - m - lse for x in z)

    def measure(calls, np_call, jax_work, np_work):
        runs = [(f"candidate: {name}", lambda f=f, a=a: jax.block_until_ready(f(*a))) for name, f, a in calls]
        return timing.measure_all(runs, np_call, jax_work, np_work, repeats)

    first, last = (0, (shard(A, 0), shard(l0, 0))), (-1, (shard(np.moveaxis(A, 0, -1), 2), shard(l0.T, 1)))
    layouts = [
        ("batch first, jnp sums (plain vmap)", _mwu, first),
        ("batch first, sums written out", written_out(_mwu), first),  # as sweep's fast path rewrites its step
        ("batch last, jnp sums", _mwu, last),
        ("batch last, sums written out (sweep's fast path)", written_out(_mwu), last),
    ]
    calls = [(name, _scan(jax.vmap(step, ax, ax), jax_steps), args) for name, step, (ax, args) in layouts]
    flat = [tuple(shard(x, 0) for x in A.reshape(batch, 9).T), tuple(shard(x, 0) for x in l0.T)]
    calls.append(("carry as n arrays [B], hand-written for n = 3", _scan(tuple_step, jax_steps), flat))
    rows = measure(calls, lambda: numpy_loop("mwu", A, np_steps), batch * jax_steps, batch * np_steps)
    one_np_steps = 1_000 if quick else 5_000
    for steps in (20_000, 200_000) if quick else (200_000, 2_000_000):
        reps = single_game_representations(steps)
        calls = [(f"one 3x3 game, {steps:,} steps, {label}", f, args) for label, f, args, _ in reps]
        rows += measure(calls, lambda: numpy_loop("mwu", A[0], one_np_steps), steps, one_np_steps)
    return rows


def single_game_representations(steps: int) -> list[tuple]:
    """``(label, f, args, log_policy)`` of MWU on the paper's game from uniform, jitted bare scans of ``steps``
    steps in three representations: the rules' state, probabilities carried too (one exp a step), probabilities and
    shifted logits (no log; measured, not used); ``log_policy(f(*args))`` normalised. ValueError if steps < 1."""
    import jax.numpy as jnp

    import games
    from algorithms.base import normalize

    steps = games.core.check_int(steps, "steps")
    A, l0, p0 = np.asarray(_game(3).A), np.full(3, -np.log(3.0)), np.full(3, 1 / 3)

    def with_probs(A, c, normalise: bool):
        l, p = c
        z = l + ETA * (A @ p)
        s = z - jnp.max(z)
        e = jnp.exp(s)
        total = jnp.sum(e)
        return (s - jnp.log(total) if normalise else s), e / total

    cases = [
        ("normalised log-probabilities (the rules' state)", _mwu, l0, lambda l: l),
        ("probabilities carried too", lambda A, c: with_probs(A, c, True), (l0, p0), lambda c: c[0]),
        (
            "probabilities and shifted logits carried (no log)",
            lambda A, c: with_probs(A, c, False),
            (l0, p0),
            lambda c: normalize(c[0]),
        ),
    ]
    return [(label, _scan(body, steps), (A, c0), read) for label, body, c0, read in cases]


def bench_registry(steps: int, rate_steps: int) -> list[dict]:
    """Every registered rule on the paper's game at its declared defaults: compile time and steps/s (runs of
    ``rate_steps``) and the last-iterate gap after ``steps`` (key ``gap_after_<steps>``)."""
    import jax

    import algorithms

    game, out = _game(3), []
    for name in algorithms.RULES:
        rule = algorithms.get(name)
        run = lambda n, rule=rule: jax.block_until_ready(algorithms.run(rule, game, steps=n, record_every=n))
        first, second = (timing.time_call(lambda run=run: run(rate_steps)) for _ in range(2))
        gap = float(run(steps).metrics["gap"][-1])
        row = {"case": rule.name, "compile_s": first - second, "rate": rate_steps / second}
        out.append({**row, f"gap_after_{steps}": gap})
    return out


def bench_lp(n: int, kind: str) -> dict:
    import games

    g = games.random_preference(1, n, kind)
    games.solve(_game(3))  # warm scipy
    t = time.perf_counter()
    eq = games.solve(g)
    return {"case": f"LP n={n} ({kind})", "seconds": time.perf_counter() - t, "certificate": eq.certificate}


def _targets_section(rows: list[dict], overhead: dict, single_steps: int, quick: bool) -> list[str]:
    """The ratios the performance issue sets targets for (``TARGETS``) beside them, and ``run``'s overhead."""
    out = [
        (f"{r['case']} ({what})", f"{r['ratio']:.1f}", f">= {t:g}", "yes" if r["ratio"] >= t else "no")
        for r in rows
        for pattern, (t, what) in TARGETS.items()
        if re.fullmatch(pattern, r["case"])
    ]
    quick_note = "; --quick: smaller batch and runs, the targets are for the full run" if quick else ""
    loss = next(r for r in rows if r["case"].startswith("loss_based") and "one run" in r["case"])
    single = next(r["rate"] for r in rows if r["case"] == "mwu single 3x3")
    return [
        f"Targets (JAX / NumPy, median of interleaved ratios{quick_note}):",
        "",
        tables.table(out, ("case", "JAX / NumPy", "target", "met")),
        "",
        f"Loss-based iteration ({loss['case']}): {loss['rate']:,.0f} iterations/s on one core, target >= "
        f"{LOSS_BASED_TARGET:,} ({'met' if loss['rate'] >= LOSS_BASED_TARGET else 'not met'}); "
        f"x{loss['ratio']:.1f} the NumPy loop.",
        "",
        f"Per-call overhead of `run` (MWU, 3x3, steps=1: validation, start, dispatch, two records, the trace): "
        f"{overhead['seconds'] * 1e6:.0f} us per call, of which `rule.init` (checks and start) "
        f"{overhead['init_seconds'] * 1e6:.0f} us; {100 * overhead['seconds'] * single / single_steps:.1f} % of a "
        f"{single_steps:,}-step call in the single 3x3 row.",
        "",
    ]


def main(argv=None) -> int:
    p = cli._Parser(prog="python -m experiments.bench.rules", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a smoke run (fewer steps, smaller batches; ~30 s)")
    p.add_argument("--out", type=Path, help=f"output folder (default results/{STUDY}[-quick])")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64", help="default float64")
    p.add_argument("--quiet", action="store_true", help="print only the folder written (no rows, no table)")
    p.add_argument("--repeats", type=cli.positive_int("--repeats"), help="default 5 (--quick 3)")
    p.add_argument(
        "--candidates",
        action="store_true",
        help="also time the fast paths considered for batches of tiny games and for one game (bare MWU scans)",
    )
    p.add_argument(
        "--device",
        choices=("cpu", "gpu"),
        default="cpu",
        help="where JAX runs: cpu (default; one JAX device per core) or gpu; NumPy always runs on the CPU",
    )
    args = p.parse_args(argv)
    args.t0 = t0 = time.perf_counter()
    args.command = " ".join(["python -m experiments.bench.rules", *(sys.argv[1:] if argv is None else argv)])
    start_jax(p, args)
    with (folder := output.Output(p, args.out or Path("results") / (STUDY + "-quick" * args.quick))):
        run_benchmark(args, folder.path)
    print(f"wrote {folder.out}/ in {time.perf_counter() - t0:.1f} s")
    return 0


def _load() -> str:
    """The 1-minute load average over the core count (a two-device ``sweep`` loses more to it than NumPy)."""
    try:
        return f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    except OSError:  # not available on this platform
        return "unknown"


def start_jax(p, args) -> None:
    """Select ``--device`` before JAX starts (on a CPU, one JAX device per core); a device this install or
    machine lacks is a one-line error, exit 2, before anything is measured."""
    if "jax" not in sys.modules:  # both must be set before JAX starts; an explicit environment wins
        os.environ.setdefault("JAX_PLATFORMS", {"gpu": "cuda"}.get(args.device, args.device))
        if args.device == "cpu" and "XLA_FLAGS" not in os.environ:  # the sharded sweep then uses every core
            os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={os.cpu_count() or 1}"
    cli.setup(args)
    import jax

    try:
        backend = jax.default_backend()
    except (RuntimeError, AssertionError) as e:  # JAX_PLATFORMS names a backend this install lacks
        backend = f"unavailable ({type(e).__name__}{': ' + str(e) if str(e) else ''})"
    if backend != args.device:
        hint = "for a GPU: pip install -e '.[cuda]', and JAX_PLATFORMS unset or 'cuda'"
        cli.fail(p, f"--device {args.device} asked for, but JAX's default backend is {backend} ({hint})")


def run_benchmark(args, out) -> None:
    import jax

    load_start, q, rows = _load(), args.quick, []
    repeats = args.repeats or (3 if q else 5)

    def say(msg: str) -> None:
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    def timed(r: dict, unit: str) -> None:  # a row's target, if it has one, is in the targets section
        rows.append(r)
        compiled = f"compile {r['compile_s']:.2f} s"
        say(f"  {r['case']:<28} {r['rate']:12,.0f} {unit}  x{r['ratio']:.1f} vs NumPy  {compiled}")

    # (n, jax steps, numpy steps): numpy steps sized to ~0.1-0.5 s per call; --quick: / 10 and / 5
    singles = [(3, 200_000, 5_000), (10, 100_000, 5_000), (100, 20_000, 2_000)] + [(1000, 500, 200)] * (not q)
    # (n, batch, jax steps, numpy steps, dtype of the games: None keeps the run's)
    b3 = (3, 1000, 500, 20) if q else (3, 10_000, 5_000, 100)
    batches = [(*b3, None), (*b3, "float32"), ((100, 20, 100, 20) if q else (100, 100, 1_000, 50)) + (None,)]
    for family in FAMILIES:
        for n, js, ns in singles:
            timed(bench_rule(family, n, js // (10 if q else 1), ns // (5 if q else 1), repeats), "steps/s")
        for n, b, js, ns, dtype in batches if family == "mwu" or not q else ():
            if dtype is None or (family == "mwu" and args.dtype != dtype):  # float32: MWU, on a float64 run
                timed(bench_rule(family, n, js, ns, repeats, b, dtype), "game-steps/s")
    for r in loss_based.bench(repeats, quick=q) + loss_based.sequence_bench(repeats, quick=q):
        timed(r, "iterations/s")
    sizes = (3, 10, 100) if q else (3, 10, 100, 300, 1000)
    lp = [bench_lp(n, kind) for kind in ("uniform", "cyclic") for n in sizes]
    for r in lp:
        say(f"  {r['case']:<28} {r['seconds'] * 1e3:10.1f} ms  certificate {r['certificate']:.1e}")
    for r in bench_candidates(q, repeats) if args.candidates else ():
        timed(r, "(game-)steps/s")
    overhead = bench_overhead(50 if q else 200)
    init = f"(rule.init {overhead['init_seconds'] * 1e6:.0f} us)"
    say(f"  {overhead['case']:<28} {overhead['seconds'] * 1e6:10.0f} us per call {init}")
    reg_steps = 1000 if q else 5000
    registry = bench_registry(reg_steps, 10_000 if q else 100_000)

    timed_fmt = {"compile_s": ".2f", "rate": ",.0f", "numpy_rate": ",.0f", "ratio": ".1f"}
    reg_fmt = {"compile_s": ".2f", "rate": ",.0f", f"gap_after_{reg_steps}": ".3e"}
    cells = lambda rows, fmt: [(r["case"], *(format(r[k], f) for k, f in fmt.items())) for r in rows]
    header = ("case", "compile (s)", "JAX rate (steps/s or game-steps/s)", "NumPy rate")
    header += ("JAX / NumPy (median of interleaved ratios)",)
    device = f"{len(jax.devices())} x {jax.devices()[0].device_kind} ({jax.default_backend()})"
    lp_rows = [(r["case"], f"{r['seconds'] * 1e3:.1f} ms", f"{r['certificate']:.1e}") for r in lp]
    gpu = f"not measured here (no GPU). On a machine with an NVIDIA GPU: `{GPU_COMMAND}`."
    gpu = f"measured above ({device})." if jax.default_backend() == "gpu" else gpu
    md = [
        f"# Benchmark ({'quick' if q else 'full'}; {args.dtype}; JAX device: {device})",
        "",
        f"Load average (1 min) at the start: {load_start}; at the end: {_load()}.",
        "",
        tables.table(cells(rows, timed_fmt), header),
        "",
        tables.table(lp_rows, ("LP", "time", "certificate (gap)")),
        "",
        f"Every registered rule on comal_cycle (eta={ETA}, tau={TAU}; IPO/DPO tau=1/eta), {reg_steps} steps:",
        "",
        tables.table(
            cells(registry, reg_fmt), ("rule", "compile (s)", "steps/s", f"gap after {reg_steps} steps")
        ),
        "",
        *_targets_section(rows, overhead, singles[0][1] // (10 if q else 1), q),
        f"GPU: {gpu}",
    ]
    output.atomic_write(out / "benchmark.md", "\n".join(md) + "\n")
    csv_rows = [(r["case"], k, r[k]) for k in timed_fmt for r in rows]
    csv_rows += [(r["case"], "seconds", r["seconds"]) for r in lp]
    csv_rows += [(overhead["case"], k, overhead[k]) for k in ("seconds", "init_seconds")]
    csv_rows += [(r["case"], "certificate", r["certificate"]) for r in lp]
    csv_rows += [(r["case"], k, r[k]) for r in registry for k in reg_fmt]
    output.write_csv(out / "benchmark.csv", csv_rows, ("case", "quantity", "value"))
    wall = {"total": round(time.perf_counter() - args.t0, 3)}
    meta = output.metadata(
        STUDY, args.command, quick=q, seed=None, dtype=args.dtype, repeats=repeats, wall_time_s=wall
    )
    output.write_metadata(out, meta)
    if not args.quiet:
        print("\n".join(md))


if __name__ == "__main__":
    sys.exit(cli.entry(main))
