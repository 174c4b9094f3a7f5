"""The shipped LLMFAO data: counts against the figures of its SOURCE.md, and shipped as package data."""

import fnmatch
import pathlib

import numpy as np
import pytest

import games

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "judge, records, ties", [("crowd", 8931, 3471), ("gpt3", 2139, 194), ("gpt4", 2139, 66)]
)
def test_llmfao_counts(judge, records, ties):
    c = games.datasets.llmfao_comparisons(judge)
    assert c.num_records == records and c.num_models == 59 and c.num_prompts == 13
    assert c.ties.sum() / 2 == ties  # T is symmetric: each tie is counted at (i, j) and (j, i)
    # SOURCE.md: 1,208 ordered pairs occur, i.e. 927 of the 1,711 unordered pairs (issue 19's first look)
    pooled = c.pooled()
    assert pooled.unobserved() == 1711 - 927
    assert len(set(zip(pooled.left, pooled.right))) == 1208
    assert np.array_equal(
        pooled.counts[0] > 0, games.datasets.llmfao_comparisons("crowd").pooled().counts[0] > 0
    )


def test_llmfao_bad_judge():
    with pytest.raises(ValueError, match="judge must be one of"):
        games.datasets.llmfao_comparisons("gpt5")


def test_package_data_ships_every_file_and_the_licence():
    files = sorted(p.name for p in (ROOT / "games" / "data" / "llmfao").iterdir())
    assert {"SOURCE.md", "LICENSE.CC-BY", "crowd-comparisons.csv"} <= set(files)
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = conf["tool"]["setuptools"]["package-data"]["games"]
    for name in files:
        assert any(fnmatch.fnmatch(f"data/llmfao/{name}", g) for g in globs), name


def test_library_llmfao_game():
    g = games.library.llmfao("crowd", missing="tie")
    assert (
        g.shape == (59, 59) and g.labels == games.datasets.llmfao_comparisons("crowd").labels and g.preference
    )
    g = games.library.llmfao("gpt4", missing="worst_case", prompts=True)
    assert g.contextual and g.A.shape == (13, 59, 59) and not g.symmetric
    with pytest.raises(ValueError, match="784 of the 1711 pairs were never compared"):
        games.library.llmfao("gpt3")
