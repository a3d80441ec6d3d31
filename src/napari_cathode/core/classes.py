"""Segmentation classes: small integer ids with a name and a display colour.

Label value 0 always means "unlabeled" (truth) or "no proposal"; classes start at 1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from napari_cathode.core.errors import CathodeError

__all__ = [
    "DEFAULT_CLASSES",
    "SegmentationClass",
    "channel_lookup",
    "classes_from_names",
    "validate_classes",
]


@dataclass(frozen=True)
class SegmentationClass:
    """One class of the segmentation.

    Parameters
    ----------
    id : int
        Label value, 1..255.
    name : str
        Human-readable name, unique within a project.
    color : str
        Display colour as ``#rrggbb``.
    """

    id: int
    name: str
    color: str

    def __post_init__(self) -> None:
        if not 1 <= int(self.id) <= 255:
            raise CathodeError(
                f"class id {self.id!r} for {self.name!r} must be in 1..255 (0 means unlabeled)"
            )
        if not self.name.strip():
            raise CathodeError(f"class {self.id} needs a non-empty name")
        c = self.color
        if not (isinstance(c, str) and len(c) == 7 and c[0] == "#"):
            raise CathodeError(f"class {self.name!r}: colour {c!r} must look like '#rrggbb'")
        int(c[1:], 16)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> SegmentationClass:
        return cls(id=int(d["id"]), name=str(d["name"]), color=str(d["color"]))

    @property
    def rgba(self) -> tuple[float, float, float, float]:
        """Colour as floats in 0..1 (for napari's colormaps)."""
        h = self.color[1:]
        return (int(h[0:2], 16) / 255, int(h[2:4], 16) / 255, int(h[4:6], 16) / 255, 1.0)


#: The cathode convention: 1 = pore, 2 = active material, 3 = carbon-binder.
DEFAULT_CLASSES: tuple[SegmentationClass, ...] = (
    SegmentationClass(1, "pore", "#3b82f6"),
    SegmentationClass(2, "active material", "#f59e0b"),
    SegmentationClass(3, "carbon-binder", "#10b981"),
)

_PALETTE = ("#3b82f6", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#ec4899", "#14b8a6", "#a3a3a3")


def classes_from_names(names: list[str] | tuple[str, ...]) -> tuple[SegmentationClass, ...]:
    """Build classes 1..K from names, in order, with a default palette.

    Raises
    ------
    CathodeError
        If a name is empty or repeated.

    Examples
    --------
    >>> [(c.id, c.name) for c in classes_from_names(["pore", "particle"])]
    [(1, 'pore'), (2, 'particle')]
    """
    names = [n.strip() for n in names]
    if not names or any(not n for n in names):
        raise CathodeError(f"class names must be non-empty, got {names!r}")
    if len(set(names)) != len(names):
        raise CathodeError(f"class names must be unique, got {names!r}")
    return tuple(
        SegmentationClass(i + 1, n, _PALETTE[i % len(_PALETTE)]) for i, n in enumerate(names)
    )


def validate_classes(classes) -> tuple[SegmentationClass, ...]:
    """Check ids and names are unique; return them sorted by id."""
    classes = tuple(sorted(classes, key=lambda c: c.id))
    ids = [c.id for c in classes]
    names = [c.name for c in classes]
    if len(set(ids)) != len(ids):
        raise CathodeError(f"class ids must be unique, got {ids}")
    if len(set(names)) != len(names):
        raise CathodeError(f"class names must be unique, got {names}")
    return classes


def channel_lookup(class_ids) -> np.ndarray:
    """The one mapping from label value to network channel.

    Parameters
    ----------
    class_ids : sequence of int
        The class id of each channel, in channel order: ``[c.id for c in config.classes]``
        (classes are sorted by id, see :func:`validate_classes`). Ids need not be 1..K.

    Returns
    -------
    ndarray (256,) int64
        ``lookup[label]`` is the channel of class id ``label``; ``-1`` for 0 (unlabeled) and
        for values that are not a class id.

    Examples
    --------
    >>> from napari_cathode.core.classes import channel_lookup
    >>> channel_lookup([1, 2, 5])[[0, 1, 2, 5, 7]].tolist()
    [-1, 0, 1, 2, -1]
    """
    ids = [int(i) for i in class_ids]
    if len(set(ids)) != len(ids) or not all(1 <= i <= 255 for i in ids):
        raise CathodeError(f"class ids must be unique values in 1..255, got {ids}")
    lookup = np.full(256, -1, dtype=np.int64)
    lookup[ids] = np.arange(len(ids))
    return lookup
