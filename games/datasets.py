"""Comparison data sets shipped with the package (no network at run time).

* :func:`llmfao_comparisons` — LLMFAO (D. Ustalov, https://github.com/dustalov/llmfao, commit 9e224e94, CC BY 4.0; the
  prompts, models and responses come from llmonitor.com's Crowdsourced LLM Benchmark under the same licence):
  59 language models on 13 prompts; 8,931 crowd judgments (``left``, ``right`` or ``tie``), and the same 2,139
  pairs judged once each by GPT-3.5 Turbo Instruct and by GPT-4. The files are unchanged copies, with their
  ``SOURCE.md`` and licence text, under ``games/data/llmfao/``.
"""

from __future__ import annotations

import functools
import importlib.resources

import pandas as pd

from .comparisons import Comparisons, tally

__all__ = ["llmfao_comparisons", "llmfao_table", "LLMFAO_JUDGES"]

#: The judges of LLMFAO and their files.
LLMFAO_JUDGES = {
    "crowd": "crowd-comparisons.csv",
    "gpt3": "gpt3-crowd-comparisons.csv",
    "gpt4": "gpt4-crowd-comparisons.csv",
}


def _path(name: str):
    return importlib.resources.files("games").joinpath("data", "llmfao", name)


def _check_judge(judge) -> str:
    if judge not in LLMFAO_JUDGES:
        raise ValueError(f"judge must be one of {list(LLMFAO_JUDGES)}, got {judge!r}")
    return judge


@functools.cache
def _table(judge: str) -> pd.DataFrame:
    with _path(LLMFAO_JUDGES[judge]).open("r", encoding="utf-8") as f:
        table = pd.read_csv(f)
    with _path("prompts.jsonl").open("r", encoding="utf-8") as f:
        slugs = pd.read_json(f, lines=True).set_index("id")["slug"]
    table["slug"] = table["prompt"].map(slugs)
    return table


def llmfao_table(judge: str = "crowd") -> pd.DataFrame:
    """LLMFAO's records of one judge as a DataFrame (a fresh copy): the file's columns (``id, prompt, model_x,
    model_y, [worker,] winner, left, right``; ``winner`` is ``left``, ``right`` or ``tie``; ``left``/``right``
    are model names) and ``slug``, the prompt's short name.

    Raises:
        ValueError: an unknown judge.
    """
    return _table(_check_judge(judge)).copy()


def llmfao_comparisons(judge: str = "crowd") -> Comparisons:
    """LLMFAO's comparisons of one judge, counted per prompt (prompts named by slug): :func:`games.tally` of
    :func:`llmfao_table` with ``prompt="slug"``. ``.pooled()`` gives the single (prompt-free) counts; their
    game is :func:`games.from_comparisons` of them (:func:`games.library.llmfao` in one call).

    Args:
        judge: ``"crowd"`` (8,931 human judgments), ``"gpt3"`` (GPT-3.5 Turbo Instruct) or ``"gpt4"``
            (2,139 judgments each: one per pair shown to the crowd).
    Raises:
        ValueError: an unknown judge.

    Example:
        >>> c = games.datasets.llmfao_comparisons("crowd")
        >>> c.num_records, c.num_models, c.num_prompts, c.pooled().unobserved()
        (8931, 59, 13, 784)
    """
    return tally(llmfao_table(judge), prompt="slug")
