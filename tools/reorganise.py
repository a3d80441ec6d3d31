"""Move napari_cathode into subpackages that show its architecture (issue 13), in one run.

Run from the repository root, on a clean tree, after every branch is merged::

    .venv/bin/python tools/reorganise.py            # do it (then review `git status`, commit)
    .venv/bin/python tools/reorganise.py --dry-run  # only print the plan

What it does, in this order (every step skips what is already done, so a second run changes
nothing):

1. rewrites every reference to a moved module in src/, tests/, benchmarks/, scripts/, tools/,
   docs/, README.md, pyproject.toml, napari.yaml and Makefile: dotted names
   (``napari_cathode.core.volumes``, also in strings: ``mock.patch`` targets, ``python -m``),
   ``from napari_cathode.core import volumes`` and relative imports, file paths
   (``core/volumes.py``, ``tests/test_volumes.py``) and, in Markdown, short names
   (``core.volumes``);
2. ``git mv``s the modules (:data:`MODULE_MOVES`) and the tests (:data:`TEST_MOVES`; a test file
   it does not know is placed by what it imports, see :func:`place_test`);
3. adds ``__all__`` to every public module that has none (the names the module defines, not
   starting with ``_``, not imported) and to every package ``__init__``;
4. adds the import-linter contracts of the new subpackages to pyproject.toml;
5. moves ``tools/test_layout.py`` (module sizes, ``__all__`` present) into tests/;
6. sorts imports and ``__all__`` and formats the files it changed (ruff).

Flat modules it does not know stay where they are and are listed at the end, with the test
files it could not place and references it could not rewrite (globs such as
``core/volume_*.py`` in prose).
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

PACKAGE = "napari_cathode"
SRC = Path("src") / PACKAGE

#: old module -> new module, relative to napari_cathode. A source that does not exist is skipped.
MODULE_MOVES = {
    # core/io: reading and writing volume files
    "core.volumes": "core.io.volumes",
    "core.volume_axes": "core.io.axes",
    "core.volume_tiff": "core.io.tiff",
    "core.volume_slices": "core.io.slices",
    "core.volume_formats": "core.io.formats",
    "core.volume_zarr": "core.io.strict_zarr",
    "core.ome_zarr_read": "core.io.ome_zarr_read",
    "core.volume_copy": "core.io.block_copy",
    "core.pyramid": "core.io.pyramid",
    "core.export": "core.io.export",
    "core.sample_data": "core.io.sample_data",
    # core/project: everything under sample.cathode/
    "core.project": "core.project.store",
    "core.project_create": "core.project.create",
    "core.project_format": "core.project.file_format",
    "core.project_lock": "core.project.lock",
    "core.rounds": "core.project.rounds",
    "core.round_table": "core.project.round_table",
    "core.project_writers": "core.project.writers",
    "core.start_model": "core.project.start_model",
    "core.review": "core.project.review_state",
    "core.review_actions": "core.project.review_actions",
    "core.label_arrays": "core.project.label_arrays",
    "core.contiguity": "core.project.contiguity",
    # core/synthetic: phantoms, the imaging model, planted cracks, the simulated reviewer
    "core.synthetic": "core.synthetic.phantom",
    "core.imaging_model": "core.synthetic.imaging_model",
    "core.crack_planting": "core.synthetic.crack_planting",
    "core.scribbles": "core.synthetic.scribbles",
    # core/states: particle and image states
    "core.particle_states": "core.states.particles",
    "core.particle_crops": "core.states.particle_crops",
    "core.image_states": "core.states.images",
    "core.state_metrics": "core.states.metrics",
    "core.heat_maps": "core.states.heat_maps",
}

#: New subpackages and the docstring of their ``__init__``.
NEW_PACKAGES = {
    "core.io": "Volume files in and out: open any format as a lazy (z, y, x) stack, export "
    "OME-Zarr/TIFF.\n\nNo module here knows about projects (an import-linter contract).",
    "core.project": "The project store: everything under ``sample.cathode/`` (image, truth, "
    "proposal,\nuncertainty, review state, rounds and their ``model.json``, the job lock).",
    "core.synthetic": "Synthetic data with exact answers: the 3D cathode phantom, the "
    "FIB-SEM-like imaging\nmodel, planted cracks and the simulated reviewer's brush strokes.",
    "core.states": "Particle and image states: the user's state labels, what the classifier "
    "sees, its\nmetrics and heat maps.",
}

#: Flat modules that stay flat on purpose (shared by every subpackage, or one package's layer).
KNOWN_FLAT = {
    "core": {
        "errors",
        "classes",
        "atomic",
        "outputs",
        "parent_death",
        "metrics",
        "strategies",
        "model_document",  # model.json of every model folder, in a project or not
    },
}

#: Known test files -> folder under tests/ (mirrors the package).
TEST_MOVES = {
    **dict.fromkeys(
        ["test_volumes", "test_volume_errors", "test_fuzz_readers", "test_export"], "core/io"
    ),
    **dict.fromkeys(
        ["test_project", "test_project_lock", "test_crash_safety", "test_review_actions"],
        "core/project",
    ),
    **dict.fromkeys(
        [
            "test_analysis_fractions",
            "test_analysis_fragmentation",
            "test_analysis_measurements",
            "test_analysis_particles",
            "test_analysis_pore_network",
            "test_analysis_summary",
        ],
        "core/analysis",
    ),
    **dict.fromkeys(["test_synthetic"], "core/synthetic"),
    "test_ml_metrics": "core",
    "test_atomic_publish": "core",
    "test_pseudo_labels": "ml",
    "test_timeseries": "core/timeseries",
    **dict.fromkeys(
        [
            "test_ml_augment",
            "test_ml_checkpoint",
            "test_ml_features",
            "test_ml_forest",
            "test_ml_hybrid",
            "test_ml_loss",
            "test_ml_prediction",
            "test_ml_starter",
            "test_ml_training",
            "test_scale_ddp",
            "test_scale_memory",
            "test_contiguity",
        ],
        "ml",
    ),
    **dict.fromkeys(
        [
            "test_jobs_simulate",
            "test_jobs_training",
            "test_distributed",
            "test_training_threads",
            "test_particle_states",
            "test_scribbles",
        ],
        "jobs",
    ),
    **dict.fromkeys(
        ["test_cli_analyze", "test_cli_model", "test_bad_inputs", "test_train_parent_killed"],
        "cli",
    ),
    **dict.fromkeys(
        [
            "test_analysis_dock",
            "test_gui_docks",
            "test_gui_guide",
            "test_gui_heartbeat",
            "test_gui_loop",
            "test_gui_review_loop",
            "test_gui_sigkill",
            "test_kinetics_cli_gui",
            "test_project_layers",
            "test_reader_napari",
            "test_sample_data",
            "test_scale_napari",
            "test_states_dock",
            "test_front_ends_agree",
            "test_gui_train_gpus",
        ],
        "_napari",
    ),
}
#: Files that stay in tests/ itself: shared fixtures and helpers, whole-package checks.
TEST_ROOT = {
    "conftest",
    "gui_strokes",
    "large_volumes",
    "particle_state_data",
    "test_packaging",
    "test_layout",
}

#: File globs in Markdown prose and what they become.
PROSE_GLOBS = {"core/volume_*.py": "core/io/*.py", "core/project*.py": "core/project/*.py"}

#: Import-linter contracts of the subpackages, appended to pyproject.toml when missing.
CONTRACTS = """
[[tool.importlinter.contracts]]
name = "core.io reads and writes files only: it knows no project, synthetic data or analysis"
type = "forbidden"
source_modules = ["napari_cathode.core.io"]
forbidden_modules = [
    "napari_cathode.core.project",
    "napari_cathode.core.synthetic",
    "napari_cathode.core.analysis",
    "napari_cathode.core.states",
    "napari_cathode.core.timeseries",
]

