"""The README stays true: its example runs as written and CI runs its test command."""

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()


def block_after(marker: str) -> str:
    m = re.search(rf"<!-- {marker} -->\n```\w*\n(.*?)```", README, re.S)
    assert m, f"README has no block after <!-- {marker} -->"
    return m.group(1)


def test_example_runs_as_written(capsys):
    exec(compile(block_after("example"), "README-example", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("[4. 3. 4.]")
    assert float(out[1].split()[-1]) < 1e-10
    assert out[2] == "INPO alone: 0.0245"


def test_feedback_example_runs_after_the_ten_lines(capsys):
    ns = {}
    exec(compile(block_after("example"), "README-example", "exec"), ns)
    code = block_after("feedback").strip().splitlines()
    exec(compile("\n".join(code[:-1]), "README-feedback", "exec"), ns)
    calls, comparisons = eval(code[-1].split("#")[0], ns)
    assert (int(calls), int(comparisons)) == (2000, 2000 * 64 * 3)  # as the comment says


@pytest.mark.slow
def test_sampled_example_runs_as_written(capsys):
    exec(compile(block_after("sampled"), "README-sampled", "exec"), {})
    reached = [float(v) for v in capsys.readouterr().out.strip().strip("[]").split()]
    assert len(reached) == 2 and reached[0] > reached[1] > 0  # more pairs per iteration, a smaller gap


@pytest.mark.slow
def test_property_test_example_runs_and_can_fail():
    code = block_after("property-test")
    ns = {}
    exec(compile(code, "README-property-test", "exec"), ns)
    ns["test_inpo_reaches_its_regularized_equilibrium"]()  # passes as written
    short = code.replace("steps=2000, record_every=2000", "steps=20, record_every=20")
    assert short != code
    exec(compile(short, "README-property-test-short", "exec"), ns)
    with pytest.raises(AssertionError):  # 20 steps are not enough: the property can fail
        ns["test_inpo_reaches_its_regularized_equilibrium"]()


def _base_docstring_example() -> str:
    import algorithms.base

    doc = algorithms.base.__doc__
    block = doc[doc.index("runs it)::\n\n") + len("runs it)::\n\n") :]
    return "".join(l[4:] if l.startswith("    ") else l for l in block.splitlines(True)).rstrip() + "\n"


def _notebook_example() -> str:
    import json

    nb = json.loads((ROOT / "notebooks" / "new_update_rule.ipynb").read_text())
    src = "".join(nb["cells"][2]["source"])
    return src[src.index("from typing") :].rstrip() + "\n"


@pytest.mark.slow
def test_new_rule_example_is_one_text_and_runs_as_written():
    """The README, algorithms.base and the notebook show the same example; it is run once, here."""
    example = block_after("new-rule")
    assert _base_docstring_example() == example
    assert _notebook_example() == example
    ns = {}
    exec(compile(example, "README-new-rule", "exec"), ns)
    assert float(ns["trace"].metrics["gap"][-1]) < 1e-10


def test_ci_runs_the_readme_test_command():
    cmd = block_after("test-command").strip()
    extracted = subprocess.run(
        ["awk", "/<!-- test-command -->/{getline; getline; print; exit}", str(ROOT / "README.md")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert extracted == cmd and "pytest" in cmd
    assert (ROOT / ".ci" / "run").read_text().count("test-command") == 1


@pytest.mark.parametrize("marker, module", [("main-command", "experiments.paper")])
def test_main_command_runs_the_paper_study(marker, module):
    assert block_after(marker).strip().endswith(f"python -m {module}")


def test_readme_figures_are_drawn_by_the_current_code():
    """Every ``docs/*.png`` the README shows carries the stamp of the code that drew it (names and a hash of the
    drawing functions and of ``experiments/common/figures.py``, written by the study); a change to that code
    without regenerating the figure fails here. Regenerate: the study's full command (see the README section
    the figure is in), then copy its PNG to ``docs/``."""
    import importlib

    from experiments.common import figures

    shown = sorted(set(re.findall(r"\]\((docs/[^)]+\.png)\)", README)))
    assert shown, "the README shows no docs/*.png"
    for path in shown:
        meta = figures.read_stamp(ROOT / path)
        assert "figure functions" in meta and figures.STAMP_KEY in meta, (
            f"{path} carries no stamp: regenerate it"
        )
        fns = []
        for name in meta["figure functions"].split():
            module, qualname = name.split(":")
            fns.append(getattr(importlib.import_module(module), qualname))
        assert meta[figures.STAMP_KEY] == figures.stamp(*fns), (
            f"{path} is older than the code that draws it ({meta['figure functions']}): regenerate it"
        )
