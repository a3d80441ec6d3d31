"""Assemble ``docs/benchmarks.md`` from the section files in ``docs/benchmarks.d/``.

Each benchmark script writes its own section (machine, date, command, data real or synthetic);
this joins them in file-name order under one header, so sections never overwrite each other.
Run: ``.venv/bin/python benchmarks/assemble.py``.
"""

from __future__ import annotations

from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"

HEADER = """# Benchmarks

Measured speed, memory and segmentation quality. Every section names the machine, the date, the
command that produced it, and whether the data is real or synthetic. The machines are shared and
noisy, so comparisons are made side by side in one run (ratios). Sections are generated into
`docs/benchmarks.d/` by the scripts in `benchmarks/`; this file is assembled from them by
`benchmarks/assemble.py`.

"""


def main() -> None:
    sections = sorted((DOCS / "benchmarks.d").glob("*.md"))
    body = "\n\n".join(p.read_text().strip() for p in sections)
    (DOCS / "benchmarks.md").write_text(HEADER + body + "\n")


if __name__ == "__main__":
    main()