[[tool.importlinter.contracts]]
name = "The project store and the file readers never import synthetic data"
type = "forbidden"
source_modules = ["napari_cathode.core.project", "napari_cathode.core.io"]
forbidden_modules = ["napari_cathode.core.synthetic"]

[[tool.importlinter.contracts]]
name = "The project store does not depend on analysis, states or time series"
type = "forbidden"
source_modules = ["napari_cathode.core.project"]
forbidden_modules = [
    "napari_cathode.core.analysis",
    "napari_cathode.core.states",
    "napari_cathode.core.timeseries",
]
"""

TEXT_FILES = [
    "src/**/*.py",
    "src/**/*.yaml",
    "tests/**/*.py",
    "benchmarks/**/*.py",
    "scripts/**/*.py",
    "scripts/**/*.sh",
    "tools/**/*.py",
    "docs/**/*.md",
    "README.md",
    "pyproject.toml",
    "Makefile",
    ".github/**/*.yml",
]


def log(message: str) -> None:
    """Print one line of the run's report (this is a tool, not library code)."""
    print(message, flush=True)


def module_file(dotted: str) -> Path:
    """``core.io.volumes`` -> ``src/napari_cathode/core/io/volumes.py``."""
    return SRC.joinpath(*dotted.split(".")).with_suffix(".py")


