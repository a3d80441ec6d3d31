"""Layers of the "Particle states" dock: particles, labelled points, states, heat map."""

from __future__ import annotations

import napari
import numpy as np

from napari_cathode.core.states.particles import ParticleLabels, state_volume

__all__ = [
    "HEAT",
    "LABELLED",
    "PALETTE",
    "PARTICLES",
    "STATE",
    "put_layer",
    "show_heat",
    "show_labelled_points",
    "show_states",
]

PARTICLES, LABELLED, STATE, HEAT = "particles", "state labels", "state", "heat map"
#: Colours of states 1, 2, ... (the "state" Labels layer and the labelled points).
PALETTE = ("#2ca02c", "#d62728", "#1f77b4", "#ff7f0e", "#9467bd", "#8c564b")


#: Units that mean "no physical size known" (as in ``layers.py``): napari gets no unit then.
_NO_UNIT = {None, "", "px", "pixel", "pixels", "voxel", "voxels"}


def put_layer(viewer: napari.viewer.Viewer, name: str, data, kind: str, scale, unit=None, **kwargs):
    """Add a layer (with the project's scale and unit), or update the one of that name."""
    if name in viewer.layers:
        layer = viewer.layers[name]
        layer.data = data
        for key, value in kwargs.items():
            setattr(layer, key, value)
        return layer
    if unit not in _NO_UNIT:
        kwargs["units"] = (unit,) * len(scale)
    return getattr(viewer, f"add_{kind}")(data, name=name, scale=scale, **kwargs)


def show_labelled_points(viewer, labels: ParticleLabels, scale, unit=None):
    """The clicked points, coloured by state (also shown a few slices away from their own)."""
    points = np.array([lab.point for lab in labels.labels], float).reshape(-1, 3)
    colours = [PALETTE[labels.state_index(lab.state) % len(PALETTE)] for lab in labels.labels]
    layer = put_layer(
        viewer, LABELLED, points, "points", scale, unit, size=7, out_of_slice_display=True
    )
    if colours:
        layer.face_color = colours
    return layer


def show_states(viewer, table, instances: np.ndarray, states, scale, unit=None):
    """The "state" Labels layer: each particle in its predicted state's colour."""
    from napari.utils.colormaps import DirectLabelColormap

    index = {s: i for i, s in enumerate(states)}
    volume = state_volume(
        instances, {int(p): index[s] for p, s in zip(table["particle"], table["state"])}
    )
    colours = {None: "transparent", 0: "transparent"}
    colours.update({i + 1: PALETTE[i % len(PALETTE)] for i in range(len(states))})
    colormap = DirectLabelColormap(color_dict=colours)
    return put_layer(viewer, STATE, volume, "labels", scale, unit, colormap=colormap)


def show_heat(viewer, explanation: dict, scale, unit=None):
    """The explanation heat map over the particle's box (its three central planes)."""
    start = np.array([s.start for s in explanation["box"]], float)
    layer = put_layer(
        viewer, HEAT, explanation["heat"], "image", scale, unit, colormap="turbo",
        blending="additive", opacity=0.7,
    )  # fmt: skip
    layer.translate = start * np.asarray(scale, float)
    layer.contrast_limits = (0.0, 1.0)
    return layer
