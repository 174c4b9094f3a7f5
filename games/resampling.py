"""The bootstrap of games built from comparison records: resample the records, rebuild the game, recompute.

``bootstrap(comparisons, statistic, n=B, seed=s)`` draws B resamples of the records (Efron 1979), each the same
size as the data, rebuilds the game from each one's counts (:func:`games.from_comparisons`, never
re-reading the table) and returns the distribution of ``statistic(game)``: for example the equilibrium's mass per
model (``lambda g: games.solve(g).x``), the value, or a fixed policy's gap and worst-case win rate. Percentile
intervals; ``cluster="prompt"`` resamples whole prompts instead of records (prompts, not judgments, are then the
independent units).

A record-level resample is one multinomial draw over the distinct records (``multiplicity / N``), the same
distribution as drawing N records with replacement; all B draws are made at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pandas as pd

from .comparisons import Comparisons, from_comparisons
from .core import check_int, check_memory, check_seed

__all__ = ["Bootstrap", "bootstrap"]


@dataclasses.dataclass(frozen=True)
class Bootstrap:
    """A bootstrap distribution.

    Attributes:
        estimate: the statistic on the full data (NumPy array; a 0-d array for a scalar statistic).
        samples: ``[n, *estimate.shape]``, one row per resample.
        labels: the models' names (for a statistic with one entry per model, e.g. an equilibrium's mass).
        cluster: ``None`` (records resampled) or ``"prompt"``.
        seed: the seed of the draw.
    """

    estimate: np.ndarray
    samples: np.ndarray
    labels: tuple[str, ...]
    cluster: str | None
    seed: int

    def interval(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Percentile interval ``(lo, hi)``: the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles."""
        if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
            raise ValueError(f"level must be a number in (0, 1), got {level!r}")
        q = np.quantile(self.samples, [(1 - level) / 2, (1 + level) / 2], axis=0)
        return q[0], q[1]

    def support_probability(self, tol: float = 1e-9) -> np.ndarray:
        """The share of resamples in which each entry exceeds ``tol`` (for a mass: being in the support)."""
        return (self.samples > tol).mean(axis=0)

    def to_frame(self, level: float = 0.95, tol: float = 1e-9) -> pd.DataFrame:
        """One row per model: ``estimate``, ``lo``, ``hi`` (percentile interval), ``support`` (probability of a
        mass above ``tol``), ``mean``. For a statistic with one entry per model."""
        if self.estimate.shape != (len(self.labels),):
            raise ValueError(
                f"to_frame needs a statistic with one entry per model ({len(self.labels)}), got shape "
                f"{self.estimate.shape}"
            )
        lo, hi = self.interval(level)
        return pd.DataFrame(
            {
                "estimate": self.estimate,
                "lo": lo,
                "hi": hi,
                "support": self.support_probability(tol),
                "mean": self.samples.mean(axis=0),
            },
            index=pd.Index(self.labels, name="model"),
        )


def _value(value, where: str) -> np.ndarray:
    """The statistic's value as a float64 array; None, strings and other non-numbers refused."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"statistic returned {value!r} ({type(value).__name__}) {where}; it must return a number or an "
            "array of numbers"
        )
    return arr.astype(np.float64)


def bootstrap(
    comparisons: Comparisons,
    statistic: Callable,
    *,
    n: int = 1000,
    seed,
    cluster: str | None = None,
    **game_options,
) -> Bootstrap:
    """Resample the records ``n`` times, rebuild the game each time and collect ``statistic(game)``.

    Args:
        comparisons: from :func:`games.tally` (or :func:`games.datasets.llmfao_comparisons`).
        statistic: ``game -> number or array`` (the same shape every time), e.g. ``lambda g: games.solve(g).x``.
        n: the number of resamples (>= 2).
        seed: an integer seed (required; the draws are reproducible by it).
        cluster: ``None`` (resample records) or ``"prompt"`` (resample prompts with replacement: needs prompts).
        **game_options: passed to :func:`games.from_comparisons` (``kind``, ``missing``, ``ties``,
            ``prior``, ``weights``); a resample can leave pairs unobserved, so most data need ``missing=``.

    Returns:
        :class:`Bootstrap`.
    Raises:
        TypeError / ValueError: bad ``n``, ``seed``, ``cluster``, a non-callable statistic, game options refused
            by :func:`games.from_comparisons` (checked on the full data first), a statistic whose shape changes
            or that returns something other than numbers (``None``, a string: TypeError), a resample whose game
            cannot be built (e.g. it left a pair unobserved without ``missing=``: the message names resample
            ``b`` and the seed), ``n`` resamples whose draws and samples do not fit in this machine's memory
            (checked before drawing).

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"left": ["a"] * 10, "right": ["b"] * 10, "winner": ["left"] * 7 + ["right"] * 3})
        >>> b = games.bootstrap(games.tally(df), lambda g: g.P[0, 1], n=200, seed=0)
        >>> float(b.estimate), bool(b.interval()[0] < 0.7 < b.interval()[1])
        (0.7, True)
    """
    if not isinstance(comparisons, Comparisons):
        raise TypeError(
            f"bootstrap expects games.Comparisons (games.tally), got {type(comparisons).__name__}"
        )
    if not callable(statistic):
        raise TypeError(f"statistic must be callable (game -> array), got {statistic!r}")
    n = check_int(n, "n", low=2)
    seed = check_seed(seed, "seed")
    if not isinstance(seed, int):
        raise TypeError("seed must be an integer (NumPy draws the resamples)")
    if cluster not in (None, "prompt"):
        raise ValueError(f"cluster must be None or 'prompt', got {cluster!r}")
    if cluster == "prompt" and comparisons.prompts is None:
        raise ValueError(
            "cluster='prompt' needs comparisons with a prompt column (games.tally(..., prompt=...))"
        )
    estimate = _value(statistic(from_comparisons(comparisons, **game_options)), "on the data")
    mult = comparisons.multiplicity
    K, per = len(mult), max(estimate.size, 1)
    extra = f" of {per} numbers each" if per > 1 else ""
    # the draws [n, K] (int64; with clusters also [n, C]) and the samples [n, *shape] (float64), at once
    check_memory("bootstrap", f"n={n} resamples of {K} distinct records{extra}", 8.0 * n * (K + per + 1))
    rng = np.random.default_rng(seed)
    if cluster is None:
        total = int(mult.sum())
        draws = rng.multinomial(total, mult / total, size=n)  # [n, K]
    else:
        C = comparisons.num_prompts
        per_prompt = rng.multinomial(C, np.full(C, 1.0 / C), size=n)  # [n, C]
        draws = mult[None, :] * per_prompt[:, comparisons.prompt]
    samples = np.empty((n, *estimate.shape))
    for b in range(n):  # one game (and usually one LP) per resample; a Bradley-Terry fit only when needed
        try:
            game = from_comparisons(comparisons.reweighted(draws[b]), **game_options)
        except ValueError as err:
            raise ValueError(f"bootstrap resample {b} of {n} (seed={seed}): {err}") from None
        value = _value(statistic(game), f"on resample {b}")
        if value.shape != estimate.shape:
            raise ValueError(
                f"statistic returned shape {value.shape} on resample {b}, {estimate.shape} on the data"
            )
        samples[b] = value
    return Bootstrap(estimate, samples, comparisons.labels, cluster, seed)