def module_of(path: Path) -> str:
    """``src/napari_cathode/core/x.py`` -> ``napari_cathode.core.x`` (packages end in __init__)."""
    return ".".join(path.with_suffix("").parts[1:])


def is_package_name(dotted: str) -> bool:
    """Whether ``dotted`` (relative to napari_cathode) is also a new package's name."""
    return any(new == dotted or new.startswith(dotted + ".") for new in MODULE_MOVES.values())


def plan_modules() -> tuple[dict[str, str], dict[str, str], list[str]]:
    """The moves to make now, the renames to apply in text, and conflicts."""
    moves, renames, conflicts = {}, {}, []
    for old, new in MODULE_MOVES.items():
        old_file, new_file = module_file(old), module_file(new)
        if old_file.is_file() and new_file.is_file():
            conflicts.append(f"{old_file} and {new_file} both exist: left alone")
        elif old_file.is_file():
            moves[old] = new
            renames[old] = new
        elif new_file.is_file() and not is_package_name(old):
            renames[old] = new  # a late merge may still use the old name
    return moves, renames, conflicts


def imported_modules(path: Path) -> set[str]:
    """Every ``napari_cathode...`` module a file imports (also inside functions)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except SyntaxError:
        return set()
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {name for name in found if name.split(".")[0] in (PACKAGE, "napari", "qtpy")}


def relocate(dotted: str) -> str:
    """The new name of ``dotted`` (relative to napari_cathode), by its longest moved prefix."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        head = ".".join(parts[:cut])
        if head in MODULE_MOVES:
            return ".".join([MODULE_MOVES[head], *parts[cut:]])
    return dotted


def place_test(path: Path) -> tuple[str | None, str]:
    """Where an unknown test file goes, by the highest layer it imports, and why."""
    names = imported_modules(path)
    text = path.read_text(encoding="utf-8")
    if (
        "make_napari_viewer" in text
        or "qtbot" in text
        or re.search(r"^\s*(import napari|from napari |from napari\.|from qtpy)", text, re.M)
        or any(n.split(".")[0] in ("napari", "qtpy") for n in names)
        or any(n.startswith(f"{PACKAGE}._napari") for n in names)
    ):
        return "_napari", "uses napari/Qt"
    for layer in ("cli", "jobs", "ml"):
        if any(n.startswith(f"{PACKAGE}.{layer}.") for n in names):
            return layer, f"imports {PACKAGE}.{layer}"
    subpackages = {new.split(".")[1] for new in MODULE_MOVES.values()}
    subpackages |= {p.name for p in (SRC / "core").iterdir() if (p / "__init__.py").is_file()}
    counts: dict[str, int] = {}
    for name in names:
        parts = relocate(name.removeprefix(f"{PACKAGE}.")).split(".")
        if parts[0] == "core" and len(parts) > 2 and parts[1] in subpackages:
            counts[parts[1]] = counts.get(parts[1], 0) + 1
    if counts:
        best = max(counts.values())
        top = sorted(k for k, v in counts.items() if v == best)
        if len(top) == 1:
            return f"core/{top[0]}", f"imports mostly core.{top[0]}"
        return None, f"imports core.{' and core.'.join(top)} equally"
    if any(n.startswith(f"{PACKAGE}.core") for n in names):
        return "core", "imports flat core modules only"
    return None, "imports nothing from napari_cathode"


