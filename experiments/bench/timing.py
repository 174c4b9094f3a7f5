"""Timing for the benchmarks: one call, interleaved medians (load changes hit both sides alike), rates."""

from __future__ import annotations

import time

import numpy as np


def time_call(f) -> float:
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def measure_all(runs, np_call, jax_work: int, np_work: int, repeats: int) -> list[dict]:
    """Rows of :func:`measure` for each ``(case, call)`` of ``runs`` against ``np_call``: each case's compile
    time (first call minus second), then ``repeats`` rounds of every case once, each right after its own NumPy
    call, so that a change of load hits every case alike; ``*_work``: (game-)steps per call; medians."""
    compile_s = {case: time_call(run) - time_call(run) for case, run in runs}
    times: dict[str, list[tuple[float, float]]] = {case: [] for case, _ in runs}
    for _ in range(repeats):
        for case, run in runs:
            times[case].append((time_call(np_call), time_call(run)))
    return [
        {
            "case": case,
            "compile_s": compile_s[case],
            "rate": jax_work / float(np.median([t for _, t in times[case]])),
            "numpy_rate": np_work / float(np.median([t for t, _ in times[case]])),
            "ratio": float(np.median([(jax_work / tj) / (np_work / tn) for tn, tj in times[case]])),
        }
        for case, _ in runs
    ]


def measure(case: str, jax_call, np_call, jax_work: int, np_work: int, repeats: int) -> dict:
    """One case of :func:`measure_all`: compile time and the rates of ``jax_call`` and ``np_call``, interleaved
    (N J N J ...), and the median over the pairs of their ratio."""
    return measure_all([(case, jax_call)], np_call, jax_work, np_work, repeats)[0]
