"""The benchmarks: the engine's speed against NumPy references of the same updates, timed interleaved.

* :mod:`~experiments.bench.rules` — the main benchmark: the jitted runner and ``sweep`` against NumPy loops per
  rule family and size, the LP, the loss-based rows; ``python -m experiments.bench`` (or
  ``python -m experiments.bench.rules``) writes ``results/benchmark/``;
* :mod:`~experiments.bench.loss_based` — loss-based learning (``algorithms.loss_based``) against a NumPy loop;
* :mod:`~experiments.bench.timing` — one call, A/B interleaved medians, rates.
"""