def plan_tests() -> tuple[dict[Path, Path], list[str], list[str]]:
    """Test moves, notes on placed unknown tests, and unknown tests left in tests/."""
    moves, placed, left = {}, [], []
    for path in sorted(Path("tests").glob("*.py")):
        name = path.stem
        if name in TEST_ROOT:
            continue
        folder, why = TEST_MOVES.get(name), "known"
        if folder is None:
            folder, why = place_test(path)
            if folder is None:
                left.append(f"{path} ({why})")
                continue
            placed.append(f"{path} -> tests/{folder}/ ({why})")
        target = Path("tests") / folder / path.name
        if target.exists():
            left.append(f"{path} ({target} exists already)")
        else:
            moves[path] = target
    return moves, placed, left


def text_files() -> list[Path]:
    """The files whose references are rewritten (this script excluded)."""
    me = Path(__file__).resolve()
    files = {p for pattern in TEXT_FILES for p in Path().glob(pattern) if p.is_file()}
    return sorted(p for p in files if p.resolve() != me and "__pycache__" not in p.parts)


def substitution(mapping: dict[str, str], before: str, after: str) -> tuple[re.Pattern, dict]:
    """One regex over all keys (longest first), bounded by ``before``/``after`` look-arounds."""
    keys = sorted(mapping, key=len, reverse=True)
    pattern = re.compile(before + "(" + "|".join(map(re.escape, keys)) + ")" + after)
    return pattern, mapping


def text_rewriters(renames: dict[str, str], test_moves: dict[Path, Path]) -> list:
    """The (pattern, mapping, markdown_only) substitutions for the planned renames."""
    rewriters = []
    if renames:
        dotted = {f"{PACKAGE}.{old}": f"{PACKAGE}.{new}" for old, new in renames.items()}
        rewriters.append((*substitution(dotted, r"(?<![\w.])", r"(?!\w)"), False))
        paths = {
            f"{old.replace('.', '/')}.py": f"{new.replace('.', '/')}.py"
            for old, new in renames.items()
        }
        rewriters.append((*substitution(paths, r"(?<![\w/.-])(?:src/napari_cathode/)?", ""), False))
        rewriters.append((*substitution(paths, r"(?<=napari_cathode/)", ""), False))
        short = {old: new for old, new in renames.items() if not is_package_name(old)}
        folders = {o.replace(".", "/"): n.replace(".", "/") for o, n in short.items()}
        if folders:  # core/imaging_model.render_fib_sem, core/volume_axes (no .py)
            rewriters.append((*substitution(folders, r"(?<![\w/.-])", r"(?![\w/])"), False))
        if short:
            rewriters.append((*substitution(short, r"(?<![\w./])", r"(?![\w/])"), True))
        bare = {  # `volume_tiff.py` in Markdown prose: a name only one module ever had
            f"`{o.rpartition('.')[2]}.py`": f"`{n.replace('.', '/')}.py`"
            for o, n in short.items()
            if "_" in o.rpartition(".")[2]
        }
        if bare:
            rewriters.append((*substitution(bare, "", ""), True))
        rewriters.append((*substitution(PROSE_GLOBS, r"(?<![\w/])", ""), True))
    if test_moves:
        tests = {str(old): str(new) for old, new in test_moves.items()}
        rewriters.append((*substitution(tests, r"(?<![\w/.-])", r"(?!\w)"), False))
    return rewriters


