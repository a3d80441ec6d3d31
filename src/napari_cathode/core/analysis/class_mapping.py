"""Which label value means which class: name matching and ``--class-map`` parsing.

A labels file either already uses the project convention (0 = unlabeled, 1..K = classes) or uses
other values (e.g. 0/128/255), which a class map such as ``0=pore,128=active,255=binder`` turns
into class ids. Names match case-insensitively: exactly, then as a prefix of the class name, then
as a prefix of one word of it ("binder" → "carbon-binder").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np

from napari_cathode.core.analysis.blocks import Progress, iter_blocks
from napari_cathode.core.classes import SegmentationClass
from napari_cathode.core.errors import CathodeError

__all__ = [
    "ClassMap",
    "apply_class_map",
    "check_class_map",
    "class_counts_from_values",
    "class_mask",
    "identity_class_map",
    "parse_class_map",
    "resolve_class",
    "values_listing",
]

#: A mapping from a value found in a labels file to a class id (1..255).
ClassMap = Mapping[float, int]


def resolve_class(name: str, classes: Sequence[SegmentationClass]) -> SegmentationClass:
    """Find the class a user means by ``name``.

    Parameters
    ----------
    name : str
        What the user typed, e.g. ``"active"`` or ``"Binder"``.
    classes : sequence of SegmentationClass
        The classes to choose from.

    Returns
    -------
    SegmentationClass
        The single class whose name equals ``name``, or starts with it, or has a word
        (split at spaces, ``-`` and ``_``) that starts with it; all case-insensitive.

    Raises
    ------
    CathodeError
        If no class or more than one class matches.

    Examples
    --------
    >>> from napari_cathode.core.classes import DEFAULT_CLASSES
    >>> resolve_class("binder", DEFAULT_CLASSES).name
    'carbon-binder'
    """
    wanted = name.strip().casefold()
    names = [c.name for c in classes]
    if not wanted:
        raise CathodeError(f"an empty class name cannot be matched; choose one of {names}")
    tests = (
        lambda c: c.name.casefold() == wanted,
        lambda c: c.name.casefold().startswith(wanted),
        lambda c: any(w.startswith(wanted) for w in re.split(r"[\s_\-]+", c.name.casefold())),
    )
    for test in tests:
        found = [c for c in classes if test(c)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise CathodeError(
                f"class name {name!r} is ambiguous: it matches {[c.name for c in found]}; "
                "type more of the name"
            )
    raise CathodeError(f"no class is named like {name!r}; the classes are {names}")


def _parse_value(text: str, item: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise CathodeError(
            f"class map entry {item!r}: {text!r} is not a number; write VALUE=NAME, "
            "e.g. 0=pore,128=active,255=binder"
        ) from None
    return int(value) if value.is_integer() else value


def parse_class_map(text: str, classes: Sequence[SegmentationClass]) -> dict[float, int]:
    """Parse ``"0=pore,128=active,255=binder"`` into ``{0: 1, 128: 2, 255: 3}``.

    Parameters
    ----------
    text : str
        Comma-separated ``VALUE=NAME`` pairs; names are matched with :func:`resolve_class`.
    classes : sequence of SegmentationClass
        The classes the names refer to.

    Returns
    -------
    dict
        File value → class id. Values not listed are treated as unlabeled.

    Raises
    ------
    CathodeError
        On a malformed entry, an unknown or ambiguous name, or a value given twice.
    """
    mapping: dict[float, int] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if item.count("=") != 1:
            raise CathodeError(
                f"class map entry {item!r} must look like VALUE=NAME, "
                "e.g. --class-map 0=pore,128=active,255=binder"
            )
        value_text, name = (s.strip() for s in item.split("="))
        value = _parse_value(value_text, item)
        if value in mapping:
            raise CathodeError(f"class map gives value {value} twice in {text!r}")
        mapping[value] = resolve_class(name, classes).id
    if not mapping:
        raise CathodeError(f"class map {text!r} is empty; write e.g. 0=pore,128=active,255=binder")
    return mapping


def identity_class_map(classes: Sequence[SegmentationClass]) -> dict[float, int]:
    """The class map of a file that already uses class ids (0 stays unlabeled)."""
    return {c.id: c.id for c in classes}


def apply_class_map(block: np.ndarray, class_map: ClassMap) -> np.ndarray:
    """Turn file values into class ids (uint8); values not in ``class_map`` become 0.

    Parameters
    ----------
    block : numpy.ndarray
        Label values as read from a file (any numeric dtype).
    class_map : mapping
        File value → class id.

    Returns
    -------
    numpy.ndarray
        uint8 class ids, same shape as ``block``.
    """
    # One comparison per class (a handful) works for any dtype, floats included; a lookup table
    # would only cover small unsigned integers.
    out = np.zeros(block.shape, dtype=np.uint8)
    for value, class_id in class_map.items():
        out[block == value] = class_id
    return out


def class_counts_from_values(
    value_counts: Mapping[float, int], class_map: ClassMap
) -> tuple[dict[int, int], dict[float, int]]:
    """Sum raw value counts into class counts.

    Returns
    -------
    class_counts : dict
        Class id → voxel count (only mapped values).
    unmapped : dict
        Value → voxel count of the values the class map does not name (they are unlabeled).
    """
    class_counts: dict[int, int] = {}
    unmapped: dict[float, int] = {}
    for value, count in value_counts.items():
        class_id = class_map.get(value)
        if class_id is None:
            unmapped[value] = int(count)
        else:
            class_counts[class_id] = class_counts.get(class_id, 0) + int(count)
    return class_counts, unmapped


def class_mask(
    labels,
    class_id: int,
    *,
    class_map: ClassMap | None = None,
    block_shape: tuple[int, ...] | None = None,
    progress: Progress | None = None,
) -> np.ndarray:
    """Boolean numpy mask of one class, read block by block from a numpy/dask/zarr volume.

    Parameters
    ----------
    labels : array-like, (z, y, x)
        Class ids, or file values with ``class_map``.
    class_id : int
        The class to select.
    class_map : mapping, optional
        File value → class id.
    block_shape, progress
        See :func:`~napari_cathode.core.analysis.blocks.iter_blocks`.

    Returns
    -------
    numpy.ndarray of bool
        The mask, in memory (1 byte per voxel).
    """
    mask = np.zeros(tuple(labels.shape), dtype=bool)
    for slices, block in iter_blocks(
        labels, block_shape=block_shape, progress=progress, stage="reading class mask"
    ):
        if class_map is not None:
            block = apply_class_map(block, class_map)
        mask[slices] = block == class_id
    return mask


def values_listing(values, limit: int = 10) -> str:
    """``values`` sorted and listed, at most ``limit`` of them (a float image has millions)."""
    values = sorted(values)
    shown = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def check_class_map(counts: Mapping[float, int], class_map: ClassMap, source: str) -> None:
    """Refuse a class map that does not fit the labels' values.

    Every value of the map must occur in the labels (else it is a typo, or the wrong file),
    and every labelled value (all but 0) must be in the map (else those voxels would silently
    count as unlabeled and the fractions of the others would be inflated).

    Raises
    ------
    CathodeError
        Naming the values that do not occur, or the values the map leaves out.
    """
    present = {value for value, count in counts.items() if count}
    absent = [value for value in class_map if value not in present]
    if absent:
        raise CathodeError(
            f"class map value(s) {values_listing(absent)} do not occur in {source}, whose "
            f"values are {values_listing(present)}; check the class map (VALUE=NAME)"
        )
    uncovered = [value for value in present if value != 0 and value not in class_map]
    if uncovered:
        voxels = sum(int(counts[value]) for value in uncovered)
        raise CathodeError(
            f"value(s) {values_listing(uncovered)} ({voxels} voxels) in {source} are not in "
            "the class map; give every labelled value a class (0 may stay unlabeled)"
        )
