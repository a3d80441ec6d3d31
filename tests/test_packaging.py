"""The package installs as a napari plugin with its layers kept apart and a working CLI."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import requires
from pathlib import Path

from napari_cathode.cli.main import COMMANDS, build_parser

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]


def run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)


def test_import_contracts_are_kept():
    result = run(str(BIN / "lint-imports"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_npe2_manifest_validates_and_every_command_imports():
    result = run(str(BIN / "npe2"), "validate", "napari-cathode", "--imports")
    assert result.returncode == 0, result.stdout + result.stderr


def test_cli_help_lists_every_command():
    result = run(str(BIN / "napari-cathode"), "--help")
    assert result.returncode == 0, result.stderr
    for name in COMMANDS:
        assert name in result.stdout
    parser = build_parser()
    for name in COMMANDS:
        with_help = run(str(BIN / "napari-cathode"), name, "--help")
        assert with_help.returncode == 0, (name, with_help.stderr)
    assert parser.prog == "napari-cathode"


def test_torch_is_a_range_not_a_pin():
    torch_reqs = [r for r in requires("napari-cathode") if r.startswith("torch")]
    assert torch_reqs and all("==" not in r for r in torch_reqs), torch_reqs


def test_core_imports_without_torch_or_qt():
    code = (
        "import sys, napari_cathode.core.classes, napari_cathode.core.errors\n"
        "import napari_cathode.cli.main\n"
        "bad = [m for m in ('torch', 'napari', 'qtpy', 'PyQt5') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    result = run(sys.executable, "-c", code)
    assert result.returncode == 0, result.stderr