def rewrite_text(text: str, rewriters: list, markdown: bool) -> str:
    """Apply the substitutions; a match keeps its own prefix (``src/...``) where it had one."""
    for pattern, mapping, md_only in rewriters:
        if md_only and not markdown:
            continue

        def replace(match, mapping=mapping):
            whole, key = match.group(0), match.group(1)
            return whole[: len(whole) - len(key)] + mapping[key] if whole.endswith(key) else whole

        text = pattern.sub(replace, text)
    return text


def rewrite_imports(text: str, path: Path, renames: dict[str, str], moving: set[str]) -> str:
    """Rewrite ``from pkg import moved_module [as x]`` and affected relative imports."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        log(f"  ! {path}: not valid Python, imports left alone")
        return text
    full = {f"{PACKAGE}.{o}": f"{PACKAGE}.{n}" for o, n in renames.items()}
    here = module_of(path).split(".") if path.parts[:2] == SRC.parts else []
    lines = text.splitlines(keepends=True)
    edits = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        base = node.module or ""
        if node.level:
            if not here:
                continue
            package = here[:-1][: len(here) - node.level]
            base = ".".join(package + ([base] if base else []))
        changed = bool(node.level) and (base in full or module_of(path) in moving)
        new_lines = []
        kept = []
        for alias in node.names:
            target = f"{base}.{alias.name}"
            if target in full:
                parent, _, leaf = full[target].rpartition(".")
                local = alias.asname or alias.name
                new_lines.append(
                    f"from {parent} import {leaf}" + (f" as {local}" if local != leaf else "")
                )
                changed = True
            else:
                kept.append(alias.name + (f" as {alias.asname}" if alias.asname else ""))
        if not changed:
            continue
        base = full.get(base, base)
        if kept:
            new_lines.insert(0, f"from {base} import {', '.join(kept)}")
        first = lines[node.lineno - 1]
        indent = first[: len(first) - len(first.lstrip())]
        if node.col_offset != len(indent) or lines[node.end_lineno - 1].rstrip()[-1:] == ";":
            log(f"  ! {path}:{node.lineno}: import shares its line, left alone")
            continue
        edits.append((node.lineno, node.end_lineno, [f"{indent}{t}\n" for t in new_lines]))
    for start, end, new in sorted(edits, reverse=True):
        lines[start - 1 : end] = new
    return "".join(lines)


def rewrite_references(renames, test_moves, dry_run: bool) -> list[Path]:
    """Step 1: rewrite every reference in the text files; return the changed files."""
    rewriters = text_rewriters(renames, test_moves)
    changed = []
    for path in text_files():
        text = path.read_text(encoding="utf-8")
        new = rewrite_text(text, rewriters, path.suffix == ".md")
        if path.suffix == ".py" and renames:
            moving = {f"{PACKAGE}.{old}" for old in renames if module_file(old).exists()}
            new = rewrite_imports(new, path, renames, moving)
        if new != text:
            changed.append(path)
            if not dry_run:
                path.write_text(new, encoding="utf-8")
    return changed


def git_mv(old: Path, new: Path) -> None:
    """``git mv`` (a file git does not track is renamed plainly)."""
    new.parent.mkdir(parents=True, exist_ok=True)
    tracked = subprocess.run(["git", "ls-files", "--error-unmatch", str(old)], capture_output=True)
    if tracked.returncode == 0:
        subprocess.run(["git", "mv", str(old), str(new)], check=True)
    else:
        shutil.move(old, new)


def create_packages(dry_run: bool) -> list[Path]:
    """The new subpackages' ``__init__.py`` (docstring only; ``__all__`` comes in step 3)."""
    created = []
    for dotted, doc in NEW_PACKAGES.items():
        init = SRC.joinpath(*dotted.split("."), "__init__.py")
        if init.exists() or not any(n.startswith(dotted + ".") for n in MODULE_MOVES.values()):
            continue
        created.append(init)
        if not dry_run:
            init.parent.mkdir(parents=True, exist_ok=True)
            init.write_text(f'"""{doc}\n"""\n', encoding="utf-8")
    return created


_PARENTS = re.compile(r"(Path\(__file__\)(?:\.resolve\(\))?\.parents\[)(\d+)(\])")


