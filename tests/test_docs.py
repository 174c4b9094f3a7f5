"""The documentation site builds in strict mode (a broken cross-reference fails it) and documents every exported
name, module, notebook and written page; every study's page shows tables rendered from a committed run's CSVs.
Configuration: ``mkdocs.yml``, ``docs/gen_pages.py``."""

import importlib
import importlib.util
import os
import pkgutil
import re
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


def load_docs_module(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "docs" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PACKAGES = load_docs_module("griffe_docstrings").PROJECT


def public_modules() -> list[str]:
    names = []
    for package in PACKAGES:
        names.append(package)
        for info in pkgutil.walk_packages(importlib.import_module(package).__path__, f"{package}."):
            if not any(part.startswith("_") for part in info.name.split(".")):
                names.append(info.name)
    return names


STRICT_BUILD = ["-m", "mkdocs", "build", "--strict", "--config-file", "mkdocs.yml", "--site-dir"]


def build(root: Path, out: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}
    cmd = [sys.executable, *STRICT_BUILD, str(out)]
    return subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site, built as the README says, in strict mode, into a temporary folder."""
    out = tmp_path_factory.mktemp("site")
    proc = build(ROOT, out)
    assert proc.returncode == 0, f"strict docs build failed:\n{proc.stderr[-6000:]}"
    return out


@pytest.mark.slow
def test_a_broken_reference_or_link_fails_the_build(tmp_path):
    """On a copy of the project: a docstring role naming nothing, and a guide's link to no file."""
    for name in (*PACKAGES, "notebooks", "docs"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "mkdocs.yml", tmp_path)
    shutil.copy(ROOT / "README.md", tmp_path)
    guide = tmp_path / "docs" / "guide" / "getting-started.md"
    guide.write_text(guide.read_text() + "\n![gone](no-such.png)\n")
    metrics = tmp_path / "games" / "metrics.py"
    metrics.write_text(metrics.read_text().replace('"""', '"""See :func:`games.no_such_name`. ', 1))
    proc = build(tmp_path, tmp_path / "site")
    log = proc.stderr + proc.stdout
    assert proc.returncode != 0 and "Aborted with 2 warnings in strict mode" in log, log[-3000:]
    assert "Could not find cross-reference target 'games.no_such_name'" in log
    assert "contains a link 'no-such.png', but the target 'guide/no-such.png' is not found" in log


def inventory(site: Path) -> dict[str, tuple[str, str]]:
    """``objects.inv`` (Sphinx inventory v2, as mkdocstrings writes it): name -> (role, page#anchor)."""
    data = (site / "objects.inv").read_bytes()
    header = data.split(b"\n", 4)
    assert header[0] == b"# Sphinx inventory version 2", header[0]
    entries = {}
    for line in zlib.decompress(header[4]).decode().splitlines():
        m = re.match(r"(\S+)\s+(\S+)\s+-?\d+\s+(\S+)\s+", line)
        if m:
            name, role, uri = m.groups()
            entries[name] = (role, uri.replace("$", name))
    return entries


@pytest.mark.slow
def test_every_exported_name_is_in_the_reference(site):
    """Each package's and module's ``__all__``, name by name: an inventory entry whose page holds its anchor."""
    inv = inventory(site)
    checked, missing = 0, []
    for module in public_modules():
        for name in getattr(importlib.import_module(module), "__all__", ()):
            checked += 1
            entry = inv.get(f"{module}.{name}")
            if entry is None:
                missing.append(f"{module}.{name}: not in objects.inv")
                continue
            page, _, anchor = entry[1].partition("#")
            html = site / page / "index.html" if not page.endswith(".html") else site / page
            if not html.is_file() or (anchor and f'id="{anchor}"' not in html.read_text()):
                missing.append(f"{module}.{name}: {entry[1]} has no such anchor")
    assert checked > 60  # games and algorithms alone export more
    raw = [
        p
        for p in (site / "reference").rglob("*.html")
        if re.search(r":(func|class|mod|meth|attr|data|exc):(`|<code)", p.read_text())
    ]
    assert not raw, f"Sphinx roles left as text (docs/griffe_docstrings.py not applied?): {raw}"
    assert not missing, "\n".join(missing)


WRITTEN = sorted(
    p.relative_to(ROOT / "docs") for p in (ROOT / "docs").rglob("*.md") if "results" not in p.parts
)
STUDY_PAGES = sorted((ROOT / "docs" / "studies").glob("*.md"))


@pytest.mark.slow
def test_every_module_notebook_and_page_is_on_the_site(site):
    inv = inventory(site)
    assert [m for m in public_modules() if inv.get(m, ("",))[0] != "py:module"] == []
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        page = (site / "notebooks" / notebook.stem / "index.html").read_text()
        assert "language-python" in page and (site / "notebooks" / notebook.name).is_file(), notebook.name
    for page in WRITTEN:
        html = site / (page.parent if page.name == "index.md" else page.with_suffix("")) / "index.html"
        assert html.is_file(), page
        assert "{{" not in html.read_text(), f"{page}: a directive was not expanded"
    assert len(WRITTEN) >= 20  # home, performance, the guides, one page per study


@pytest.mark.slow
def test_every_study_page_shows_tables_of_a_committed_run(site):
    for page in STUDY_PAGES:
        html = (site / "studies" / page.stem / "index.html").read_text()
        assert "<table>" in html, f"{page.name}: no table"
        assert "python -m experiments" in html, f"{page.name}: no command"


def test_every_study_page_renders_from_committed_csvs():
    """Cheap (no build): every study page expands, with a table of a committed CSV and its run's command."""
    pages = load_docs_module("gen_pages")
    assert len(STUDY_PAGES) >= 12
    for page in STUDY_PAGES:
        text = page.read_text()
        assert re.search(r"^\{\{ table: results/", text, re.M), f"{page.name}: no table directive"
        assert re.search(r"^\{\{ run: results/", text, re.M), f"{page.name}: does not say which run"
        expanded = pages.expand(text)
        assert "{{" not in expanded and re.search(r"^\|---\|", expanded, re.M), page.name
        assert "    python -m experiments" in expanded, f"{page.name}: the run's command is not shown"


def test_tables_are_rendered_with_three_significant_digits(tmp_path):
    pages = load_docs_module("gen_pages")
    (tmp_path / "t.csv").write_text(
        'rule,gap,steps,note\n"comal(inpo,100)",1.7314e-16,1240,\nmwu,0.79591,,never\n'
    )
    assert pages.csv_table(str(tmp_path / "t.csv")).splitlines() == [
        "| rule | gap | steps | note |",
        "|---|---|---|---|",
        "| comal(inpo,100) | 1.73e-16 | 1240 |  |",
        "| mwu | 0.796 |  | never |",
    ]
    assert (
        pages.csv_table(f"{tmp_path / 't.csv'} | rule == 'mwu' | rule, gap").splitlines()[2]
        == "| mwu | 0.796 |"
    )
    with pytest.raises(FileNotFoundError):
        pages.csv_table("results/no-such/summary.csv")


def test_a_quick_run_says_so(tmp_path):
    import json

    pages = load_docs_module("gen_pages")
    meta = {"command": "python -m experiments.suite --quick", "quick": True, "git": {"revision": "abc"}}
    (tmp_path / "metadata.json").write_text(json.dumps(meta))
    note = pages.run_note(str(tmp_path))
    assert (
        note.startswith('!!! warning "A --quick run"') and "    python -m experiments.suite --quick" in note
    )


def test_committed_results_are_small():
    """Summary tables and figures only: no multi-megabyte traces in ``docs/results``."""
    big = [
        f"{p.relative_to(ROOT)}: {p.stat().st_size // 1000} kB"
        for p in (ROOT / "docs" / "results").rglob("*")
        if p.is_file() and p.stat().st_size > 250_000
    ]
    assert big == []


def test_the_documented_packages_are_the_installed_ones():
    """``[tool.setuptools.packages.find] include`` (subpackages are found by both)."""
    found = re.search(
        r"^\[tool\.setuptools\.packages\.find\]\ninclude = \[(.*)\]$",
        (ROOT / "pyproject.toml").read_text(),
        re.M,
    )
    assert sorted(PACKAGES) == sorted(
        p.strip().strip('"').removesuffix("*") for p in found.group(1).split(",")
    )


def test_readme_says_how_to_serve_it_in_one_command():
    block = re.search(r"<!-- docs-command -->\n```bash\n(.*?)\n```", (ROOT / "README.md").read_text(), re.S)
    assert block and block.group(1).count("\n") == 0, "one command, on one line"
    assert 'pip install -e ".[docs]"' in block.group(1) and block.group(1).endswith("mkdocs serve")
    pyproject = (
        ROOT / "pyproject.toml"
    ).read_text()  # (tomllib is Python >= 3.11; the project supports 3.10)
    test, docs = (
        re.search(rf"^{name} = \[\n(.*?)^\]", pyproject, re.S | re.M).group(1) for name in ("test", "docs")
    )
    assert '"comal-sandbox[docs]"' in test and '"mkdocs-material' in docs and '"mkdocstrings[python]' in docs


def test_sphinx_roles_become_checked_cross_references():
    roles = load_docs_module("griffe_docstrings")
    assert roles.crossrefs("see :func:`solve`.") == "see [`solve`][solve]."
    assert roles.crossrefs(":class:`~games.Game`") == "[`Game`][games.core.Game]"  # where it is documented
    assert roles.crossrefs(":meth:`algorithms.Trace.to_dataframe`") == (
        "[`algorithms.Trace.to_dataframe`][algorithms.trace.Trace.to_dataframe]"
    )
    assert (
        roles.crossrefs(":func:`games.no_such_name`") == "[`games.no_such_name`][games.no_such_name]"
    )  # fails
    assert (
        roles.crossrefs(":class:`matplotlib.figure.Figure`") == "`matplotlib.figure.Figure`"
    )  # no inventory
    assert roles.crossrefs(":func:`experiments.benchmark._helper`") == "`experiments.benchmark._helper`"


def test_multi_name_and_others_entries_leave_args_to_griffe():
    roles = load_docs_module("griffe_docstrings")
    doc = [
        "Sum.", "", "    Args:", "        a, b: the terms,", "            both ints.",
        "        Others: as :func:`run`.", "", "    Done.",
    ]  # fmt: skip
    assert roles.args_sections("\n".join(doc)).splitlines() == [
        "Sum.", "", "    Args:",
        "        a: the terms,", "            both ints.", "        b: the terms,", "            both ints.",
        "", "    Other arguments: as :func:`run`.", "", "    Done.",
    ]  # fmt: skip


def test_hash_colon_comments_document_constants():
    import griffe

    roles = load_docs_module("griffe_docstrings")
    code = "X = 0\n#: The tolerance of :func:`f`,\n#: relative.\nTOL = 1e-9\n\n\ndef f():\n    pass\n"
    with griffe.temporary_visited_module(code) as module:
        roles.SphinxToMarkdown().on_package(pkg=module)
        assert module["TOL"].docstring.value == "The tolerance of [`f`][f],\nrelative."
        assert module["X"].docstring is None


def test_links_point_at_the_site_or_are_left_for_the_strict_build_to_report():
    pages = load_docs_module("gen_pages")
    anchors = {"ten-lines": "guide/ten-lines.md"}

    def fix(text, source_dir="", page="guide/performance.md"):
        return pages.rewrite_links(text, source_dir, page, anchors)

    assert fix("[x](#ten-lines)") == "[x](ten-lines.md#ten-lines)"  # a heading of a written page
    assert fix("![g](docs/gap.png)") == "![g](../gap.png)"
    assert fix("[n](notebooks/quickstart.ipynb)", page="index.md") == "[n](notebooks/quickstart.md)"
    assert fix("[c](games/core.py)") == "[c](../reference/games/core.md)"
    assert (
        fix("[r](../README.md#ten-lines)", "notebooks", "notebooks/q.md")
        == "[r](../guide/ten-lines.md#ten-lines)"
    )
    assert fix("[t](tests/test_docs.py)") == "t (`tests/test_docs.py`)"  # in the repository, not on the site
    for kept in (
        "[b](nope.md)",
        "[b](#nope)",
        "[w](https://arxiv.org/abs/2410.23223)",
        "```\n[a](nope.md)\n```",
    ):
        assert fix(kept) == kept
    assert fix("[own](#a-cell)", "notebooks", "notebooks/q.md") == "[own](#a-cell)"


def test_a_notebook_that_is_not_json_is_named_in_one_line(tmp_path):
    """A broken notebook dropped into notebooks/ stops the build with one line naming it (issue 33)."""
    gen = load_docs_module("gen_pages")
    bad = tmp_path / "broken.ipynb"
    bad.write_text('{"cells": [')
    with pytest.raises(SystemExit, match=r"^docs: notebooks/broken\.ipynb is not a readable notebook: "):
        gen.notebook_markdown(bad)
    bad.write_text('{"nbformat": 4}')  # JSON, but no cells
    with pytest.raises(SystemExit, match=r"notebooks/broken\.ipynb is not a readable notebook: 'cells'"):
        gen.notebook_markdown(bad)
