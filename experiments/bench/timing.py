"""Timing for the benchmarks: one call, A/B interleaved medians (load changes hit both alike), rates."""

from __future__ import annotations

import time

import numpy as np


def time_call(f) -> float:
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def interleaved(a, b, repeats: int) -> tuple[float, float, float]:
    """Median times of ``a`` and ``b`` and the median of the ratios ``t_a / t_b``, measured A B A B ..."""
    ta, tb = [], []
    for _ in range(repeats):
        ta.append(time_call(a))
        tb.append(time_call(b))
    ta, tb = np.array(ta), np.array(tb)
    return float(np.median(ta)), float(np.median(tb)), float(np.median(ta / tb))


def measure(case: str, jax_call, np_call, jax_work: int, np_work: int, repeats: int) -> dict:
    """Compile time (first call minus second) and interleaved rates; ``*_work`` = (game-)steps per call."""
    compile_s = time_call(jax_call) - time_call(jax_call)
    t_np, t_jax, ratio = interleaved(np_call, jax_call, repeats)
    return {
        "case": case,
        "compile_s": compile_s,
        "jax_rate": jax_work / t_jax,
        "numpy_rate": np_work / t_np,
        "ratio": ratio * jax_work / np_work,  # median over pairs of (JAX rate / NumPy rate)
    }