def fix_test_depth(old: Path, new: Path) -> list[str]:
    """A moved test's ``Path(__file__).parents[N]`` still names the same folder."""
    depth = len(new.parts) - len(old.parts)
    text = new.read_text(encoding="utf-8")
    fixed = _PARENTS.sub(lambda m: f"{m[1]}{int(m[2]) + depth}{m[3]}", text)
    if fixed != text:
        new.write_text(fixed, encoding="utf-8")
    rest = [
        line
        for line in fixed.splitlines()
        if "Path(__file__)" in line and not _PARENTS.search(line)
    ]
    return [f"{new}: {line.strip()}" for line in rest]


def public_names(tree: ast.Module) -> list[str]:
    """Names a module defines at top level, not starting with ``_``, not imported, no logger."""
    imported, names = set(), []

    def visit(body):
        for node in body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                imported.update((a.asname or a.name).split(".")[0] for a in node.names)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.append(node.name)
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                value = node.value
                if value is None or (
                    isinstance(value, ast.Call) and "getLogger" in ast.unparse(value.func)
                ):
                    continue
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    names.extend(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
            elif isinstance(node, ast.If) and "TYPE_CHECKING" not in ast.unparse(node.test):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)
                visit(node.orelse)
                visit(node.finalbody)

    visit(tree.body)
    seen = set()
    return [
        n
        for n in names
        if not n.startswith("_") and n not in imported and not (n in seen or seen.add(n))
    ]


def submodules(package: Path) -> list[str]:
    """Public modules and subpackages of a package folder."""
    found = [p.stem for p in package.glob("*.py") if not p.stem.startswith("_")]
    found += [p.name for p in package.iterdir() if (p / "__init__.py").is_file()]
    return sorted(n for n in found if not n.startswith("_"))


def has_all(tree: ast.Module) -> bool:
    """Whether the module assigns ``__all__`` at top level."""
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            return True
    return False


def add_all(path: Path) -> bool:
    """Step 3 for one file: insert ``__all__`` after the docstring and the imports."""
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    if has_all(tree):
        return False
    names = public_names(tree)
    if path.name == "__init__.py" and not names:
        names = submodules(path.parent)
    after = 0
    for index, node in enumerate(tree.body):
        docstring = (
            index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        )
        imports = isinstance(node, ast.Import | ast.ImportFrom) or (
            isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        )
        if not (docstring or imports):
            break
        after = node.end_lineno
    lines = text.splitlines(keepends=True)
    quoted = ", ".join(f'"{n}"' for n in names)
    declaration = f"__all__ = [{quoted}]\n"
    if after < len(lines) and not lines[after].strip():  # reuse the blank line after imports
        lines[after + 1 : after + 1] = [declaration, "\n"]
    else:
        lines[after:after] = ["\n", declaration, "\n"]
    path.write_text("".join(lines), encoding="utf-8")
    return True


def add_all_everywhere() -> list[Path]:
    """Step 3: every module of the package that is public and has no ``__all__``."""
    changed = []
    for path in sorted(SRC.rglob("*.py")):
        if path == SRC / "__init__.py" or "__pycache__" in path.parts:
            continue
        if path.stem.startswith("_") and path.name != "__init__.py":
            continue
        if add_all(path):
            changed.append(path)
    return changed


def add_contracts() -> bool:
    """Step 4: append the subpackage contracts to pyproject.toml unless they are there."""
    pyproject = Path("pyproject.toml")
    text = pyproject.read_text(encoding="utf-8")
    names = re.findall(r'^name = "(.*)"$', CONTRACTS, flags=re.M)
    if all(f'name = "{n}"' in text for n in names):
        return False
    pyproject.write_text(text.rstrip("\n") + "\n" + CONTRACTS, encoding="utf-8")
    return True


def line_length() -> int:
    """ruff's line length from pyproject.toml (100 if it says none)."""
    found = re.search(r"^line-length = (\d+)", Path("pyproject.toml").read_text(), flags=re.M)
    return int(found[1]) if found else 100


