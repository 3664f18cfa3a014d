"""The figures quoted in docs/ agree with the benchmark result files (scripts/docs_check.py, `make docs-check`),
and the check notices when they do not. Reads files only: well under a second."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("docs_check", ROOT / "scripts" / "docs_check.py")
assert _spec is not None and _spec.loader is not None
docs_check = sys.modules["docs_check"] = importlib.util.module_from_spec(_spec)  # dataclasses look their module up
_spec.loader.exec_module(docs_check)

DEFAULT_RUN = "catdog predict, default run"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of what the check reads: docs/, README.md and benchmarks/results/."""
    shutil.copytree(ROOT / "docs", tmp_path / "docs", ignore=shutil.ignore_patterns("images"))
    shutil.copytree(ROOT / "benchmarks" / "results", tmp_path / "benchmarks" / "results")
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    return tmp_path


def _speedup_cell(root: Path) -> str:
    """The default run's ratio as BENCHMARKS.md's labelling table quotes it (read, not hard-coded)."""
    checked, _ = docs_check.check(root)
    return next(c.quoted for c in checked if c.where == f"{docs_check.LABELLING} | {DEFAULT_RUN} | × seed-style")


def test_docs_quote_their_result_files(capsys: pytest.CaptureFixture[str]) -> None:
    checked, problems = docs_check.check(ROOT)
    assert problems == [], "\n".join(problems)
    docs = {figure.doc for figure in docs_check.FIGURES}
    assert {c.doc for c in checked} == docs  # every document listed had figures found and checked
    assert len(checked) > len(docs_check.FIGURES)  # table entries cover every row
    assert docs_check.main(["--quiet"]) == 0


def test_a_changed_table_figure_is_the_one_reported(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    quoted = _speedup_cell(repo)
    changed = f"{float(quoted.rstrip('×')) + 1:.2f}×"
    doc = repo / "docs" / "BENCHMARKS.md"
    lines = doc.read_text().splitlines(keepends=True)
    # The labelling table's row: the first of its name (the first look's table, further down, has one too).
    row = next(i for i, line in enumerate(lines) if line.startswith(f"| {DEFAULT_RUN} |"))
    assert lines[row].count(f"| {quoted} |") == 1
    lines[row] = lines[row].replace(f"| {quoted} |", f"| {changed} |")
    doc.write_text("".join(lines))

    _, problems = docs_check.check(repo)
    assert len(problems) == 1, problems
    (problem,) = problems
    assert problem.startswith("docs/BENCHMARKS.md: ")
    assert f"{DEFAULT_RUN} | × seed-style" in problem
    assert f"the doc says {changed!r}" in problem and f"processes.json gives {quoted!r}" in problem

    assert docs_check.main(["--root", str(repo), "--quiet"]) == 1
    assert capsys.readouterr().out.splitlines() == [problem]


def test_a_changed_sentence_figure_is_reported(repo: Path) -> None:
    quoted = _speedup_cell(repo)
    doc = repo / "docs" / "BENCHMARKS.md"
    text = doc.read_text()
    assert text.count(f"**met: {quoted}**") == 1
    doc.write_text(text.replace(f"**met: {quoted}**", "**met: 9.99×**"))
    _, problems = docs_check.check(repo)
    assert len(problems) == 1, problems
    assert "the doc says '9.99×'" in problems[0] and f"gives {quoted!r}" in problems[0] and DEFAULT_RUN in problems[0]


def test_a_missing_result_file_is_reported_not_passed(repo: Path) -> None:
    (repo / docs_check.PROCESSES).unlink()
    _, problems = docs_check.check(repo)
    expected = [f for f in docs_check.FIGURES if f.result == docs_check.PROCESSES]
    assert expected and len(problems) == len(expected)
    assert all(f"{docs_check.PROCESSES} is missing" in p for p in problems)


def test_a_doc_row_the_result_file_lacks_is_reported(repo: Path) -> None:
    path = repo / docs_check.PROCESSES
    results = json.loads(path.read_text())
    dropped = list(results["inference"]["walls"])[-1]
    del results["inference"]["walls"][dropped]
    path.write_text(json.dumps(results))
    _, problems = docs_check.check(repo)
    assert problems and all(dropped in p and "has no such entry" in p for p in problems)


def test_a_figure_that_moved_is_reported(repo: Path) -> None:
    doc = repo / "docs" / "TRUST.md"
    doc.write_text(doc.read_text().replace("Size 224 px", "At 224 px"))
    _, problems = docs_check.check(repo)
    assert problems and all(p.startswith("docs/TRUST.md: Size 224 px") and "not found" in p for p in problems)
