"""Loss-based INPO with sampled pairs: regularized gap after 500 iterations (median over 8 seeds) for K = 16,
256, 4096 pairs per iteration, and the speed of a tabular 3x3, K=64, M=10 loss-based step.

Run: ``PYTHONPATH=. python experiments/loss_based_bench.py`` (prints; writes nothing).
"""

import time

import jax
import numpy as np

import algorithms
import games
from algorithms import policies


def main() -> None:
    jax.config.update("jax_enable_x64", True)
    g = games.comal_cycle()
    tab = policies.tabular(g)
    pop = algorithms.run(algorithms.loss_based("inpo", tab), g, steps=500, record_every=500)
    gap, reg = float(pop.metrics["gap"][-1]), float(pop.metrics["regularized_gap"][-1])
    print(f"population: gap {gap:.4e}  regularized_gap {reg:.3e}")
    for k in (16, 256, 4096):
        rule = algorithms.loss_based("inpo", tab, pairs=k)
        t = algorithms.sweep(rule, g, steps=500, record_every=500, seeds=8)
        rg = np.median(np.asarray(t.metrics["regularized_gap"])[:, -1])
        gp = np.median(np.asarray(t.metrics["gap"])[:, -1])
        print(f"K={k:5d}: median regularized_gap {rg:.3e}  median gap {gp:.4e}  (8 seeds)")
    rule = algorithms.loss_based("inpo", tab, pairs=64, optimizer_steps=10)
    algorithms.run(rule, g, steps=20000, record_every=20000)  # compile
    best = []
    for _ in range(3):
        t0 = time.perf_counter()
        tr = algorithms.run(rule, g, steps=20000, record_every=20000, key=1)
        jax.block_until_ready(tr.policy.x)
        best.append(time.perf_counter() - t0)
    platform = jax.devices()[0].platform
    print(f"benchmark: tabular 3x3, K=64, M=10: {20000 / min(best):.0f} iterations/s (best of 3, {platform})")


if __name__ == "__main__":
    main()
