"""The benchmarks: the engine's speed against NumPy references of the same updates, timed interleaved
(:mod:`~experiments.bench.timing`): :mod:`~experiments.bench.rules` (``python -m experiments.bench``) and
:mod:`~experiments.bench.loss_based` (loss-based learning)."""
