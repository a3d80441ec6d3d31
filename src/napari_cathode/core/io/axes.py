"""Turn an array of any supported layout into a (z, y, x) stack, and harmonise physical units.

Every format reader returns a :class:`RawVolume` (the array as stored, its axes when the file
says, spacing per spatial axis); :func:`select_zyx` then applies the user's ``channel``/``time``
choice and the 2D → one-slice rule in one place, so every format refuses RGB or 4D data the same
way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import dask.array as da
import numpy as np

from napari_cathode.core.errors import VolumeError

__all__ = [
    "AXIS_LETTERS",
    "RawVolume",
    "guess_axes",
    "harmonise_spacing",
    "normalise_unit",
    "select_zyx",
    "voxel_size_zyx",
]

log = logging.getLogger(__name__)

#: Axis letters used here: T time, C channel (or RGB sample), Z/Y/X space, ? unknown.
AXIS_LETTERS = "TCZYX?"

# Length units → nanometres. Files spell units many ways; we report one symbol per unit.
_NM_PER_UNIT = {"pm": 1e-3, "Å": 0.1, "nm": 1.0, "µm": 1e3, "mm": 1e6, "cm": 1e7, "m": 1e9}
_UNIT_ALIASES = {
    "picometer": "pm",
    "picometre": "pm",
    "a": "Å",
    "å": "Å",
    "angstrom": "Å",
    "ångström": "Å",
    "\\u00c5": "Å",
    "nanometer": "nm",
    "nanometre": "nm",
    "um": "µm",
    "μm": "µm",
    "micron": "µm",
    "microns": "µm",
    "micrometer": "µm",
    "micrometre": "µm",
    "\\u00b5m": "µm",
    "millimeter": "mm",
    "millimetre": "mm",
    "centimeter": "cm",
    "centimetre": "cm",
    "meter": "m",
    "metre": "m",
}
_NO_UNIT = {"", "pixel", "pixels", "px", "none"}


@dataclass(frozen=True, eq=False)
class RawVolume:
    """An array as a format stores it, before the (z, y, x) selection.

    Parameters
    ----------
    data : dask.array.Array
        Lazily backed array in the file's own axis order.
    axes : str or None
        One letter per axis from ``AXIS_LETTERS``; None when the file does not say.
    spacing : dict
        Physical size per spatial axis letter (``"z"``, ``"y"``, ``"x"``) in ``unit``; only
        the axes the file states.
    unit : str or None
        Length unit of ``spacing``.
    slice_source : bool
        True for data made of 2D images (PNG, slice folders): a last axis of 3 or 4 is colour.
    """

    data: da.Array
    axes: str | None = None
    spacing: dict[str, float] = field(default_factory=dict)
    unit: str | None = None
    slice_source: bool = False


def normalise_unit(unit: str | None) -> str | None:
    """Canonical symbol of a length unit (``"micron"`` → ``"µm"``), None for pixels/no unit.

    Examples
    --------
    >>> normalise_unit("micron"), normalise_unit("Angstrom"), normalise_unit("nm")
    ('µm', 'Å', 'nm')
    >>> normalise_unit("px") is None
    True
    """
    if unit is None:
        return None
    text = str(unit).strip()
    if text.lower() in _NO_UNIT:
        return None
    if text in _NM_PER_UNIT:
        return text
    return _UNIT_ALIASES.get(text.lower(), text)


def harmonise_spacing(
    spacing: dict[str, float], units: dict[str, str | None]
) -> tuple[dict[str, float], str | None]:
    """Express per-axis spacings with per-axis units in one unit (the unit of ``x`` or ``y``).

    Å is reported in nm (tomography users think in nm; MRC and some OME files store Å). An axis
    without a unit takes the others' unit. With a unit name we do not know, the numbers are kept
    without a unit when all axes share it (napari could not display it), and dropped otherwise.

    Examples
    --------
    >>> harmonise_spacing({"z": 20.0, "y": 5.0, "x": 5.0}, {"z": "Å", "y": "nm", "x": "nm"})
    ({'z': 2.0, 'y': 5.0, 'x': 5.0}, 'nm')
    """
    canon = {a: normalise_unit(units.get(a)) for a in spacing}
    known = [canon[a] for a in ("x", "y", "z") if a in canon and canon[a] is not None]
    if not known:
        return dict(spacing), None
    target = "nm" if known[0] == "Å" else known[0]
    if target not in _NM_PER_UNIT or any(u not in _NM_PER_UNIT for u in known):
        if all(canon[a] == target for a in spacing):
            log.warning("unknown length unit %r: voxel size kept without a unit", target)
            return dict(spacing), None
        log.warning("unknown length units %s: voxel size dropped", sorted(set(known)))
        return {}, None
    out = {}
    for axis, value in spacing.items():
        unit = canon[axis] or target
        out[axis] = _convert(float(value), _NM_PER_UNIT[unit], _NM_PER_UNIT[target])
    if known[0] == "Å":
        log.info("voxel size converted from Å to nm")
    return out, target


def _convert(value: float, nm_per_from: float, nm_per_to: float) -> float:
    """Convert a length; multiply or divide by a ratio >= 1 so 12 Å is 1.2 nm, not 1.2000...2."""
    if nm_per_from >= nm_per_to:
        return value * (nm_per_from / nm_per_to)
    return value / (nm_per_to / nm_per_from)


def guess_axes(
    shape: tuple[int, ...], *, slice_source: bool, channel: int | None, time: int | None, name: str
) -> str:
    """Axis letters for an array whose file does not name its axes.

    2D is (y, x); 3D is (z, y, x) — or (y, x, colour) for 2D image formats; 4D is
    (z, y, x, colour) when the last axis has 3 or 4 entries, else the first axis is the one the
    user picked with ``time=`` or ``channel=``. Anything else needs axis metadata.

    Examples
    --------
    >>> guess_axes((5, 499, 601), slice_source=False, channel=None, time=None, name="a.npy")
    'ZYX'
    >>> guess_axes((499, 601, 3), slice_source=True, channel=None, time=None, name="a.png")
    'YXC'
    >>> guess_axes((4, 5, 64, 64), slice_source=False, channel=None, time=0, name="t.h5")
    'TZYX'
    """
    colour_last = shape[-1] in (3, 4)
    if len(shape) == 2:
        return "YX"
    if len(shape) == 3:
        return "YXC" if slice_source and colour_last else "ZYX"
    if len(shape) == 4:
        if colour_last:
            return "ZYXC"
        if time is not None and channel is not None:
            raise VolumeError(
                f"{name}: 4D data {shape} has one extra axis, but both time={time} and "
                f"channel={channel} were given; pass only one of them"
            )
        if time is not None:
            return "TZYX"
        if channel is not None:
            return "CZYX"
        raise VolumeError(
            f"{name}: 4D data of shape {shape} (axes unknown: time or channel first?); "
            f"choose one 3D volume with time=0..{shape[0] - 1} or channel=0..{shape[0] - 1}"
        )
    raise VolumeError(
        f"{name}: {len(shape)}D data of shape {shape} is not an image volume this reader "
        "understands; save it as a 3D (z, y, x) array, or as OME-Zarr/OME-TIFF with axis names"
    )


def _pick(
    data: da.Array, axes: str, letter: str, index: int | None, kind: str, name: str
) -> tuple[da.Array, str]:
    """Take ``index`` along the axis ``letter`` (or squeeze it when it has one entry)."""
    if letter not in axes:
        if index is not None:
            raise VolumeError(
                f"{name}: {kind}={index} was given but the data has no {kind} axis "
                f"(shape {data.shape}, axes {axes}); leave {kind} unset"
            )
        return data, axes
    position = axes.index(letter)
    size = data.shape[position]
    if index is None:
        if size == 1:
            index = 0
        elif kind == "channel" and size in (3, 4) and axes.endswith("C"):
            raise VolumeError(
                f"{name}: RGB{'A' if size == 4 else ''} data (shape {data.shape}, axes {axes}); "
                f"tomography volumes are grey values: choose one colour with channel=0..{size - 1}"
            )
        else:
            raise VolumeError(
                f"{name}: the data has {size} {kind}s (shape {data.shape}, axes {axes}); "
                f"choose one with {kind}=0..{size - 1}"
            )
    if not 0 <= int(index) < size:
        raise VolumeError(
            f"{name}: {kind}={index} is out of range; the file has {kind}s 0..{size - 1}"
        )
    selector = tuple(int(index) if i == position else slice(None) for i in range(data.ndim))
    return data[selector], axes.replace(letter, "")


def select_zyx(raw: RawVolume, *, channel: int | None, time: int | None, name: str) -> da.Array:
    """Return ``raw.data`` as a (z, y, x) dask array, applying ``channel``/``time``.

    Raises
    ------
    VolumeError
        If the data is RGB or has a time/channel axis and no choice was given, if a choice is
        out of range or names an axis the data does not have, or if the layout is not an image.
    """
    data = raw.data
    if data.ndim < 2:
        raise VolumeError(f"{name}: {data.ndim}D data of shape {data.shape} is not an image")
    axes = raw.axes or guess_axes(
        data.shape, slice_source=raw.slice_source, channel=channel, time=time, name=name
    )
    if len(axes) != data.ndim:
        raise VolumeError(f"{name}: axes {axes!r} do not match the data shape {data.shape}")
    data, axes = _pick(data, axes, "T", time, "time", name)
    data, axes = _pick(data, axes, "C", channel, "channel", name)
    for position in reversed(range(len(axes))):
        if axes[position] not in "ZYX" and data.shape[position] == 1:
            data = data[tuple(0 if i == position else slice(None) for i in range(data.ndim))]
            axes = axes[:position] + axes[position + 1 :]
    if sorted(axes) not in (sorted("YX"), sorted("ZYX")):
        raise VolumeError(
            f"{name}: cannot read axes {axes!r} (shape {data.shape}) as a (z, y, x) volume; "
            "choose one time point with time= and one channel with channel="
        )
    if "Z" not in axes:
        data, axes = data[np.newaxis], "Z" + axes
    return data.transpose([axes.index(a) for a in "ZYX"])


def voxel_size_zyx(
    spacing: dict[str, float], n_slices: int, *, name: str
) -> tuple[float, float, float] | None:
    """(z, y, x) voxel size from per-axis spacing; None when y or x is unknown.

    A single slice gets z = y. A stack without a z spacing gets z = y too, with a warning,
    because the file does not say and isotropic voxels are the usual tomography case.
    """
    if "y" not in spacing or "x" not in spacing:
        return None
    size_y, size_x = float(spacing["y"]), float(spacing["x"])
    size_z = spacing.get("z")
    if size_z is None:
        if n_slices > 1:
            log.warning("%s: the file gives no z spacing; assuming isotropic voxels (z = y)", name)
        size_z = size_y
    sizes = (float(size_z), size_y, size_x)
    if not all(np.isfinite(s) and s > 0 for s in sizes):
        log.warning("%s: ignoring invalid voxel size %s from the file", name, sizes)
        return None
    return sizes
