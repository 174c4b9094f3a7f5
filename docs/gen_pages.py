"""Generate the documentation site's pages at build time (run by mkdocs-gen-files; nothing here is committed output).

Pages are found rather than listed, so a new module, notebook, guide or study page gets its place in the
navigation with no edit to ``mkdocs.yml``:

* the written pages, ``docs/**/*.md`` (``index.md``, ``guide/*.md``, ``studies/*.md``, ``performance.md``): three
  directives are expanded at build time, each on a line of its own (paths relative to ``docs/``):

  - ``{{ table: results/paper/summary.csv }}``: the CSV as a markdown table, floats to 3 significant digits
    (``{{ table: results/suite/suite.csv | feedback == 'exact' | rule, game, gap | rule, game, gap }}``: a
    ``DataFrame.query``, the columns to show and a pivot ``index, columns, values``, each optional). A committed
    run's numbers reach a page only this way, never copied by hand;
  - ``{{ run: results/paper }}``: which command produced that run's files, when, at which revision (from its
    ``metadata.json``), and a warning when it was a ``--quick`` run;
  - ``{{ readme: example }}``: the README's code block after ``<!-- example -->``, so the two never differ;
* ``reference/<package>/<module>.md`` for every public module of :data:`PACKAGES` (a ``::: module`` block that
  mkdocstrings renders from the docstrings; a package's page also tabulates its ``__all__``);
* ``notebooks/<name>.md`` for every ``notebooks/*.ipynb``: markdown cells as they are, code cells as code. The
  notebooks are committed without outputs and are not executed here (``tests/test_notebooks.py`` runs them).

Links in the notebooks are rewritten for the site: ``docs/x.png`` to the picture, ``notebooks/x.ipynb`` to its
page, a module's file (``games/core.py``) to its reference page, ``README.md#anchor`` to the written page holding
that heading. A link to anything else that does not exist is left alone, so the strict build fails on it.
"""

from __future__ import annotations

import importlib.util
import json
import posixpath
import re
from pathlib import Path

import griffe
import mkdocs_gen_files
import pandas as pd
from markdown.extensions.toc import slugify

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("griffe_docstrings", ROOT / "docs" / "griffe_docstrings.py")
roles = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(roles)
PACKAGES = roles.PROJECT
LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)(\))")
FENCE = re.compile(r"^(```|~~~)")
DIRECTIVE = re.compile(r"^\{\{\s*(table|run|readme):\s*(.*?)\s*\}\}\s*$")
DOCS = ROOT / "docs"
#: The guides' order in the navigation; a guide not named here follows, by title.
GUIDE_ORDER = ("getting-started", "studies", "writing-a-rule", "writing-a-wrapper", "property-testing")


def modules() -> list[tuple[str, str]]:
    """(dotted module name, page path) for every public module, packages first within each folder."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
                page = "/".join(["reference", *parts, "index.md"])
            else:
                page = "/".join(["reference", *parts]) + ".md"
            if any(p.startswith("_") for p in parts):  # private modules and __main__
                continue
            folders = path.relative_to(ROOT).parents[:-1]  # the package folders above it, up to the package
            if not all((ROOT / folder / "__init__.py").is_file() for folder in folders):
                continue  # a data or script folder, not a subpackage
            found.append((".".join(parts), page))
    return sorted(found, key=lambda mp: (PACKAGES.index(mp[0].split(".")[0]), mp[0].split(".")))


MODULES = modules()
MODULE_PAGES = {name.replace(".", "/"): page for name, page in MODULES}


def format_cell(value) -> str:
    """A CSV cell for a table: floats to 3 significant digits, integers and text as they are, NaN empty."""
    if isinstance(value, float):
        if value != value:
            return ""
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.3g}"
    return str(value).replace("|", "\\|")


def csv_table(spec: str) -> str:
    """``path[ | query[ | columns[ | pivot]]]`` (relative to ``docs/``) as a markdown table; ``pivot`` is
    ``index, columns, values`` of :meth:`pandas.DataFrame.pivot` (the orders of first appearance kept)."""
    path, query, columns, pivot = ([p.strip() for p in spec.split("|")] + ["", "", ""])[:4]
    file = DOCS / path
    if not file.is_file():
        raise FileNotFoundError(f"{{{{ table: {spec} }}}}: no file docs/{path}")
    frame = pd.read_csv(file, keep_default_na=False, na_values=[""])
    if query:
        frame = frame.query(query, engine="python")
    if columns:
        frame = frame[[c.strip() for c in columns.split(",")]]
    if pivot:
        index, across, values = (c.strip() for c in pivot.split(","))
        rows, cols = frame[index].unique(), frame[across].unique()
        frame = frame.pivot(index=index, columns=across, values=values).loc[rows, cols].reset_index()
        frame.columns.name = None
    if frame.empty:
        raise ValueError(f"{{{{ table: {spec} }}}}: no rows")
    head = "| " + " | ".join(str(c).replace("|", "\\|") for c in frame.columns) + " |"
    rows = ["| " + " | ".join(format_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, "|" + "---|" * len(frame.columns), *rows])


def run_note(folder: str) -> str:
    """Which command produced a committed run (its ``metadata.json``), as an admonition."""
    meta = json.loads((DOCS / folder / "metadata.json").read_text())
    git = meta.get("git", {})
    rev = (git.get("revision") or "unknown")[:10] + (" (uncommitted changes)" if git.get("dirty") else "")
    when = meta.get("time_utc", "unknown time")
    kind = "warning" if meta.get("quick") else "note"
    title = "A --quick run" if meta.get("quick") else "A full run"
    text = (
        f"The tables and figures below are from `docs/{folder}/`, written by\n\n"
        f"    {meta['command']}\n\n"
        f"at revision `{rev}`, {when}, {meta.get('dtype', 'float64')}."
    )
    if meta.get("quick"):
        text += " This was a `--quick` run (fewer steps, seeds or games): the full run's numbers differ."
    return f'!!! {kind} "{title}"\n' + "".join(
        f"    {line}\n" if line else "\n" for line in text.splitlines()
    )


def readme_block(marker: str) -> str:
    """The README's fenced block after ``<!-- marker -->``."""
    m = re.search(rf"<!-- {re.escape(marker)} -->\n(```\w*\n.*?```)", (ROOT / "README.md").read_text(), re.S)
    if not m:
        raise ValueError(f"{{{{ readme: {marker} }}}}: the README has no block after <!-- {marker} -->")
    return m.group(1)


