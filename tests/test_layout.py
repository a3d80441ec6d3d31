"""The package's layout rules: small modules, thin docks, an explicit public API.

(``tools/reorganise.py`` moves this file into ``tests/`` when it builds the layout it checks.)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "napari_cathode"
MAX_MODULE_LINES = 400
MAX_DOCK_LINES = 300


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def _public_modules() -> list[Path]:
    """Modules whose own name is public, and every package ``__init__`` below the top."""
    return [
        p
        for p in _modules()
        if p != PACKAGE / "__init__.py" and (p.name == "__init__.py" or not p.stem.startswith("_"))
    ]


def _declared_all(tree: ast.Module) -> list[str] | None:
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            return list(ast.literal_eval(node.value))
    return None


def _top_level_names(tree: ast.Module) -> set[str]:
    """Every name bound at top level (also inside top-level ``if``/``try``): defs, imports, =."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def test_no_module_is_over_400_lines():
    too_long = [
        f"{p.relative_to(REPO)} ({_lines(p)} lines)"
        for p in _modules()
        if _lines(p) > MAX_MODULE_LINES
    ]
    assert not too_long, f"split these modules (at most {MAX_MODULE_LINES} lines): {too_long}"


def test_no_dock_is_over_300_lines():
    docks = sorted((PACKAGE / "_napari").glob("*_dock.py"))
    assert docks, "no dock modules found: did _napari move?"
    too_long = [f"{p.name} ({_lines(p)} lines)" for p in docks if _lines(p) > MAX_DOCK_LINES]
    assert not too_long, f"move logic out of these docks (at most {MAX_DOCK_LINES}): {too_long}"


@pytest.mark.parametrize("path", _public_modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_public_module_declares_its_api(path):
    """``__all__`` exists, names only what exists, and lists every public def and class."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    declared = _declared_all(tree)
    assert declared is not None, f"{path.relative_to(REPO)} has no __all__"
    submodules = {p.stem for p in path.parent.glob("*.py")} | {
        p.name for p in path.parent.iterdir() if (p / "__init__.py").is_file()
    }
    known = _top_level_names(tree) | (submodules if path.name == "__init__.py" else set())
    missing = [name for name in declared if name not in known]
    assert not missing, f"{path.relative_to(REPO)}: __all__ names undefined {missing}"
    public_defs = [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and not node.name.startswith("_")
    ]
    unlisted = [name for name in public_defs if name not in declared]
    assert not unlisted, (
        f"{path.relative_to(REPO)}: public but not in __all__ {unlisted} "
        "(add them to __all__, or start their names with _)"
    )
