"""Games from pairwise comparison records (``left``, ``right``, winner in {left, right, tie}); Bradley-Terry.

Counts (for every prompt ``c`` when the records have a prompt column): ``W[c, i, j]`` = wins of model ``i`` over
model ``j``, ``T[c, i, j]`` = ties (symmetric), ``n = W + W^T + T``. Models are sorted by name and keep their
names as the game's action labels (:attr:`games.Game.labels`); the row player maximises, as everywhere.

* **rates** (the NLHF game of arXiv 2312.00886, 2410.23223: ``P(y > y')`` is a probability):
  ``P_ij = (W_ij + t T_ij + a) / (W_ij + W_ji + 2 t T_ij + 2 a)`` for a compared pair, ``P_ii = 1/2``, where a tie
  counts as ``t`` wins for each side (``ties=t``, 1/2 by default: ``P = (W + T/2) / n``) and ``a`` is an optional
  symmetric Beta(a, a) prior (pseudo-counts) that shrinks sparse pairs toward 1/2.
* **margins** (social choice: the equilibrium of the margin game is the *maximal lottery*, Fishburn 1984; OpenSpiel
  ``python/voting/maximal_lotteries.py``): ``A_ij = (W_ij - W_ji) / (2 n_bar)``, ties cancel, with ``n_bar`` the
  mean count of the compared pairs. The scale leaves the equilibria unchanged and makes the two games agree
  when every pair was compared ``n_bar`` times (then ``A = P - 1/2`` with ``t = 1/2``). They differ when pairs were
  compared unequally often: rates weight every compared pair equally, margins weight a pair by how often it was
  compared (a pair compared 40 times moves the margin game 40 times as much as a pair compared once, at the
  same win rate). The NLHF papers mean the rates game: their payoff is a preference probability.

Unobserved pairs (``n_ij = 0``) have no default: ``missing=`` must say what they are —
``"tie"`` (``P = 1/2``, margin 0), ``"bradley_terry"`` (``P = sigma(s_i - s_j)`` from :func:`bradley_terry_fit` on
all the records, ties counted as ``t`` wins for each side; in the margin game ``sigma(s_i - s_j) - 1/2``, i.e. at
weight ``n_bar``), or ``"worst_case"``: every unobserved payoff set to its lowest value ``-1/2`` *on both sides*
(``A_ij = A_ji = -1/2``), a matrix game (no longer skew-symmetric) whose maximin row strategy
(:func:`games.solve`, an LP with its certificate) is the robust equilibrium: the strategy whose worst win rate
over every completion of the unobserved pairs is largest (robust lotteries, arXiv 2602.21297). (Against a pure
column ``j`` only column ``j``'s entries matter, so the worst completion for each column is the one above.)

:func:`tally` counts once (vectorised: ``np.bincount`` over cell codes, no loop per record) into a
:class:`Comparisons`, which keeps the counts and the distinct records with their multiplicities, so games,
Bradley-Terry fits and bootstrap resamples (:mod:`games.bootstrap`) never re-read the table.
"""

from __future__ import annotations

import dataclasses
import numbers
import os
import unicodedata
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd
import scipy.sparse
import scipy.sparse.csgraph

from .core import Game, check_int, check_memory, matrix_game, preference_game

__all__ = [
    "Comparisons",
    "BradleyTerry",
    "tally",
    "from_comparisons",
    "bradley_terry_fit",
    "MISSING",
    "KINDS",
    "OUTCOMES",
    "MAX_RECORDS",
]

#: The treatments of unobserved pairs (``missing=``); there is no default.
MISSING = ("tie", "bradley_terry", "worst_case")
#: The two games built from counts (``kind=``).
KINDS = ("rates", "margins")
#: Outcome codes of :attr:`Comparisons.outcome`.
OUTCOMES = ("left", "right", "tie")
#: The most records (the sum of the counts) a table may hold: ``2**53``, below which every count and every sum
#: of counts is exact in float64 (the count arrays' dtype) and cannot overflow int64.
MAX_RECORDS = 2**53
#: ``[C, n, n]`` float64 arrays held at once: :func:`tally` (wins, ties and their bincounts: 4) and
#: :func:`from_comparisons` (counts, rates, masks and the payoff: about 10).
_TALLY_ARRAYS, _GAME_ARRAYS = 4, 10
#: The default ``outcomes`` mapping (LLMFAO's winner column).
DEFAULT_OUTCOMES = {"left": "left", "right": "right", "tie": "tie"}


