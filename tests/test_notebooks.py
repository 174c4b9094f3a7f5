"""The notebooks run top to bottom (quick mode), so they never rot. They are committed without outputs."""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_notebooks_exist():
    assert {p.name for p in NOTEBOOKS} >= {"quickstart.ipynb", "new_update_rule.ipynb", "paper_figure.ipynb"}


def execute(path: Path, cwd: Path, monkeypatch):
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        "commit notebooks without outputs"
    )
    monkeypatch.setenv("COMAL_QUICK", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # as in Jupyter: the kernel picks its own backend
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    ).execute()
    return nb


#: Notebooks that take over ~15 s on the 2-core CI machine: in the slow run (CI runs it too).
SLOW = {"sampled_preferences", "new_update_rule", "sequences"}


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(p, marks=pytest.mark.slow) if p.stem in SLOW else p
        for p in NOTEBOOKS
        if p.stem != "paper_figure"
    ],
    ids=lambda p: p.stem,
)
def test_notebook_runs(path, tmp_path, monkeypatch):
    execute(path, tmp_path, monkeypatch)


@pytest.mark.slow
def test_paper_figure_draws_its_figure_from_the_notebooks_folder(monkeypatch):
    """Opened in Jupyter, the kernel starts in notebooks/: the figure cell must still show an image."""
    nb = execute(ROOT / "notebooks" / "paper_figure.ipynb", ROOT / "notebooks", monkeypatch)
    cells = [c for c in nb.cells if "figure" in c.metadata.get("tags", [])]
    assert len(cells) == 1
    outputs = cells[0]["outputs"]
    assert any("image/png" in o.get("data", {}) for o in outputs), outputs
    assert not any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", []))