def expand(markdown: str) -> str:
    """The page with its directives (outside code blocks) replaced by what they stand for."""
    out, in_fence = [], False
    for line in markdown.splitlines():
        if FENCE.match(line.lstrip()):
            in_fence = not in_fence
        m = None if in_fence else DIRECTIVE.match(line)
        if m is None:
            out.append(line)
        else:
            kind, arg = m.groups()
            out.append({"table": csv_table, "run": run_note, "readme": readme_block}[kind](arg))
    return "\n".join(out) + "\n"


def title_of(markdown: str, fallback: str) -> str:
    m = re.search(r"^#\s+(.+)$", markdown, re.M)
    return m.group(1).strip() if m else fallback


def headings(markdown: str) -> list[str]:
    """The slugs of a page's headings (as the toc extension makes them)."""
    out, in_fence = [], False
    for line in markdown.splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and (m := re.match(r"#+\s+(.*)", line)):
            out.append(slugify(re.sub(r"[`*]", "", m.group(1)).strip(), "-"))
    return out


def site_target(repo_path: str, anchors: dict[str, str]) -> str | None:
    """The page or file of the site that shows ``repo_path`` (a path inside the repository), if any."""
    path, _, anchor = repo_path.partition("#")
    if path in ("", "README.md"):
        return f"{anchors[anchor]}#{anchor}" if anchor in anchors else ("index.md" if not anchor else None)
    if path.startswith("docs/"):
        return repo_path[len("docs/") :]
    if path.startswith("notebooks/") and path.endswith(".ipynb"):
        return path[: -len(".ipynb")] + ".md" + (f"#{anchor}" if anchor else "")
    stem = path[: -len("/__init__.py")] if path.endswith("/__init__.py") else path.removesuffix(".py")
    if stem in MODULE_PAGES:
        return MODULE_PAGES[stem]
    return None


def rewrite_links(markdown: str, source_dir: str, page: str, anchors: dict[str, str]) -> str:
    """Point the links of a file from ``source_dir`` (repository-relative) at the site, from ``page``."""

    def fix(m: re.Match) -> str:
        target = m.group(2)
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or (target.startswith("#") and source_dir):
            return m.group(0)  # another site, or an anchor of a notebook's own page
        if target.startswith("#"):
            repo_path = "README.md" + target
        else:
            repo_path = posixpath.normpath(posixpath.join(source_dir, target))
        if (mapped := site_target(repo_path, anchors)) is None:
            if (
                "#" not in repo_path and (ROOT / repo_path).is_file()
            ):  # a repository file the site does not show
                return f"{m.group(1).lstrip('!')[1:-2]} (`{repo_path}`)"
            return m.group(0)  # broken: the strict build reports it
        path, _, anchor = mapped.partition("#")
        rel = posixpath.relpath(path, posixpath.dirname(page) or ".")
        return f"{m.group(1)}{rel}{'#' + anchor if anchor else ''}{m.group(3)}"

    out, in_fence = [], False
    for line in markdown.splitlines(keepends=True):
        if FENCE.match(line.lstrip()):
            in_fence = not in_fence
        out.append(line if in_fence else LINK.sub(fix, line))
    return "".join(out)


