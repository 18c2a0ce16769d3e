"""The layout's rules, read off the source: imports run one way, tests keep to the public surface, lint is clean.

Packages by concern, each allowed to import only those below it:

    models <- media <- provenance <- realtime
    models, media <- training
    realtime, training <- evaluation <- benchmarks <- reenact

Every ``import`` and ``from ... import`` in a module counts, at top level or inside a
function, because a late import is still a dependency.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]

# package -> the project packages it may import (itself included).
ALLOWED = {
    "models": {"models"},
    "media": {"models", "media"},
    "provenance": {"models", "media", "provenance"},
    "realtime": {"models", "media", "provenance", "realtime"},
    "training": {"models", "media", "training"},
    "evaluation": {"models", "media", "provenance", "realtime", "training", "evaluation"},
    "benchmarks": {"models", "media", "provenance", "realtime", "training", "evaluation", "benchmarks"},
    "reenact": set(),  # filled below: everything
}
ALLOWED["reenact"] = set(ALLOWED) | {"reenact"}
PROJECT = set(ALLOWED) | {"tests"}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, dotted module) for every import in ``path``; ``from a import b`` yields ``a.b`` and ``a``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def back_edges(root: Path) -> list[str]:
    """Every import in ``root``'s packages against the direction of :data:`ALLOWED`."""
    problems = []
    for package, allowed in ALLOWED.items():
        for path in sorted((root / package).rglob("*.py")):
            for line, module in imported_modules(path):
                top = module.split(".")[0]
                if top in PROJECT and top not in allowed:
                    problems.append(f"{path.relative_to(root)}:{line} imports {module}")
    return sorted(set(problems))


def test_imports_run_one_way():
    assert back_edges(REPOSITORY) == []


def fake_layout(root: Path, modules: dict[str, str]) -> None:
    """The project's package folders under ``root``, holding only ``modules`` (path -> source)."""
    for package in ALLOWED:
        (root / package).mkdir()
    for path, source in modules.items():
        (root / path).write_text(source)


def test_a_back_edge_is_caught(tmp_path):
    # The same check on a copy of the layout with one import against the direction.
    fake_layout(tmp_path, {"models/contract.py": "from realtime.pipeline import LivePipeline\n",
                           "media/late.py": "def f():\n    import training.train\n",
                           "realtime/fine.py": "from provenance import watermark\nimport numpy\n"})
    assert back_edges(tmp_path) == ["media/late.py:2 imports training.train",
                                    "models/contract.py:1 imports realtime.pipeline",
                                    "models/contract.py:1 imports realtime.pipeline.LivePipeline"]


def import_circles(root: Path) -> list[list[str]]:
    """Every circle of project modules that import each other (at top level or late), as module names."""
    modules = {".".join(path.relative_to(root).with_suffix("").parts): path
               for package in ALLOWED for path in sorted((root / package).rglob("*.py"))}
    modules = {name.removesuffix(".__init__"): path for name, path in modules.items()}
    graph = {name: sorted({module if module in modules else module.rpartition(".")[0]
                           for _, module in imported_modules(path)} & set(modules) - {name})
             for name, path in modules.items()}
    circles, done = [], set()

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            circle = trail[trail.index(name):]
            turned = circle.index(min(circle))
            circle = circle[turned:] + circle[:turned]
            if circle not in circles:
                circles.append(circle)
            return
        if name in done:
            return
        for imported in graph[name]:
            visit(imported, trail + [name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
    return circles


def test_no_two_modules_import_each_other():
    assert import_circles(REPOSITORY) == []


def test_an_import_circle_is_caught(tmp_path):
    fake_layout(tmp_path, {"realtime/pipeline.py": "def f():\n    from realtime.swap_stages import SwapBack\n",
                           "realtime/swap_stages.py": "from realtime.pipeline import BackStages\n",
                           "realtime/stages.py": "import numpy\n"})
    assert import_circles(tmp_path) == [["realtime.pipeline", "realtime.swap_stages"]]


def test_tests_import_neither_benchmarks_nor_private_names():
    problems = []
    for path in sorted((REPOSITORY / "tests").glob("*.py")):
        for line, module in imported_modules(path):
            parts = module.split(".")
            if parts[0] == "benchmarks" or (parts[0] in PROJECT and any(part.startswith("_") for part in parts)):
                problems.append(f"{path.name}:{line} imports {module}")
    assert problems == []


def test_every_verb_is_a_module_in_reenact_commands_and_no_library_module_parses_flags():
    from reenact.cli import VERBS

    commands = {path.stem for path in (REPOSITORY / "reenact" / "commands").glob("*.py")} - {"__init__"}
    assert commands == {verb.replace("-", "_") for verb in VERBS}
    parsing = [str(path.relative_to(REPOSITORY)) for package in ALLOWED if package not in ("reenact", "benchmarks")
               for path in (REPOSITORY / package).rglob("*.py")
               if any(module == "argparse" for _, module in imported_modules(path))]
    assert parsing == []


def test_flags_are_never_abbreviated(capsys):
    from reenact import cli

    # "--mod" must be neither "--mode" nor "--model"; "--lay" is not "--layout".
    for flag, value in (("--mod", "swap"), ("--lay", "pip")):
        with pytest.raises(SystemExit) as raised:
            cli.build_parser().parse_args(["live", flag, value])
        assert raised.value.code == 2 and f"unrecognized arguments: {flag} {value}" in capsys.readouterr().err
    assert cli.build_parser().parse_args(["live", "--mode", "swap"]).mode == "swap"


@pytest.mark.skipif(shutil.which("ruff", path=str(Path(sys.executable).parent)) is None,
                    reason="ruff is not installed in this environment (pip install -e '.[test]')")
def test_the_linter_is_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    result = subprocess.run([ruff, "check", "--no-cache", "."], cwd=REPOSITORY, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