@dataclasses.dataclass(frozen=True, eq=False)
class Comparisons:
    """Counted comparison records (NumPy arrays; build with :func:`tally`).

    Attributes:
        labels: model names, sorted; model ``i`` is ``labels[i]``.
        prompts: prompt names (sorted, as strings), or ``None`` when the records had no prompt column.
        prompt, left, right, outcome: the distinct records ``[K]``: prompt index (0 without prompts), model
            indices, outcome code (0 left won, 1 right won, 2 tie; see :data:`OUTCOMES`).
        multiplicity: how many records each distinct record stands for ``[K]`` (integers, > 0).
        wins: ``W[c, i, j]`` wins of ``i`` over ``j`` per prompt ``[C, n, n]`` (``C = 1`` without prompts).
        ties: ``T[c, i, j]`` ties, symmetric ``[C, n, n]``.
    """

    labels: tuple[str, ...]
    prompts: tuple[str, ...] | None
    prompt: np.ndarray
    left: np.ndarray
    right: np.ndarray
    outcome: np.ndarray
    multiplicity: np.ndarray
    wins: np.ndarray
    ties: np.ndarray

    @property
    def num_models(self) -> int:
        return len(self.labels)

    @property
    def num_prompts(self) -> int:
        return self.wins.shape[0]

    @property
    def num_records(self) -> int:
        return int(self.multiplicity.sum())

    @property
    def counts(self) -> np.ndarray:
        """``n[c, i, j] = W_ij + W_ji + T_ij`` ``[C, n, n]``."""
        return self.wins + np.swapaxes(self.wins, -1, -2) + self.ties

    def pooled(self) -> Comparisons:
        """The same records with the prompt axis summed out (``C = 1``, ``prompts = None``)."""
        z = np.zeros_like(self.prompt)
        return _from_cells(self.labels, None, 1, z, self.left, self.right, self.outcome, self.multiplicity)

    def reweighted(self, multiplicity) -> Comparisons:
        """The same distinct records with new multiplicities ``[K]`` (non-negative integers; a bootstrap draw).

        Records with multiplicity 0 are dropped; the models and prompts stay.
        """
        m = np.asarray(multiplicity)
        if m.shape != self.multiplicity.shape or m.dtype.kind not in "iu" or (m < 0).any():
            raise ValueError(
                f"multiplicity must be non-negative integers of shape {self.multiplicity.shape}, got "
                f"dtype {m.dtype} and shape {m.shape}"
            )
        keep = m > 0
        C = self.num_prompts
        cells = (self.prompt[keep], self.left[keep], self.right[keep], self.outcome[keep], m[keep])
        return _from_cells(self.labels, self.prompts, C, *cells)

    def unobserved(self) -> int:
        """Number of unordered (prompt, model pair) cells with no comparison (``n_ij = 0``, ``i < j``)."""
        n = self.counts
        iu = np.triu_indices(self.num_models, 1)
        return int((n[:, iu[0], iu[1]] == 0).sum())

    def __repr__(self) -> str:
        ctx = f", prompts={self.num_prompts}" if self.prompts is not None else ""
        return f"Comparisons(records={self.num_records}, models={self.num_models}{ctx})"


def _from_cells(labels, prompts, C, prompt, left, right, outcome, mult) -> Comparisons:
    """Counts from distinct records, by ``np.bincount`` over cell codes ``(c n + i) n + j``."""
    n = len(labels)
    size = C * n * n
    w = mult.astype(np.float64)
    code = lambda c, i, j: (c * n + i) * n + j
    lw, rw, tie = outcome == 0, outcome == 1, outcome == 2
    wins = np.bincount(code(prompt[lw], left[lw], right[lw]), weights=w[lw], minlength=size)
    wins += np.bincount(code(prompt[rw], right[rw], left[rw]), weights=w[rw], minlength=size)
    ties = np.bincount(code(prompt[tie], left[tie], right[tie]), weights=w[tie], minlength=size).reshape(
        C, n, n
    )
    ties = ties + np.swapaxes(ties, -1, -2)
    return Comparisons(
        labels=tuple(labels),
        prompts=prompts,
        prompt=prompt,
        left=left,
        right=right,
        outcome=outcome,
        multiplicity=mult,
        wins=wins.reshape(C, n, n),
        ties=ties,
    )


def _row(frame: pd.DataFrame, pos: int) -> str:
    label = frame.index[pos]
    return f"row {pos}" if label == pos else f"row {pos} (index {label!r})"