def _continues_paragraph(lines: list[str], index: int, indent: str) -> bool:
    """Whether ``lines[index]`` goes on with the paragraph above (same indent, plain prose)."""
    line = lines[index]
    body = line.lstrip()
    if not body or body.startswith(('"""', "-", "*", ":", ">>>", "|", "..")) or body[0].isdigit():
        return False
    underline = index + 1 < len(lines) and set(lines[index + 1].strip()) == {"-"}
    return line[: len(line) - len(body)] == indent and not underline


def wrap_docstrings(path: Path, limit: int) -> bool:
    """Break docstring lines that longer module names pushed over the limit, at a space."""
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    ranges = []
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                ranges.append((body[0].lineno, body[0].end_lineno, body[0].col_offset))
    lines = [line.rstrip("\n") for line in text.splitlines()]
    for start, end, column in sorted(ranges, reverse=True):
        index, last = start - 1, end - 1
        while index <= last:
            line = lines[index]
            indent = " " * column if index == start - 1 else line[: len(line) - len(line.lstrip())]
            cut = line.rfind(" ", len(indent) + 1, limit + 1)
            if len(line) <= limit or cut <= len(indent):
                index += 1
                continue
            head, tail = line[:cut].rstrip(), line[cut:].strip()
            lines[index] = head
            if index < last and _continues_paragraph(lines, index + 1, indent):
                lines[index + 1] = f"{indent}{tail} {lines[index + 1].lstrip()}"
            else:
                lines.insert(index + 1, indent + tail)
                last += 1
            index += 1
    lines = [line + "\n" for line in lines]
    new = "".join(lines)
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


def ruff(files: list[Path]) -> None:
    """Step 6: sort imports and ``__all__``, then format, in the changed Python files."""
    py = [str(p) for p in files if p.suffix == ".py" and p.exists()]
    exe = Path(sys.executable).with_name("ruff")
    command = str(exe) if exe.exists() else shutil.which("ruff")
    if not py:
        return
    if command is None:
        log("  ! ruff not found: run `ruff check --fix --select I,RUF022` and `ruff format`")
        return
    subprocess.run([command, "check", "--fix", "--quiet", "--select", "I,RUF022", *py])
    subprocess.run([command, "format", "--quiet", *py], check=True)


def stale_mentions() -> list[str]:
    """Old module names still mentioned anywhere (globs in prose, bare file names)."""
    moved_away = [o for o in MODULE_MOVES if not module_file(o).exists()]
    stems = {o.rpartition(".")[2] for o in moved_away if not is_package_name(o)}
    if not stems:
        return []
    names = "|".join(sorted(stems))
    distinct = "|".join(sorted(n for n in stems if "_" in n))
    pattern = re.compile(
        rf"(?<![\w/.])(core[./](?:{names})(?:\.py)?|(?:{names})\.py)(?![\w/])"
        rf"|(?<!func:)(?<!meth:)(?<!class:)`((?:{distinct})(?:`|\.(?!json)))"
    )
    globs = re.compile(r"core/(?:volume|project|round)[_a-z]*\*")
    found = []
    for path in text_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            hit = [m[0].strip("`") for m in pattern.finditer(line)] + globs.findall(line)
            if hit:
                found.append(f"{path}:{number}: {', '.join(sorted(set(hit)))}")
    return found


