"""The README and the guides stay true: their examples run as written, CI runs the README's test command, the
README stays short and points at pages that exist."""

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()
#: The written pages of the documentation site (the README's examples moved there keep their markers).
PAGES = {p: p.read_text() for p in sorted((ROOT / "docs").rglob("*.md")) if "results" not in p.parts}


def block_after(marker: str) -> str:
    """The code block after ``<!-- marker -->``: in the README, else in exactly one page of ``docs/``."""
    found = [
        m.group(1)
        for text in (README, *([] if f"<!-- {marker} -->" in README else PAGES.values()))
        if (m := re.search(rf"<!-- {marker} -->\n```\w*\n(.*?)```", text, re.S))
    ]
    assert len(found) == 1, f"{len(found)} blocks after <!-- {marker} --> in the README and docs/ (want 1)"
    return found[0]


def test_readme_is_read_in_five_minutes():
    assert len(README.splitlines()) <= 200


def test_readme_links_point_at_files_that_exist():
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", re.sub(r"```.*?```", "", README, flags=re.S))
    local = [link for link in links if not re.match(r"[a-z]+:", link)]
    assert "docs/index.md" in local
    assert [link for link in local if not (ROOT / link).exists()] == []


def test_readme_gives_every_study_one_line_and_a_page():
    """One table row per study, ``python -m experiments <study>``, linking its page under ``docs/studies/``."""
    from experiments.__main__ import studies

    rows = re.findall(r"^\| `python -m experiments (\w+)` \|.*\]\(docs/studies/(\w+)\.md\) \|$", README, re.M)
    assert all(study == page for study, page in rows), rows
    assert sorted(study for study, _ in rows) == sorted(studies())  # every study, and only studies
    assert "python -m experiments <study>" in README  # the generic runner


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


def test_figures_are_drawn_by_the_current_code():
    """Every PNG the README or a page of ``docs/`` shows exists, and one that carries the stamp of the code that
    drew it (names and a hash of the drawing functions and of ``experiments/common/figures.py``, written by the
    studies that stamp their figures) matches the current code; a change to that code without regenerating the
    figure fails here. Regenerate: the command on the study's page (it names the folder under ``docs/results/``)."""
    import importlib

    from experiments.common import figures

    shown = {ROOT / p for p in re.findall(r"\]\((docs/[^)]+\.png)\)", README)}
    for page, text in PAGES.items():
        shown |= {(page.parent / p).resolve() for p in re.findall(r"\]\(([^)]+\.png)\)", text)}
    assert len(shown) >= 8, "the study pages show fewer figures than expected"
    stamped = []
    for path in sorted(shown):
        assert path.is_file(), f"{path} is shown but does not exist"
        meta = figures.read_stamp(path)
        if figures.STAMP_KEY not in meta:
            continue
        stamped.append(path.relative_to(ROOT).as_posix())
        fns = []
        for name in meta["figure functions"].split():
            module, qualname = name.split(":")
            fns.append(getattr(importlib.import_module(module), qualname))
        assert meta[figures.STAMP_KEY] == figures.stamp(*fns), (
            f"{path} is older than the code that draws it ({meta['figure functions']}): regenerate it"
        )
    assert "docs/results/paper/gap.png" in stamped


def test_wrapper_guide_keeps_its_promise_of_under_30_lines():
    code = block_after("wrapper")
    body = code[code.index("class MeanState") : code.index("\nrule = ")]
    assert len(body.strip().splitlines()) < 30
    assert "base.wrap(" in body and "conformance.check_rule(rule)" in code


@pytest.mark.slow
def test_wrapper_guide_runs_as_written(capsys):
    """``docs/guide/writing-a-wrapper.md``: COMAL re-centred on the round's mean policy, written with
    ``base.wrap`` and passed through the conformance kit (the block runs ``check_rule``)."""
    code = block_after("wrapper")
    exec(compile(code, "docs-wrapper", "exec"), ns := {})
    gap, rounds = capsys.readouterr().out.split()[1::2]  # "gap 3.5e-16 after 50 rounds"
    assert float(gap) < 1e-10 and int(rounds) == 50
    inpo = ns["algorithms"].inpo()
    rule = ns["mean_comal"](inpo, 100)
    assert rule is ns["mean_comal"](inpo, 100)  # cached: one compilation
    # the helper kept the inner rule's declarations and added the wrapper's own
    assert rule.regularized and rule.tau is not None and rule.with_hparams is not None
    assert [h.name for h in rule.hparams] == [*(h.name for h in inpo.hparams), "inner_steps"]
    # the round's mean, not its last iterate: after the first round of 2 steps, ref = mean of pi_1, pi_2
    game = ns["games"].comal_cycle()
    two = ns["algorithms"].run(ns["mean_comal"](inpo, 2), game, steps=2, record_policy=True)
    mean = (two.policies.x[1] + two.policies.x[2]) / 2
    np.testing.assert_allclose(np.exp(two.state.inner.ref.x), mean, rtol=1e-14)  # exp(log(.)): a few ulp