def _read(records, columns: list[str]) -> pd.DataFrame:
    if isinstance(records, (str, os.PathLike)):
        path = os.fspath(records)
        if not os.path.isfile(path):
            raise ValueError(f"comparisons file not found: {path}")
        try:
            records = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
            raise ValueError(f"cannot read comparisons from {path}: {err}") from None
    if not isinstance(records, pd.DataFrame):
        raise TypeError(f"records must be a pandas DataFrame or a CSV path, got {type(records).__name__}")
    absent = [c for c in columns if c not in records.columns]
    if absent:
        raise ValueError(
            f"the records have no column(s) {absent}; their columns are {list(map(str, records.columns))}"
        )
    if len(records) == 0:
        raise ValueError("the comparison table is empty (no records)")
    frame = records[columns]
    na = frame.isna().to_numpy()
    if na.any():
        pos, col = (int(v) for v in np.argwhere(na)[0])
        raise ValueError(f"{_row(frame, pos)} has a missing value (NaN) in column {columns[col]!r}")
    return frame


def _names(values: pd.Series) -> np.ndarray:
    return values.astype(str).to_numpy()


def _factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(sorted distinct values, code of each value)`` (pandas' hash table: fast on a million strings)."""
    codes, uniq = pd.factorize(values, sort=True)
    return np.asarray(uniq), codes.astype(np.int64)


def _check_size(who: str, C: int, n: int, arrays: int) -> None:
    """Refuse ``C`` prompts and ``n`` models whose ``[C, n, n]`` count arrays do not fit, before allocating."""
    what = (
        f"{n} models" + (f" x {C} prompts" if C > 1 else "") + f" ({arrays} dense [C, n, n] float64 arrays)"
    )
    check_memory(who, what, float(arrays) * 8.0 * C * n * n)


def _invisible(name: str) -> str | None:
    """The first invisible character of ``name`` — a format character (Unicode category Cf: zero-width space,
    joiners, direction marks, BOM) or a control character other than whitespace (Cc) — as ``U+XXXX NAME``, or
    None. (Whitespace is the business of the whitespace warning.)"""
    if name.isprintable():  # C-speed fast path: no character of category C* (nor Z* other than space)
        return None
    for ch in name:
        if unicodedata.category(ch) == "Cf" or (unicodedata.category(ch) == "Cc" and not ch.isspace()):
            return f"U+{ord(ch):04X} {unicodedata.name(ch, 'control character')}"
    return None


def _models(frame: pd.DataFrame, names: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(labels, code of each name)`` with the names in Unicode normal form NFC.

    Canonically equivalent spellings (``'café'`` composed, or ``'cafe'`` + a combining accent) are one model
    (a warning says which spellings were merged). A name holding an invisible character (control or format:
    a zero-width space, a byte-order mark, a direction mark) is refused: it would be a second model that prints
    like the first one.
    """
    raw, codes = _factorize(names)
    for u in raw:
        bad = _invisible(str(u))
        if bad is not None:
            pos = int(np.argmax(names == u)) % len(frame)
            raise ValueError(
                f"{_row(frame, pos)} names model {str(u)!r}, which holds the invisible character {bad}; "
                "remove it (it would print like another model's name)"
            )
    norm = np.array(
        [
            u if unicodedata.is_normalized("NFC", u) else unicodedata.normalize("NFC", u)
            for u in map(str, raw)
        ],
        dtype=object,
    )
    labels, back = _factorize(norm)
    if len(labels) < len(raw):
        counts = np.bincount(back, minlength=len(labels))
        k = int(np.argmax(counts > 1))
        spellings = [str(u) for u in raw[back == k]]
        warnings.warn(
            f"model names {spellings} are the same text in different Unicode forms (code points "
            f"{[' '.join(f'U+{ord(c):04X}' for c in v) for v in spellings]}); they are counted as one model, "
            f"{str(labels[k])!r} (Unicode NFC)",
            UserWarning,
            stacklevel=3,
        )
    return labels, back[codes]


def _warn_whitespace(labels: list[str]) -> None:
    key = pd.Series(labels, dtype=object).str.replace(r"\s+", " ", regex=True).str.strip()
    dup = key.duplicated(keep=False).to_numpy()
    if dup.any():
        first = int(np.argmax(dup))
        other = int(np.flatnonzero(dup & (key.to_numpy() == key.iloc[first]))[1])
        warnings.warn(
            f"model names {labels[first]!r} and {labels[other]!r} differ only by whitespace; they are kept as two "
            "models",
            UserWarning,
            stacklevel=3,
        )


def tally(
    records,
    *,
    left: str = "left",
    right: str = "right",
    winner: str = "winner",
    prompt: str | None = None,
    count: str | None = None,
    outcomes: Mapping | None = None,
) -> Comparisons:
    """Count comparison records into a :class:`Comparisons` (vectorised; no Python loop per record).

    Args:
        records: a pandas DataFrame, or the path of a CSV file (read as strings).
        left, right: the columns naming the two models of each record.
        winner: the column saying who won; its values are mapped by ``outcomes``.
        prompt: optional column of prompts (contexts); one prompt gives a single game.
        count: optional column of whole-number multiplicities (a record standing for several judgments).
        outcomes: ``{value: "left" | "right" | "tie"}`` for the winner column (default: the values ``left``,
            ``right``, ``tie`` themselves). Values are compared as strings.

    Returns:
        :class:`Comparisons` with models sorted by name.
    Raises:
        TypeError: records neither a DataFrame nor a path; a bad ``outcomes``.
        ValueError: an empty table, an absent column, a missing value (NaN), a winner value outside ``outcomes``,
            a model compared with itself, a negative or non-integer count (each naming the row and value).
        ValueError: a count above :data:`MAX_RECORDS` or counts summing above it; a model name holding an
            invisible (control or format) character such as a zero-width space; more models (or prompts) than
            the ``[C, n, n]`` count arrays leave room for in this machine's memory (checked before allocating).
    Warns:
        UserWarning: two model names that differ only by whitespace (kept apart); two spellings of one name in
            different Unicode forms (merged: names are compared in Unicode normal form NFC).

    Example:
        >>> df = pd.DataFrame({"left": ["a", "a", "b"], "right": ["b", "b", "a"],
        ...                    "winner": ["left", "tie", "left"]})
        >>> c = tally(df)
        >>> c.wins[0].tolist(), c.ties[0].tolist()
        ([[0.0, 1.0], [1.0, 0.0]], [[0.0, 1.0], [1.0, 0.0]])
    """
    mapping = DEFAULT_OUTCOMES if outcomes is None else outcomes
    if not isinstance(mapping, Mapping) or not mapping:
        raise TypeError(
            f"outcomes must be a non-empty mapping {{value: 'left' | 'right' | 'tie'}}, got {mapping!r}"
        )
    for key, val in mapping.items():
        if val not in OUTCOMES:
            raise ValueError(f"outcomes[{key!r}] = {val!r}; each value must be one of {OUTCOMES}")
    for name, col in (("left", left), ("right", right), ("winner", winner)):
        if not isinstance(col, str):
            raise TypeError(f"{name} must be a column name (a string), got {col!r}")
    columns = [left, right, winner] + ([prompt] if prompt is not None else []) + ([count] if count else [])
    if len(set(columns)) != len(columns):
        raise ValueError(f"the columns must be distinct, got {columns}")
    frame = _read(records, columns)
    lnames, rnames = _names(frame[left]), _names(frame[right])
    labels, model = _models(frame, np.concatenate([lnames, rnames]))
    li, ri = model[: len(lnames)], model[len(lnames) :]
    same = li == ri
    if same.any():
        pos = int(np.argmax(same))
        raise ValueError(f"{_row(frame, pos)} compares model {lnames[pos]!r} with itself")
    code_of = {str(k): OUTCOMES.index(v) for k, v in mapping.items()}
    wvals = _names(frame[winner])
    uniq, inverse = _factorize(wvals)
    unknown = [u for u in uniq if u not in code_of]
    if unknown:
        pos = int(np.argmax(wvals == unknown[0]))
        raise ValueError(
            f"{_row(frame, pos)} has winner {unknown[0]!r}, not one of {sorted(code_of)} (declare it in outcomes=)"
        )
    outcome = np.array([code_of[u] for u in uniq], dtype=np.int64)[inverse]
    if prompt is not None:
        prompts, pidx = _factorize(_names(frame[prompt]))
        prompts = tuple(str(p) for p in prompts) if len(prompts) > 1 else None
        if prompts is None:
            pidx = np.zeros_like(pidx)
    else:
        prompts, pidx = None, np.zeros(len(frame), dtype=np.int64)
    if count:
        mult = _counts(frame, count)
    else:
        mult = np.ones(len(frame), dtype=np.int64)
    C = 1 if prompts is None else len(prompts)
    n = len(labels)
    _check_size("tally", C, n, _TALLY_ARRAYS)
    _warn_whitespace([str(x) for x in labels])
    # collapse identical records: one distinct record per (prompt, left, right, outcome)
    key = ((pidx * n + li) * n + ri) * 3 + outcome
    cells, inv = np.unique(key, return_inverse=True)
    mult = np.bincount(inv, weights=mult, minlength=len(cells)).astype(np.int64)
    keep = mult > 0
    cells, mult = cells[keep], mult[keep]
    if len(cells) == 0:
        raise ValueError("every record has count 0: there is nothing to count")
    out, rest = cells % 3, cells // 3
    r, rest = rest % n, rest // n
    lft, pr = rest % n, rest // n
    return _from_cells(tuple(str(x) for x in labels), prompts, C, pr, lft, r, out, mult)


def _counts(frame: pd.DataFrame, column: str) -> np.ndarray:
    raw = frame[column]
    vals = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(vals) | (vals < 0) | (vals != np.round(vals)) | (vals > MAX_RECORDS)
    if bad.any():
        pos = int(np.argmax(bad))
        raise ValueError(
            f"{_row(frame, pos)} has count {str(raw.iloc[pos])!r} in column {column!r}; counts must be whole "
            f"numbers in [0, 2**53] (= {MAX_RECORDS}, exact in float64)"
        )
    total = float(vals.sum())  # each <= 2**53: the float sum cannot overflow, and it is exact below 2**53
    if total > MAX_RECORDS:
        raise ValueError(
            f"the counts in column {column!r} sum to {total:.4g} records, more than 2**53 (= {MAX_RECORDS}): "
            "counts that large are not exact in float64"
        )
    return vals.astype(np.int64)


# ---------------------------------------------------------------------------------------------------------------
# Bradley-Terry
# ---------------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class BradleyTerry:
    """A Bradley-Terry maximum-likelihood fit.

    Attributes:
        scores: ``s`` (natural-log scale, mean 0), a pandas Series indexed by model name.
        log_likelihood: ``sum_{i != j} w_ij log sigma(s_i - s_j)`` at the fit, ``w = W + t T``.
        gradient: the largest entry of the log-likelihood's gradient at the fit (0 at the MLE).
        iterations: Newton iterations used.
        ties: the tie weight ``t``.
    """

    scores: pd.Series
    log_likelihood: float
    gradient: float
    iterations: int
    ties: float

    @property
    def leader(self) -> str:
        """The model with the highest score."""
        return str(self.scores.idxmax())

    def probabilities(self) -> np.ndarray:
        """``sigma(s_i - s_j)`` ``[n, n]`` (diagonal 1/2)."""
        return 0.5 + self.payoff()

    def payoff(self) -> np.ndarray:
        """``sigma(s_i - s_j) - 1/2 = tanh((s_i - s_j) / 2) / 2`` ``[n, n]``, exactly skew-symmetric."""
        s = self.scores.to_numpy()
        return 0.5 * np.tanh(0.5 * (s[:, None] - s[None, :]))


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # = 1 / (1 + exp(-z)), without overflow


def _log_sigmoid(z):
    return -np.logaddexp(0.0, -z)


def _check_ties(ties) -> float:
    if isinstance(ties, bool) or not isinstance(ties, numbers.Real):
        raise TypeError(f"ties must be a real number (the wins a tie counts for each side), got {ties!r}")
    t = float(ties)
    if not (np.isfinite(t) and t >= 0):
        raise ValueError(f"ties must be a finite number >= 0 (1/2: a tie is half a win), got {ties!r}")
    return t


def bradley_terry_fit(
    comparisons: Comparisons, *, ties: float = 0.5, tol: float = 1e-10, max_iter: int = 100
) -> BradleyTerry:
    """Maximum-likelihood Bradley-Terry scores with ties as ``t`` wins for each side (pooled over prompts).

    Maximises ``L(s) = sum_{i != j} w_ij log sigma(s_i - s_j)``, ``w_ij = W_ij + t T_ij`` (``t = 1/2``: ties as
    half wins, the convention of Chatbot Arena's ``compute_mle_elo`` and of evalica's ``tie_weight=0.5``;
    Bradley & Terry 1952, Hunter 2004). ``L`` is concave; Newton's method with a backtracking line search, in the
    gauge ``mean(s) = 0``, stops when the largest gradient entry is below ``tol`` times the total weight. Two
    models: ``s_1 - s_2 = log(w_12 / w_21)``.

    The MLE is finite exactly when the graph with an edge ``i -> j`` for ``w_ij > 0`` is strongly connected.

    Args:
        comparisons: from :func:`tally`.
        ties: the wins a tie counts for each side (>= 0).
        tol: stop when the largest gradient entry is below ``tol`` times the total weight (finite, > 0).
        max_iter: the most Newton steps (an integer >= 1).
    Returns:
        :class:`BradleyTerry`.
    Raises:
        TypeError: not a :class:`Comparisons`; a ``tol`` or ``max_iter`` of another type.
        ValueError: a bad ``ties``, ``tol <= 0``, ``max_iter < 1``; no finite MLE (names a group of
        models that never lost to, or never beat, the others).
        RuntimeError: Newton did not converge in ``max_iter`` steps.

    Example:
        >>> df = pd.DataFrame({"left": ["a"] * 4, "right": ["b"] * 4,
        ...                    "winner": ["left", "left", "left", "right"]})
        >>> fit = bradley_terry_fit(tally(df))
        >>> round(float(fit.scores["a"] - fit.scores["b"]), 12) == round(float(np.log(3.0)), 12)
        True
    """
    if not isinstance(comparisons, Comparisons):
        raise TypeError(
            f"bradley_terry_fit expects games.Comparisons (games.tally), got {type(comparisons).__name__}"
        )
    t = _check_ties(ties)
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real):
        raise TypeError(f"tol must be a real number > 0 (relative to the total weight), got {tol!r}")
    if not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a finite number > 0 (relative to the total weight), got {tol!r}")
    max_iter = check_int(max_iter, "max_iter")
    w = (comparisons.wins + t * comparisons.ties).sum(axis=0)  # [n, n]
    _check_connected(w, comparisons.labels)
    s, it, grad = _newton_bt(w, tol, max_iter)
    ll = float(np.sum(w * _log_sigmoid(s[:, None] - s[None, :])))
    return BradleyTerry(pd.Series(s, index=list(comparisons.labels), name="score"), ll, grad, it, t)


def _check_connected(w: np.ndarray, labels) -> None:
    graph = scipy.sparse.csr_matrix(w > 0)
    k, comp = scipy.sparse.csgraph.connected_components(graph, directed=True, connection="strong")
    if k == 1:
        return
    # edge i -> j: i beat (or tied with) j. A component with no edge in never lost to the others (scores -> +inf),
    # one with no edge out never beat them (-> -inf)
    into = np.zeros(k, bool)
    out = np.zeros(k, bool)
    i, j = np.nonzero(w > 0)
    cross = comp[i] != comp[j]
    out[comp[i][cross]] = True
    into[comp[j][cross]] = True
    c = int(np.argmin(into)) if not into.all() else int(np.argmin(out))
    what = "never lost to (or tied with)" if not into[c] else "never beat (or tied with)"
    members = [labels[m] for m in np.flatnonzero(comp == c)][:5]
    raise ValueError(
        f"the Bradley-Terry MLE does not exist (scores diverge): the models {members} {what} any other model; "
        "the comparison graph must be strongly connected"
    )


def _newton_bt(w: np.ndarray, tol: float, max_iter: int) -> tuple[np.ndarray, int, float]:
    n = w.shape[0]
    nn = w + w.T
    total = float(w.sum())

    def loglik(s):
        return float(np.sum(w * _log_sigmoid(s[:, None] - s[None, :])))

    def grad_hess(s):
        p = _sigmoid(s[:, None] - s[None, :])  # P(i > j)
        g = np.sum(w - nn * p, axis=1)  # dL/ds_i = sum_j w_ij (1 - p_ij) - w_ji p_ij
        h = nn * p * (1.0 - p)
        H = h - np.diag(h.sum(axis=1))  # negative semidefinite, null vector 1
        return g, H

    s = np.zeros(n)
    ll = loglik(s)
    ones = np.ones((n, n)) / n
    for it in range(1, max_iter + 1):
        g, H = grad_hess(s)
        gmax = float(np.abs(g).max())
        if gmax <= tol * total:
            return s - s.mean(), it - 1, gmax
        step = np.linalg.solve(ones - H, g)  # (11^T/n - H) is positive definite; step is orthogonal to 1
        step -= step.mean()
        a = 1.0
        while True:
            new = s + a * step
            nll = loglik(new)
            if nll >= ll - 1e-12 * abs(ll) or a < 1e-10:
                break
            a *= 0.5
        s, ll = new, nll
    g, _ = grad_hess(s)
    gmax = float(np.abs(g).max())
    if gmax <= tol * total:
        return s - s.mean(), max_iter, gmax
    raise RuntimeError(f"Bradley-Terry Newton did not converge in {max_iter} steps (gradient {gmax:.3e})")


# ---------------------------------------------------------------------------------------------------------------
# Games
# ---------------------------------------------------------------------------------------------------------------


def _unobserved_error(comparisons: Comparisons, unobserved: np.ndarray, show: int = 3) -> ValueError:
    """``unobserved``: ``[C, n, n]`` mask of the unobserved cells (both ``(i, j)`` and ``(j, i)``)."""
    C, n = comparisons.num_prompts, comparisons.num_models
    c, i, j = np.nonzero(np.triu(unobserved, 1))
    num = len(c)
    lab = comparisons.labels
    if C > 1:
        cells = [f"({comparisons.prompts[a]!r}: {lab[b]!r} vs {lab[d]!r})" for a, b, d in zip(c, i, j)]
        where = f"of the {C} x {n * (n - 1) // 2} (prompt, pair) cells"
    else:
        cells = [f"{lab[b]!r} vs {lab[d]!r}" for b, d in zip(i, j)]
        where = f"of the {n * (n - 1) // 2} pairs"
    listed = ", ".join(cells[:show]) + (f" and {num - show} more" if num > show else "")
    return ValueError(
        f"{num} {where} were never compared ({listed}); say what they are with missing=: 'tie' (P = 1/2), "
        "'bradley_terry' (P = sigma(s_i - s_j) from a Bradley-Terry fit) or 'worst_case' (every unobserved "
        "payoff -1/2 against the row player: the robust equilibrium)"
    )


def from_comparisons(
    records,
    *,
    left: str = "left",
    right: str = "right",
    winner: str = "winner",
    prompt: str | None = None,
    count: str | None = None,
    outcomes: Mapping | None = None,
    ties: float = 0.5,
    missing: str | None = None,
    kind: str = "rates",
    prior: float | None = None,
    weights: str = "counts",
    dtype=None,
    fit: BradleyTerry | None = None,
) -> Game:
    """The game of a table of pairwise comparisons (see the module docstring for the equations).

    Args:
        records: a DataFrame, a CSV path (both counted by :func:`tally` with ``left``, ``right``, ``winner``,
            ``prompt``, ``count``, ``outcomes``), or a :class:`Comparisons` already counted (the column
            arguments must then be left at their defaults).
        ties: the wins a tie counts for each side, ``t >= 0`` (1/2: half a win; 0: ties dropped).
        missing: ``"tie"``, ``"bradley_terry"`` or ``"worst_case"``; required when any (prompt, pair) cell
            was never compared, and there is no default.
        kind: ``"rates"`` (the NLHF preference game) or ``"margins"`` (the maximal-lottery game).
        prior: Beta(a, a) pseudo-counts ``a > 0`` added to both sides of every compared pair (rates only).
        weights: prompt weights of a contextual game: ``"counts"`` (``rho`` proportional to the comparisons of
            each prompt) or ``"uniform"``.
        dtype: payoff dtype (see :func:`games.core.check_dtype`).
        fit: with ``missing="bradley_terry"``, a :class:`BradleyTerry` fit of the same comparisons with the same
            ``ties`` to reuse (:func:`bradley_terry_fit`; computed when not given), e.g. across resamples.

    Returns:
        a :class:`games.Game` labelled with the model names: a preference game (rates with ``"tie"`` or
        ``"bradley_terry"``), a symmetric matrix game (margins), or an asymmetric matrix game
        (``"worst_case"``); contextual (``[C, n, n]``) when ``prompt`` names a column with two or more prompts.
    Raises:
        TypeError / ValueError: as :func:`tally`; an unknown ``kind``, ``missing`` or ``weights``; unobserved pairs
        without ``missing`` (the message counts them and lists the options); a bad ``ties`` or ``prior``; a prior
        on the margin game (pseudo-counts on both sides cancel in a margin); ``fit`` not a
        :class:`BradleyTerry`, given with another ``missing``, or fitted on other models (named) or with other
        ``ties``; more models or prompts than the game's ``[C, n, n]`` arrays leave room for in this machine's
        memory (checked before allocating).

    Example:
        >>> df = pd.DataFrame({"left": ["a", "b", "c"], "right": ["b", "c", "a"], "winner": ["left"] * 3})
        >>> g = from_comparisons(df, missing=None)
        >>> g.labels, np.asarray(g.P).tolist()
        (('a', 'b', 'c'), [[0.5, 1.0, 0.0], [0.0, 0.5, 1.0], [1.0, 0.0, 0.5]])
    """
    if isinstance(records, Comparisons):
        given = dict(left=left, right=right, winner=winner, prompt=prompt, count=count, outcomes=outcomes)
        default = dict(left="left", right="right", winner="winner", prompt=None, count=None, outcomes=None)
        changed = [k for k in given if given[k] != default[k]]
        if changed:
            raise ValueError(
                f"{changed} describe a table's columns; records is already counted (Comparisons)"
            )
        comparisons = records
    else:
        comparisons = tally(
            records, left=left, right=right, winner=winner, prompt=prompt, count=count, outcomes=outcomes
        )
    return _game(comparisons, ties, missing, kind, prior, weights, dtype, fit)


def _check_fit(fit, comparisons: Comparisons, ties: float, missing) -> None:
    if not isinstance(fit, BradleyTerry):
        raise TypeError(
            f"fit must be a games.BradleyTerry (games.bradley_terry_fit), got {type(fit).__name__}"
        )
    if missing != "bradley_terry":
        raise ValueError(f"fit is used only with missing='bradley_terry', got missing={missing!r}")
    have, want = [str(m) for m in fit.scores.index], list(comparisons.labels)
    if have != want:
        extra = [m for m in have if m not in want][:3]
        absent = [m for m in want if m not in have][:3]
        what = (
            f"models absent from the fit: {absent}; models not in the comparisons: {extra}"
            if extra or absent
            else "the same models in another order"
        )
        raise ValueError(
            f"fit covers {len(have)} models, the comparisons {len(want)} ({what}); fit the same comparisons"
        )
    if fit.ties != ties:
        raise ValueError(f"fit was made with ties={fit.ties}, the game asks for ties={ties}")


def _game(comparisons: Comparisons, ties, missing, kind, prior, weights, dtype, fit) -> Game:
    """:func:`from_comparisons` once the records are counted."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if missing is not None and missing not in MISSING:
        raise ValueError(f"missing must be one of {MISSING}, got {missing!r}")
    if weights not in ("counts", "uniform"):
        raise ValueError(f"weights must be 'counts' or 'uniform', got {weights!r}")
    t = _check_ties(ties)
    if fit is not None:
        _check_fit(fit, comparisons, t, missing)
    _check_size("from_comparisons", comparisons.num_prompts, comparisons.num_models, _GAME_ARRAYS)
    a = 0.0
    if prior is not None:
        if isinstance(prior, bool) or not isinstance(prior, numbers.Real):
            raise TypeError(f"prior must be a number of pseudo-counts > 0, got {prior!r}")
        a = float(prior)
        if not (np.isfinite(a) and a > 0):
            raise ValueError(f"prior must be a finite number of pseudo-counts > 0, got {prior!r}")
        if kind == "margins":
            raise ValueError(
                "prior applies to kind='rates' only (pseudo-counts on both sides cancel in a margin)"
            )
    W, T = comparisons.wins, comparisons.ties
    n = comparisons.num_models
    off = ~np.eye(n, dtype=bool)
    if kind == "rates":
        num = W + t * T
        den = num + np.swapaxes(num, -1, -2)
    else:
        den = W + np.swapaxes(W, -1, -2) + T
    observed = (den > 0) & off
    num_missing = int(np.sum(~observed & off)) // 2
    if num_missing and missing is None:
        raise _unobserved_error(comparisons, ~observed & off)
    with np.errstate(invalid="ignore", divide="ignore"):
        if kind == "rates":
            A = np.where(observed, (num + a) / (den + 2 * a), 0.5) - 0.5
        else:
            nbar = float(den[observed].mean())
            A = (W - np.swapaxes(W, -1, -2)) / (2.0 * nbar)
    if num_missing:
        if missing == "tie":
            fill = 0.0
        elif missing == "bradley_terry":
            fit = bradley_terry_fit(comparisons, ties=t) if fit is None else fit
            fill = np.broadcast_to(fit.payoff(), A.shape)
        else:
            fill = -0.5
        A = np.where(observed | ~off, A, fill)
    A = A * off  # exact zeros on the diagonal
    C = comparisons.num_prompts
    rho = None
    if C > 1:
        if weights == "uniform":
            rho = np.full(C, 1.0 / C)
        else:
            per = comparisons.counts.sum(axis=(1, 2))
            rho = per / per.sum()
    else:
        A = A[0]
    labels = comparisons.labels
    if missing == "worst_case" and num_missing:
        return matrix_game(A, rho, dtype=dtype, labels=labels)
    if kind == "rates":
        return preference_game(A + 0.5, rho, dtype=dtype, labels=labels)
    return matrix_game(A, rho, dtype=dtype, labels=labels)
