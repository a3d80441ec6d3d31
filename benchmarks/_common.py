"""Shared helpers of the model benchmarks: real data, machine description, report sections."""

from __future__ import annotations

import datetime
import json
import logging
import os
import platform
import re
import sys
from pathlib import Path

import numpy as np
import tifffile

ROOT = Path(__file__).resolve().parents[1]
STACKS = ROOT.parent / "shared" / "data" / "segmentpy-nmc-nanoct" / "stacks"
REPORT = ROOT / "docs" / "benchmarks.d" / "model.md"
ACQUISITIONS = ("A", "B", "D")
#: Reference numbers quoted in the report (per-class test Dice, IKTS FIB-SEM, 45 annotated images).
IKTS = {"pore": "0.84–0.96", "active material": "0.92–0.98", "carbon-binder": "0.50–0.88"}

log = logging.getLogger("benchmarks")


def load(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Image (float32) and labels (uint8, 0 = unlabeled) of real acquisition ``name``."""
    image = tifffile.imread(STACKS / f"{name}_image.tif").astype(np.float32)
    labels = tifffile.imread(STACKS / f"{name}_labels.tif").astype(np.uint8)
    return image, labels


def machine() -> str:
    """One line: CPU model, cores, torch threads, GPU or not."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), {gpu}"
    )


def command() -> str:
    """The command line that ran this benchmark."""
    return ".venv/bin/python " + " ".join([os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]])


def header(title: str, *, data: str) -> str:
    """Heading plus the machine/date/command/data lines every section starts with."""
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"### {title}\n\n"
        f"- machine: {machine()} — a shared VM; other jobs running at the same time are noted\n"
        f"- date: {date}\n"
        f"- command: `{command()}`\n"
        f"- data: {data}\n"
    )


def write_section(key: str, text: str) -> None:
    """Replace (or append) the section ``key`` of ``docs/benchmarks.d/model.md``."""
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    old = REPORT.read_text() if REPORT.exists() else "## Model (issue 3)\n"
    begin, end = f"<!-- {key}:begin -->", f"<!-- {key}:end -->"
    block = f"{begin}\n{text.rstrip()}\n{end}"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    new = pattern.sub(lambda _: block, old) if begin in old else old.rstrip() + "\n\n" + block
    REPORT.write_text(new.rstrip() + "\n")


def fmt(value: float | None, digits: int = 3) -> str:
    """A number for a table cell (``–`` for None)."""
    return "–" if value is None else f"{value:.{digits}f}"


def dump(path: str | Path | None, document: dict) -> None:
    """Write raw results as JSON when ``path`` is given."""
    if path:
        Path(path).write_text(json.dumps(document, indent=2))


BASE_NOTE = (
    "real — SegmentPy NMC nano-CT stacks A (5 slices 499×601), B (6, 500×572), "
    "D (4, 400×400) from ../shared/data (not neighbouring slices)"
)
