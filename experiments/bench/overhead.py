"""Per-call overhead of ``run`` and the speed of one 3x3 MWU run against a C loop compiled here, in this process.

``python -m experiments.bench.overhead [--calls 200] [--repeats 15]`` prints the median of many one-step runs
and pre-flights (``algorithms.check``), then the rate of MWU on the paper game over ``STEPS`` steps, interleaved
with the same update in C (``cc -O2``, ctypes; skipped without a compiler). On a loaded machine compare ratios.
"""

from __future__ import annotations

import argparse
import ctypes
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from . import timing

ETA, STEPS = 0.5, 20_000
C_LOOP = r"""#include <math.h>
/* self-play MWU on an n x n payoff A (row major, n <= 64): l <- log_softmax(l + eta * A exp(l)), from uniform */
void mwu(const double *A, int n, double eta, long steps, double *l) {
    double p[64], m, s;
    for (int i = 0; i < n; i++) l[i] = -log((double)n);
    for (long t = 0; t < steps; t++) {
        m = -INFINITY, s = 0; for (int i = 0; i < n; i++) p[i] = exp(l[i]);
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) l[i] += eta * A[i * n + j] * p[j];
            m = l[i] > m ? l[i] : m;
        }
        for (int i = 0; i < n; i++) s += exp(l[i] - m);
        for (int i = 0; i < n; i++) l[i] -= m + log(s);
    }
}"""


def c_loop(A: np.ndarray):
    """A zero-argument call of the C loop on ``A`` for ``STEPS`` steps, or None without a C compiler."""
    if (cc := shutil.which("cc") or shutil.which("gcc")) is None:
        return None
    (d := Path(tempfile.mkdtemp()), (d / "mwu.c").write_text(C_LOOP))
    subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", d / "mwu.so", d / "mwu.c", "-lm"], check=True)
    lib, ptr = ctypes.CDLL(str(d / "mwu.so")), ctypes.POINTER(ctypes.c_double)
    A, out = np.ascontiguousarray(A, np.float64), np.empty(len(A))
    args = (A.ctypes.data_as(ptr), ctypes.c_int(A.shape[0]), ctypes.c_double(ETA), ctypes.c_long(STEPS))
    return lambda: lib.mwu(*args, out.ctypes.data_as(ptr)) or out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.bench.overhead", description="per-call overhead")
    p.add_argument("--calls", type=int, default=200), p.add_argument("--repeats", type=int, default=15)
    args = p.parse_args(argv)
    import jax

    jax.config.update("jax_enable_x64", True)
    import algorithms
    import games

    rule, game, run = algorithms.get("mwu"), games.comal_cycle(), algorithms.run
    one = lambda: jax.block_until_ready(run(rule, game, steps=1, eta=ETA).state)
    pre = lambda: algorithms.check(rule, game, steps=1, eta=ETA)
    long = lambda: jax.block_until_ready(run(rule, game, steps=STEPS, record_every=STEPS, eta=ETA).state)
    one(), pre(), long()
    for name, f in (("run(steps=1)", one), ("check(steps=1)", pre)):
        ms = 1e3 * np.median([timing.time_call(f) for _ in range(args.calls)])
        print(f"{name}: {ms:.3f} ms per call (median of {args.calls})")
    if (c := c_loop(np.asarray(game.A))) is None:
        print("no C compiler (cc, gcc): the comparison with C is skipped")
        return 0
    m = timing.measure("mwu 3x3", long, c, STEPS, STEPS, args.repeats)
    rates = f"run {m['rate'] / 1e6:.1f} M steps/s, C loop {m['numpy_rate'] / 1e6:.1f} M steps/s"
    print(f"MWU 3x3, {STEPS} steps: {rates}; run / C = {m['ratio']:.2f} (median of {args.repeats} pairs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
