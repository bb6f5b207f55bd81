"""results/REPORT.md is rendered from the committed results: a fresh render must match the
committed file byte for byte, so no number in it can drift from its data."""
import shutil
import subprocess
import sys

import pytest

from conftest import REPO
from glorot_repro.analysis import report
from glorot_repro.analysis.report.data import Results
from glorot_repro.analysis.report.sections import README, SECTIONS


def test_committed_report_is_the_render_of_the_committed_results():
    committed = (REPO / "results" / "REPORT.md").read_text()
    rendered = report.render(REPO / "results")
    assert rendered == committed, "results/REPORT.md is stale: python scripts/reproduce.py report"


def test_every_section_has_its_template_and_every_template_a_section():
    assert {p.stem for p in report.TEMPLATES.glob("*.md")} == set(SECTIONS) | set(README)


def test_a_placeholder_without_a_value_names_its_section(tmp_path, monkeypatch):
    (tmp_path / "extra.md").write_text("## Extra\n\n{gap:.1f} and {missing}\n")
    monkeypatch.setattr(report, "TEMPLATES", tmp_path)
    monkeypatch.setitem(SECTIONS, "extra", lambda results: {"gap": 8.14})
    with pytest.raises(report.Unfilled, match=r"sections/extra.md: no value for 'missing'"):
        report.render_section("extra", Results(REPO / "results"))


def test_report_command_writes_the_report(tmp_path):
    shutil.copytree(REPO / "results", tmp_path / "results")
    (tmp_path / "results" / "REPORT.md").unlink()
    res = subprocess.run([sys.executable, str(REPO / "scripts" / "reproduce.py"), "report",
                          "--out", str(tmp_path / "results")], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    written = (tmp_path / "results" / "REPORT.md").read_text()
    assert written == (REPO / "results" / "REPORT.md").read_text()


def test_docs_paper_lists_the_papers_table1():
    """docs/paper.md states the numbers analysis/paper.py encodes."""
    from glorot_repro.analysis.paper import TABLE1
    text = (REPO / "docs" / "paper.md").read_text()
    for row in TABLE1.values():
        for value in row.values():
            assert f"{value:.2f}" in text, value


def test_readme_findings_are_the_render_of_the_committed_results():
    readme = (REPO / "README.md").read_text()
    assert report.render_readme(readme, REPO / "results") == readme, \
        "README.md's findings are stale: python scripts/reproduce.py report"
