"""The studies' layout: shared code in ``experiments.common``, one module per concern, no import circles, and the
command lines unchanged by the split (``--help`` of every study equals the text recorded before it)."""

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
GOLDEN = Path(__file__).parent / "golden" / "help"
STUDIES = sorted(p.stem for p in GOLDEN.glob("*.txt"))


@pytest.mark.parametrize("study", STUDIES)
def test_help_text_is_the_recorded_one(study, capsys, monkeypatch):
    """Recorded with ``COLUMNS=100 python -m experiments.<study> --help``; regenerate a file on purpose when a
    study's options change (the diff is the review)."""
    monkeypatch.setenv("COLUMNS", "100")
    module = importlib.import_module(f"experiments.{study}")
    with pytest.raises(SystemExit) as exit_:
        module.main(["--help"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == (GOLDEN / f"{study}.txt").read_text()


def _imports(path: Path) -> set[str]:
    """The ``experiments`` modules a file imports (relative imports resolved), as dotted names."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    if path.name == "__init__.py":
        package = ".".join(path.relative_to(ROOT).parts[:-1])
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                out.add(full if (ROOT / Path(*full.split("."))).with_suffix(".py").exists() else base)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m.startswith("experiments")}


def test_experiments_have_no_import_circle_and_import_common_by_concern():
    files = sorted((ROOT / "experiments").rglob("*.py"))
    graph = {".".join(f.relative_to(ROOT).with_suffix("").parts): _imports(f) for f in files}
    graph = {k.removesuffix(".__init__"): v for k, v in graph.items()}
    for module, deps in graph.items():
        assert "experiments.common" not in deps or module.startswith("experiments.common"), (
            f"{module} imports experiments.common as a whole; import the module of the concern it uses"
        )
    state = {}

    def visit(m, path):
        if state.get(m) == "done":
            return
        assert state.get(m) != "open", f"import circle: {' -> '.join([*path, m])}"
        state[m] = "open"
        for d in sorted(graph.get(m, ())):
            visit(d, [*path, m])
        state[m] = "done"

    for m in graph:
        visit(m, [])


def test_no_common_module_holds_several_concerns():
    """Each module of ``experiments.common`` stays small enough to read in one go."""
    sizes = {p.name: len(p.read_text().splitlines()) for p in (ROOT / "experiments" / "common").glob("*.py")}
    assert max(sizes.values()) <= 400, sizes
