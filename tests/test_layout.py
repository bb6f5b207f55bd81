"""The package's layout keeps its roles apart: read from the source's import statements (every
import a module can run, at its top or inside a function; not those under `if TYPE_CHECKING:`,
which only annotate)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "glorot_repro"
SHARED = {"glorot_repro.errors", "glorot_repro.config", "glorot_repro.rng"}  # every folder's


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def runtime_imports(tree: ast.AST) -> list[ast.AST]:
    """The import nodes of a module, less those under `if TYPE_CHECKING:`."""
    found = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that `name` imports: `from a.b import c` is a.b.c where c is a
    module, else a.b."""
    out = set()
    for node in runtime_imports(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in known}
            continue
        base = node.module or ""
        if node.level:  # relative: from the importing module's package
            package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
            base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
        if base not in known:
            continue
        subs = {f"{base}.{a.name}" for a in node.names} & known
        out |= subs
        if len(subs) < len(node.names):
            out.add(base)
    out.discard(name)
    return out


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports_of(name, path, set(found)) for name, path in found.items()}


def folder(module: str) -> str:
    """glorot_repro.<folder>... -> <folder>; a module at the package's top: its own name."""
    return module.split(".")[1] if module.count(".") else ""


def test_the_graph_is_read(graph):
    """The reader finds what the loop plainly imports, so the rules below have edges to judge."""
    assert {"glorot_repro.training.run", "glorot_repro.training.step",
            "glorot_repro.measure.windows"} <= graph["glorot_repro.train"]
    assert "glorot_repro.measure.recorder" in graph["glorot_repro.training.run"]


def test_no_import_circles(graph):
    seen, on_path, cycles = set(), [], []

    def visit(m: str) -> None:
        if m in on_path:
            cycles.append(on_path[on_path.index(m):] + [m])
            return
        if m in seen:
            return
        seen.add(m)
        on_path.append(m)
        for n in sorted(graph[m]):
            if not m.startswith(n + "."):  # a module's own package's __init__ runs first anyway
                visit(n)
        on_path.pop()

    for m in sorted(graph):
        visit(m)
    assert not cycles, [" -> ".join(c) for c in cycles]


@pytest.mark.parametrize("importer, forbidden", [
    ("measure", {"training", "command", "train", "analysis"}),
    ("rundir", {"training", "measure", "command", "train", "analysis", "nets", "data"}),
    ("analysis", {"training", "command", "train"}),
    ("nets", {"training", "measure", "rundir", "command", "train", "analysis", "data"}),
    ("data", {"training", "measure", "rundir", "command", "train", "analysis", "nets"}),
])
def test_folders_import_only_what_their_role_allows(graph, importer, forbidden):
    bad = sorted(f"{m} -> {n}" for m, deps in graph.items() if folder(m) == importer
                 for n in deps if (folder(n) or n.split(".")[-1]) in forbidden)
    assert not bad, bad


def test_the_fast_step_is_reached_only_through_the_step_interface(graph):
    """The lean step, CUDA graphs and the compiled kernel (training/fast/) sit behind
    training/step.py: nothing else imports them."""
    inside = ("glorot_repro.training.fast", "glorot_repro.training.step")
    bad = sorted(f"{m} -> {n}" for m, deps in graph.items() if not m.startswith(inside)
                 for n in deps if n.startswith("glorot_repro.training.fast"))
    assert not bad, bad


def test_shared_modules_import_nothing_of_the_package(graph):
    assert all(not graph[m] - {"glorot_repro.errors"} for m in SHARED), \
        {m: graph[m] for m in SHARED}


def test_the_rules_catch_a_breach(tmp_path):
    """The reader sees a function-level import and skips a TYPE_CHECKING one."""
    source = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
              "    from glorot_repro.training.run import Run\n"
              "def f():\n    from glorot_repro.training import step\n")
    path = tmp_path / "m.py"
    path.write_text(source)
    known = {"glorot_repro.training", "glorot_repro.training.step", "glorot_repro.training.run"}
    assert imports_of("glorot_repro.measure.m", path, known) == {"glorot_repro.training.step"}


def test_watch_is_the_packages_public_entry():
    import glorot_repro
    from glorot_repro.measure.hooks import watch

    assert glorot_repro.watch is watch


@pytest.mark.e2e
def test_the_wheel_carries_the_configs_and_the_kernel_source(tmp_path):
    """`pip install .` (not only an editable install) runs the command from any directory: the
    built wheel holds every config file, the kernel's source and the report's templates."""
    import shutil
    import subprocess
    import sys
    import zipfile

    repo, source = PACKAGE.parent, tmp_path / "source"  # a copy: the build writes beside it
    shutil.copytree(PACKAGE, source / PACKAGE.name,
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(repo / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path / "dist"), str(source)], check=True,
                   capture_output=True, timeout=600)
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = {str(p.relative_to(repo)) for pattern in ("conf/**/*.yaml", "**/*.cpp",
                                                         "analysis/report/sections/*.md")
              for p in PACKAGE.glob(pattern)}
    assert len(wanted) > 40 and "glorot_repro/conf/config.yaml" in wanted
    assert wanted <= names, sorted(wanted - names)
