"""A griffe extension for the docs build: the library's docstrings, written for Sphinx and doctest, in markdown.

* Sphinx roles (``:func:`solve```, ``:class:`games.Game```, ``:attr:`~x.y```) become autorefs cross-references,
  ``[`solve`][solve]``, resolved in the docstring's own scope (``scoped_crossrefs``): a reference to a name the
  site does not document fails the strict build. Targets outside the project (``numpy``, ``matplotlib``, ...)
  and private names (``_helper``, not rendered) become plain code: the build reads no other site's inventory.
* An ``Args:`` entry naming several parameters (``ref, start: ...``) becomes one entry per parameter; the
  house ``Others: as run`` entry becomes a sentence after the section. Every other entry must name a parameter
  of the signature (``warn_unknown_params``), so a renamed parameter fails the build.
* A constant documented the Sphinx way, by ``#:`` comment lines just above its assignment, gets them as its
  docstring (griffe reads only a string below the assignment).
* An ``Example:`` heading becomes ``Examples:``, the Google-style section griffe parses, so its ``>>>`` lines are
  rendered as code (and not read as markdown, where ``x["gap"][-1]`` looks like a reference).
"""

from __future__ import annotations

import functools
import importlib.util
import re
import sys
from pathlib import Path

import griffe

PROJECT = ("games", "algorithms", "experiments")  #: the documented packages: pyproject's (a test checks)
ROLE = re.compile(r":(?:py:)?(?:func|class|mod|meth|attr|data|obj|exc|const|type):`(~?)([\w.]+)(\(\))?`")
EXAMPLE = re.compile(r"^(\s*)Example:[ \t]*$", re.M)


def crossrefs(text: str) -> str:
    """``text`` with every Sphinx role written as a markdown cross-reference (or as code, see above)."""

    def link(m: re.Match) -> str:
        short, target, call = m.groups()
        shown = (target.rsplit(".", 1)[-1] if short else target) + (call or "")
        root = target.split(".", 1)[0]
        external = root not in PROJECT and "." in target and is_library(root)
        if external or any(part.startswith("_") for part in target.split(".")):
            return f"`{shown}`"
        return f"[`{shown}`][{canonical(target) if root in PROJECT else target}]"

    return ROLE.sub(link, text)


ARGS = re.compile(r"^(\s*)(?:Args|Arguments|Parameters|Params):[ \t]*$")
ENTRY = re.compile(r"^(\s+)([\w*]+(?:\s*,\s*[\w*]+)*):(\s.*|)$")


def args_sections(text: str) -> str:
    """Split multi-name ``Args:`` entries and move ``Others:`` out of the section (see above)."""
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        out.append(lines[i])
        head = ARGS.match(lines[i])
        i += 1
        if not head:
            continue
        indent, others = len(head.group(1)), []
        while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
            entry = ENTRY.match(lines[i])
            block = [lines[i]]
            i += 1
            while (
                i < len(lines)
                and lines[i].strip()
                and (len(lines[i]) - len(lines[i].lstrip()) > (len(entry.group(1)) if entry else indent))
            ):
                block.append(lines[i])
                i += 1
            if entry and entry.group(2) == "Others":
                others = [f"{' ' * indent}Other arguments:{entry.group(3)}", *(l.strip() for l in block[1:])]
            elif entry and "," in entry.group(2):
                for name in entry.group(2).split(","):
                    out.extend([f"{entry.group(1)}{name.strip()}:{entry.group(3)}", *block[1:]])
            else:
                out.extend(block)
        if others:
            blanks = 0
            while out and not out[-1].strip():
                out.pop()
                blanks += 1
            out.extend(["", " ".join(others), *[""] * blanks])
    return "\n".join(out)


def plain(text: str) -> str:
    """``text`` with every Sphinx role written as code, unlinked (for summaries outside any docstring's scope)."""
    return ROLE.sub(
        lambda m: f"`{m.group(2).rsplit('.', 1)[-1] if m.group(1) else m.group(2)}{m.group(3) or ''}`", text
    )


@functools.cache
def package(name: str) -> griffe.Module:
    root = Path(__file__).resolve().parent.parent
    return griffe.load(name, search_paths=[str(root)], resolve_aliases=True, resolve_external=False)


def canonical(target: str) -> str:
    """Where ``games.Game`` or ``algorithms.Trace.to_dataframe`` is documented (its defining module's page).

    An unknown name is returned as it is, so the build reports it.
    """
    top, _, rest = target.partition(".")
    try:
        return package(top)[rest].canonical_path if rest else target
    except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return target


def is_library(name: str) -> bool:
    """Whether ``name`` is an installed top-level module (``numpy``, ``matplotlib``, ``functools``)."""
    return name in sys.stdlib_module_names or importlib.util.find_spec(name) is not None


def markdown(text: str) -> str:
    return EXAMPLE.sub(r"\1Examples:", args_sections(crossrefs(text)))


def walk(obj: griffe.Object):
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from walk(member)


def comment_docstring(attr: griffe.Attribute) -> str | None:
    """The ``#:`` comment lines right above ``attr``'s assignment, without their markers, if any."""
    lines, i, found = attr.module.lines, (attr.lineno or 0) - 2, []
    while 0 <= i < len(lines) and lines[i].strip().startswith("#:"):
        found.insert(0, lines[i].strip()[2:].strip())
        i -= 1
    return "\n".join(found) or None


class SphinxToMarkdown(griffe.Extension):
    def on_package(self, *, pkg: griffe.Module, **kwargs) -> None:
        for obj in walk(pkg):
            if obj.is_attribute and obj.docstring is None and (text := comment_docstring(obj)):
                obj.docstring = griffe.Docstring(text, lineno=obj.lineno, parent=obj)
            if obj.docstring is not None:
                obj.docstring.value = markdown(obj.docstring.value)