def notebook_markdown(path: Path) -> tuple[str, str]:
    """(title, markdown) of a notebook: markdown cells verbatim, code cells fenced, no outputs."""
    try:
        nb = json.loads(path.read_text())
        cells = [(c["cell_type"], "".join(c["source"]).strip("\n")) for c in nb["cells"]]
    except (ValueError, KeyError, TypeError) as e:  # one line naming the file, not a 50-line traceback
        raise SystemExit(f"docs: notebooks/{path.name} is not a readable notebook: {e}") from None
    parts, title = [], None
    for kind, source in cells:
        if kind == "markdown":
            if title is None and (m := re.match(r"#\s+(.*)", source)):
                title = m.group(1).strip()
            parts.append(source)
        elif kind == "code" and source:
            parts.append(f"```python\n{source}\n```")
    title = title or path.stem.replace("_", " ")
    if not parts or not parts[0].startswith("# "):
        parts.insert(0, f"# {title}")
    note = (
        f"[Download the notebook]({path.name}) (`notebooks/{path.name}`). Shown without outputs: the docs build "
        "does not run it; `tests/test_notebooks.py` does."
    )
    parts.insert(1, f'!!! note ""\n    {note}')
    return title, "\n\n".join(parts) + "\n"


LOADED: dict[str, griffe.Module] = {}


def load(name: str) -> griffe.Module:
    """The module ``name`` as griffe reads it (statically: nothing is imported)."""
    top = name.split(".", 1)[0]
    if top not in LOADED:
        LOADED[top] = griffe.load(top, search_paths=[str(ROOT)], resolve_aliases=True, resolve_external=False)
    return LOADED[top] if top == name else LOADED[top][name.split(".", 1)[1]]


def own_members(name: str) -> list[str]:
    """The public names a package defines itself (what its page renders; the rest are its modules' pages)."""
    package = load(name)
    return [m for m, obj in package.members.items() if not obj.is_alias and not m.startswith("_")]


def package_exports(name: str) -> str:
    """A table of the package's ``__all__``: each name linked to the page that documents it."""
    package = load(name)
    exports = package.exports
    if not exports:
        return ""
    rows = ["| name | kind | summary |", "|---|---|---|"]
    for export in exports:
        export = export if isinstance(export, str) else export.name
        obj = package[export]
        target = obj.final_target if obj.is_alias else obj
        doc = target.docstring.value.strip().split("\n\n")[0].replace("\n", " ") if target.docstring else ""
        doc = roles.plain(doc).replace("|", "\\|")
        rows.append(f"| [`{export}`][{target.path}] | {target.kind.value} | {doc} |")
    return "\n## Exports (`__all__`)\n\n" + "\n".join(rows) + "\n"


def main() -> None:
    nav = mkdocs_gen_files.Nav()

    written = {
        path.relative_to(DOCS).as_posix(): path.read_text()
        for path in sorted(DOCS.rglob("*.md"))
        if "results" not in path.relative_to(DOCS).parts
    }
    anchors = {slug: page for page, text in written.items() for slug in headings(text)}
    for page, text in written.items():
        if any(DIRECTIVE.match(line) for line in text.splitlines()):
            with mkdocs_gen_files.open(page, "w") as f:  # replaces the written file in the build
                f.write(expand(text))
    nav[("Home",)] = "index.md"

    def guide_key(page: str) -> tuple:
        stem = Path(page).stem
        order = GUIDE_ORDER.index(stem) if stem in GUIDE_ORDER else len(GUIDE_ORDER)
        return order, title_of(written[page], stem)

    for section, folder in (("Guides", "guide"), ("Studies", "studies")):
        for page in sorted((p for p in written if p.startswith(f"{folder}/")), key=guide_key):
            nav[(section, title_of(written[page], Path(page).stem))] = page
    for page in sorted(p for p in written if "/" not in p and p != "index.md"):
        nav[(title_of(written[page], Path(page).stem),)] = page

    for path in sorted((ROOT / "notebooks").glob("*.ipynb"), key=lambda p: (p.stem != "quickstart", p.stem)):
        page = f"notebooks/{path.stem}.md"
        title, text = notebook_markdown(path)
        with mkdocs_gen_files.open(page, "w") as f:
            f.write(rewrite_links(text, "notebooks", page, anchors))
        with mkdocs_gen_files.open(f"notebooks/{path.name}", "wb") as f:
            f.write(path.read_bytes())
        nav[("Notebooks", title)] = page

    for name, page in MODULES:
        is_package = page.endswith("/index.md")
        body = f"---\ntitle: {name}\n---\n\n::: {name}\n"
        if is_package:
            members = own_members(name)
            body += f"    options:\n      members: {json.dumps(members) if members else 'false'}\n"
            body += package_exports(name)
        with mkdocs_gen_files.open(page, "w") as f:
            f.write(body)
        nav[("API reference", *name.split("."))] = page

    with mkdocs_gen_files.open("SUMMARY.md", "w") as f:
        f.writelines(nav.build_literate_nav())


if __name__ in ("__main__", "<run_path>"):  # mkdocs-gen-files runs this file with runpy.run_path
    main()
