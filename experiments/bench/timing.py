"""Timing for the benchmarks: one call, interleaved medians (load changes hit both sides alike), rates."""

from __future__ import annotations

import time

import numpy as np


def time_call(f) -> float:
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def measure_all(runs, np_call, jax_work: int, np_work: int, repeats: int) -> list[dict]:
    """For each ``(case, call)`` of ``runs``: compile time (first call minus second), then the medians over
    ``repeats`` rounds (every case once, each right after its own ``np_call``) of the rates of both and of their
    ratio; ``*_work``: the (game-)steps of one call."""
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
    """One case of :func:`measure_all`."""
    return measure_all([(case, jax_call)], np_call, jax_work, np_work, repeats)[0]
