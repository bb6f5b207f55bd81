"""results/REPORT.md, rendered: hand-written prose (sections/<name>.md) whose every number is a
placeholder (`{name}` or `{name:.1f}`, Python's format syntax; a literal brace is doubled) filled
by the section's values function (sections.py) from the committed results. Sections appear in
the order sections.py registers them. docs/report.md says how to add one."""
from __future__ import annotations

from pathlib import Path
from string import Formatter

from glorot_repro.analysis.report.data import Results
from glorot_repro.analysis.report.sections import README, SECTIONS

TEMPLATES = Path(__file__).parent / "sections"


class Unfilled(KeyError):
    """A template names a placeholder its values function does not give."""


def render_section(name: str, results: Results) -> str:
    template = (TEMPLATES / f"{name}.md").read_text()
    values = (SECTIONS | README)[name](results)
    try:
        return Formatter().vformat(template, (), values).rstrip("\n")
    except KeyError as missing:
        raise Unfilled(f"sections/{name}.md: no value for {missing}") from None


def render(root: Path = Path("results")) -> str:
    results = Results(root)
    return "\n\n".join(render_section(name, results) for name in SECTIONS) + "\n"


def block_marks(name: str) -> tuple[str, str]:
    return f"<!-- generated: {name} -->", f"<!-- end: {name} -->"


def render_readme(readme: str, root: Path = Path("results")) -> str:
    """`readme` with each generated block (between block_marks) rendered afresh from its
    template; text outside the blocks stays as written."""
    results = Results(root)
    for name in README:
        start, end = block_marks(name)
        head, rest = readme.split(start, 1)
        _, tail = rest.split(end, 1)
        readme = f"{head}{start}\n{render_section(name, results)}\n{end}{tail}"
    return readme
