"""Every Python example of the README and the documentation pages runs as written, as a reader runs it: copied
into a file outside the repository (so the project's ``conftest.py``, which turns float64 on, is not there) and
run by a fresh interpreter. A page's blocks run in order as one script; a page whose code defines ``test_``
functions is run by pytest, as the page says to. What each example should print is checked where the example is
documented (``tests/test_readme.py``); here the claim is only that it runs, standalone."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
PAGES = [
    p
    for p in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    if "results" not in p.relative_to(ROOT).parts and BLOCK.search(p.read_text())
]


def test_every_page_with_python_examples_is_found():
    names = {p.relative_to(ROOT).as_posix() for p in PAGES}
    assert {"README.md", "docs/guide/property-testing.md", "docs/guide/writing-a-rule.md"} <= names


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_examples_run_standalone(page, tmp_path):
    code = "\n".join(BLOCK.findall(page.read_text()))
    is_test = re.search(r"^def test_", code, re.M) is not None
    script = tmp_path / ("test_example.py" if is_test else "example.py")
    script.write_text(code)
    cmd = (
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", script.name]
        if is_test
        else [sys.executable, script.name]
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "MPLBACKEND": "Agg", "COMAL_COMPILE_CACHE": "0"}
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, (
        f"{page.name} as a standalone script:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
