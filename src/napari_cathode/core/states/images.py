"""Images with a state name: a folder per state or a CSV of ``path,state``; and their tiles.

Image-level classification (which process, which cycle count, which acquisition) is trained on
tiles of each image and predicts an image's state from the mean of its tiles' probabilities.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from napari_cathode.core.errors import CathodeError

__all__ = [
    "IMAGE_SUFFIXES",
    "StateImage",
    "image_tiles",
    "read_state_images",
    "states_of",
    "tile_origins",
]

log = logging.getLogger(__name__)

#: File names a state folder may hold (any format ``open_volume`` reads as one file).
IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".npy", ".mrc", ".h5", ".hdf5")


@dataclass(frozen=True)
class StateImage:
    """One image and its state name (``None`` when unknown, e.g. for prediction)."""

    path: Path
    state: str | None


def read_state_images(source: str | Path) -> list[StateImage]:
    """List images and their states from a folder of state folders or a CSV file.

    Parameters
    ----------
    source : path
        A folder whose sub-folders are state names holding images (``root/cracked/a.tif``), or
        a CSV with a ``path`` column and an optional ``state`` column (relative paths are taken
        from the CSV's folder). A folder of images without sub-folders lists them state-less.

    Raises
    ------
    CathodeError
        If the source does not exist, lists nothing, or a listed file is missing.
    """
    source = Path(source).expanduser()
    if source.is_file() and source.suffix.lower() == ".csv":
        return _from_csv(source)
    if not source.is_dir():
        raise CathodeError(f"{source} is neither a CSV of path,state nor a folder of state folders")
    items = []
    folders = sorted(p for p in source.iterdir() if p.is_dir() and not p.name.startswith("."))
    for folder in folders:
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                items.append(StateImage(path, folder.name))
    if not folders:
        items = [
            StateImage(p, None)
            for p in sorted(source.iterdir())
            if p.suffix.lower() in IMAGE_SUFFIXES
        ]
    if not items:
        raise CathodeError(
            f"{source} holds no images: put each state's images in a folder named after the "
            f"state ({', '.join(IMAGE_SUFFIXES)} files), or give a CSV of path,state"
        )
    return items


def _from_csv(path: Path) -> list[StateImage]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "path" not in rows[0]:
        raise CathodeError(f"{path} needs a header line with a 'path' column (and 'state')")
    items = []
    for line, row in enumerate(rows, start=2):
        image = Path(row["path"].strip()).expanduser()
        image = image if image.is_absolute() else path.parent / image
        if not image.exists():
            raise CathodeError(f"{path} line {line}: image {image} does not exist")
        state = (row.get("state") or "").strip() or None
        items.append(StateImage(image, state))
    return items


def states_of(items: list[StateImage]) -> tuple[str, ...]:
    """Sorted distinct state names; at least two are needed to train."""
    states = tuple(sorted({i.state for i in items if i.state is not None}))
    if len(states) < 2:
        raise CathodeError(
            f"training needs images of at least two states, found {list(states)}: add images "
            "of another state"
        )
    return states


def tile_origins(shape: tuple[int, int], tile: int, stride: int) -> Iterator[tuple[int, int]]:
    """Top-left corners of ``tile``² tiles covering a (y, x) plane (the last ones flush)."""
    if min(shape) < tile:
        raise CathodeError(f"an image plane {shape} is smaller than the tile size {tile}")

    def starts(n: int) -> list[int]:
        values = list(range(0, n - tile + 1, stride))
        if values[-1] != n - tile:
            values.append(n - tile)
        return values

    for y in starts(shape[0]):
        for x in starts(shape[1]):
            yield y, x


def image_tiles(volume: np.ndarray, tile: int, stride: int) -> np.ndarray:
    """All ``tile``² tiles of every slice of a (z, y, x) volume, ``(N, tile, tile)``."""
    volume = np.asarray(volume)
    tiles = [
        volume[z, y : y + tile, x : x + tile]
        for z in range(volume.shape[0])
        for y, x in tile_origins(volume.shape[1:], tile, stride)
    ]
    return np.stack(tiles).astype(np.float32)