def main(argv: list[str] | None = None) -> int:
    """Run the steps; print what moved and what needs a person."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    parser.add_argument(
        "--allow-dirty", action="store_true", help="run even with uncommitted changes"
    )
    args = parser.parse_args(argv)
    if not SRC.is_dir():
        parser.error(f"run from the repository root ({SRC} not found)")
    dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True)
    if dirty.stdout.strip() and not (args.dry_run or args.allow_dirty):
        parser.error("commit or stash your changes first (or pass --allow-dirty)")

    moves, renames, conflicts = plan_modules()
    test_moves, placed, tests_left = plan_tests()
    log(f"modules to move: {len(moves)}; tests to move: {len(test_moves)}")
    for old, new in moves.items():
        log(f"  {module_file(old)} -> {module_file(new)}")
    for old, new in test_moves.items():
        log(f"  {old} -> {new}")

    changed = rewrite_references(renames, test_moves, args.dry_run)
    log(f"files whose references were rewritten: {len(changed)}")
    if args.dry_run:
        for path in changed:
            log(f"  {path}")
        report(
            [
                ("conflicts (both old and new module exist)", conflicts),
                ("unknown flat modules, would stay where they are", unknown_flat()),
                ("unknown test files, would be placed by their imports", placed),
                ("unknown test files, would stay in tests/", tests_left),
            ]
        )
        return 0

    changed += create_packages(dry_run=False)
    for old, new in moves.items():
        git_mv(module_file(old), module_file(new))
    depth_notes = []
    for old, new in test_moves.items():
        git_mv(old, new)
        depth_notes += fix_test_depth(old, new)
    changed = [test_moves.get(p, p) if p in test_moves else _moved_path(p, moves) for p in changed]
    with_all = add_all_everywhere()
    log(f"modules given __all__: {len(with_all)}")
    if add_contracts():
        log("import-linter contracts added to pyproject.toml")
    template = Path("tools/test_layout.py")
    if template.exists() and not Path("tests/test_layout.py").exists():
        git_mv(template, Path("tests/test_layout.py"))
        changed.append(Path("tests/test_layout.py"))
    limit = line_length()
    wrapped = [p for p in changed if p.suffix == ".py" and p.exists() and wrap_docstrings(p, limit)]
    log(f"docstrings re-wrapped for longer names: {len(wrapped)} files")
    ruff(sorted(set(changed) | set(with_all)))
    touched = ["src", "tests", "tools", "benchmarks", "scripts", "docs", "README.md"]
    touched = [p for p in [*touched, "pyproject.toml", "Makefile"] if Path(p).exists()]
    subprocess.run(["git", "add", "-A", *touched], check=True)

    report(
        [
            ("conflicts (both old and new module exist)", conflicts),
            ("unknown flat modules, left where they are", unknown_flat()),
            ("unknown test files placed by their imports", placed),
            ("unknown test files left in tests/", tests_left),
            ("__file__ uses in moved tests (check the folder they mean)", depth_notes),
            ("old names still mentioned (rewrite by hand)", stale_mentions()),
            ("lines over the length limit (not docstrings: shorten by hand)", long_lines(changed)),
        ]
    )
    return 0


def report(sections: list[tuple[str, list[str]]]) -> None:
    """The end of the run: what a person has to look at."""
    log("\n== needs a person")
    for title, items in sections:
        log(f"{title}: {len(items) or 'none'}")
        for item in items:
            log(f"  {item}")


def _moved_path(path: Path, moves: dict[str, str]) -> Path:
    """Where a changed file lives after the module moves."""
    if path.suffix == ".py" and path.parts[:2] == SRC.parts:
        old = module_of(path).removeprefix(f"{PACKAGE}.")
        if old in moves:
            return module_file(moves[old])
    return path


def long_lines(files: list[Path]) -> list[str]:
    """ruff's E501 findings in the changed Python files."""
    py = [str(p) for p in files if p.suffix == ".py" and p.exists()]
    exe = Path(sys.executable).with_name("ruff")
    command = str(exe) if exe.exists() else shutil.which("ruff")
    if not py or command is None:
        return []
    result = subprocess.run(
        [command, "check", "--select", "E501", "--output-format", "concise", "--quiet", *py],
        capture_output=True,
        text=True,
    )
    return [line for line in result.stdout.splitlines() if "E501" in line]


def unknown_flat() -> list[str]:
    """Flat core modules that are neither moved nor known to stay flat."""
    core = SRC / "core"
    known = KNOWN_FLAT["core"] | {o.split(".")[1] for o in MODULE_MOVES}
    return [
        str(p) for p in sorted(core.glob("*.py")) if p.stem not in known and p.stem != "__init__"
    ]


if __name__ == "__main__":
    sys.exit(main())
