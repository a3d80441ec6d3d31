#!/usr/bin/env python
"""Regenerate the bundled sample data in ``src/napari_cathode/data/`` from the shared real data.

Acquisition A of the SegmentPy NMC nano-CT set (Apache-2.0) is stored losslessly as two
deflate-compressed TIFF stacks, with the upstream licence and a NOTICE naming the source:

- ``acquisition_a_image.tif``: float32 (5, 499, 601), the raw slices 1, 100, 200, 300, 400;
- ``acquisition_a_truth.tif``: uint8 (5, 499, 601), 1 = pore, 2 = active material (NMC),
  3 = carbon-binder (the upstream labels 0 NMC / 1 CBD / 2 pore, remapped).

Usage::

    python scripts/make_sample_data.py [--shared ../shared/data]

The output is deterministic: running it twice gives identical files.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
import tifffile

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "src" / "napari_cathode" / "data"
SOURCE = "segmentpy-nmc-nanoct"
UPSTREAM = "ZeliangSu/SegmentPy @ 93ff84add1d70fbffa73b2d5bb847a20e0e106ca"
SLICES = (1, 100, 200, 300, 400)
MAX_BYTES = 6_000_000
CLASSES = "1 pore, 2 active material, 3 carbon-binder"

NOTICE = f"""\
napari-cathode bundled sample data: NMC nano-CT acquisition A
================================================================

Files: acquisition_a_image.tif, acquisition_a_truth.tif

Source: {UPSTREAM}
        files raw/N.tif (image) and raw/N_label.tif (labels) for N = {", ".join(map(str, SLICES))}
Paper:  Su et al., npj Computational Materials 8, 30 (2022): synchrotron X-ray nano-CT
        (APS transmission X-ray microscope) of NMC cathodes, segmented into three phases.
Licence: Apache License 2.0, Copyright 2020 Zeliang Su, Arnaud Demortiere and Laboratoire de
        Réactivité et Chimie des Solides; full text in LICENSE.segmentpy beside this file.

Changes made by napari-cathode (Apache-2.0 section 4(b)):
- the five 2D slices are stacked in ascending N into one (5, 499, 601) volume; the slices are
  not contiguous, so the stack's z spacing has no physical meaning;
- the labels are remapped from 0 = NMC, 1 = carbon-binder, 2 = pore to the project convention
  1 = pore, 2 = active material (NMC), 3 = carbon-binder;
- both stacks are stored as deflate-compressed TIFF; grey values are unchanged (lossless).
No voxel size comes with these files; napari-cathode reports them in pixels (1, 1, 1).

Regenerate with: python scripts/make_sample_data.py
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--shared",
        type=Path,
        default=REPO.parent / "shared" / "data",
        help="folder of the shared real data (default: ../shared/data)",
    )
    args = parser.parse_args(argv)
    source = args.shared / SOURCE
    image = tifffile.imread(source / "stacks" / "A_image.tif")
    truth = tifffile.imread(source / "stacks" / "A_labels.tif")
    if image.shape != (5, 499, 601) or image.dtype != np.float32 or truth.shape != image.shape:
        print(
            f"unexpected stacks in {source}: {image.shape} {image.dtype}, {truth.shape}",
            file=sys.stderr,
        )
        return 1
    DATA.mkdir(parents=True, exist_ok=True)
    description = {"source": UPSTREAM, "slices": list(SLICES), "licence": "Apache-2.0"}
    tifffile.imwrite(
        DATA / "acquisition_a_image.tif",
        image,
        compression="zlib",
        compressionargs={"level": 9},
        metadata=description,
    )
    tifffile.imwrite(
        DATA / "acquisition_a_truth.tif",
        truth,
        compression="zlib",
        compressionargs={"level": 9},
        metadata={**description, "classes": CLASSES},
    )
    shutil.copyfile(source / "LICENSE.upstream", DATA / "LICENSE.segmentpy")
    (DATA / "NOTICE").write_text(NOTICE, encoding="utf-8")
    for name, expected in (("acquisition_a_image.tif", image), ("acquisition_a_truth.tif", truth)):
        if not np.array_equal(tifffile.imread(DATA / name), expected):
            print(f"{name} does not round-trip exactly", file=sys.stderr)
            return 1
    total = sum(f.stat().st_size for f in DATA.iterdir() if f.is_file())
    print(f"wrote {DATA} ({total / 1e6:.2f} MB)")
    if total > MAX_BYTES:
        print(f"bundled data is {total} bytes, over the {MAX_BYTES} byte budget", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
