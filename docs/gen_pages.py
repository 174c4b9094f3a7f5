"""Generate the documentation site's pages at build time (run by mkdocs-gen-files; nothing here is committed output).

Three kinds of page, found rather than listed, so a new module, notebook or README section gets its page with no
edit to ``mkdocs.yml``:

* ``reference/<package>/<module>.md`` for every public module of :data:`PACKAGES` (a ``::: module`` block that
  mkdocstrings renders from the docstrings; a package's page also tabulates its ``__all__``);
* ``guide/<section>.md`` for every ``## `` section of the README (``index.md`` is its introduction);
* ``notebooks/<name>.md`` for every ``notebooks/*.ipynb``: markdown cells as they are, code cells as code. The
  notebooks are committed without outputs and are not executed here (``tests/test_notebooks.py`` runs them).

Links are rewritten for the site: ``docs/x.png`` to the picture, ``notebooks/x.ipynb`` to its page, a module's
file (``games/core.py``) to its reference page, ``#anchor`` to the page holding that README heading. A link to
anything else that does not exist is left alone, so the strict build fails on it.
"""

from __future__ import annotations

import importlib.util
import json
import posixpath
import re
from pathlib import Path

import griffe
import mkdocs_gen_files
from markdown.extensions.toc import slugify

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("griffe_docstrings", ROOT / "docs" / "griffe_docstrings.py")
roles = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(roles)
PACKAGES = roles.PROJECT
LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)(\))")
FENCE = re.compile(r"^(```|~~~)")


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


def split_readme(text: str) -> list[tuple[str, str, str]]:
    """(title, page path, markdown) for the README's introduction and each of its ``## `` sections."""
    chunks, title, page, lines, in_fence = [], None, "index.md", [], False
    for line in text.splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
        if not in_fence and line.startswith("## "):
            chunks.append((title, page, lines))
            title = line[3:].strip()
            page = f"guide/{slugify(title, '-')}.md"
            lines = [f"# {title}"]
            continue
        if not in_fence and title is not None and line.startswith("###"):
            line = line[1:]  # one level up: the section's title is the page's
        lines.append(line)
    chunks.append((title, page, lines))
    return [(t or "Home", p, "\n".join(ls) + "\n") for t, p, ls in chunks]


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
    nb = json.loads(path.read_text())
    parts, title = [], None
    for cell in nb["cells"]:
        source = "".join(cell["source"]).strip("\n")
        if cell["cell_type"] == "markdown":
            if title is None and (m := re.match(r"#\s+(.*)", source)):
                title = m.group(1).strip()
            parts.append(source)
        elif cell["cell_type"] == "code" and source:
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

    readme = split_readme((ROOT / "README.md").read_text())
    anchors = {slug: page for _, page, text in readme for slug in headings(text)}
    for title, page, text in readme:
        with mkdocs_gen_files.open(page, "w") as f:
            f.write(rewrite_links(text, "", page, anchors))
        nav[("Guide", title) if page != "index.md" else ("Home",)] = page

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
