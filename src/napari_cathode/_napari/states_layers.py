"""Layers of the "Particle states" dock: particles, labelled points, states, Grad-CAM heat map."""

from __future__ import annotations

import napari
import numpy as np

from napari_cathode.core.particle_states import ParticleLabels, state_volume

PARTICLES, LABELLED, STATE, HEAT = "particles", "state labels", "state", "Grad-CAM"
#: Colours of states 1, 2, ... (the "state" Labels layer and the labelled points).
PALETTE = ("#2ca02c", "#d62728", "#1f77b4", "#ff7f0e", "#9467bd", "#8c564b")


def put_layer(viewer: napari.viewer.Viewer, name: str, data, kind: str, scale, **kwargs):
    """Add a layer, or update the data and properties of the one of that name."""
    if name in viewer.layers:
        layer = viewer.layers[name]
        layer.data = data
        for key, value in kwargs.items():
            setattr(layer, key, value)
        return layer
    return getattr(viewer, f"add_{kind}")(data, name=name, scale=scale, **kwargs)


def show_labelled_points(viewer, labels: ParticleLabels, scale):
    """The clicked points, coloured by state."""
    points = np.array([lab.point for lab in labels.labels], float).reshape(-1, 3)
    colours = [PALETTE[labels.state_index(lab.state) % len(PALETTE)] for lab in labels.labels]
    layer = put_layer(viewer, LABELLED, points, "points", scale, size=4)
    if colours:
        layer.face_color = colours
    return layer


def show_states(viewer, table, instances: np.ndarray, states, scale):
    """The "state" Labels layer: each particle in its predicted state's colour."""
    from napari.utils.colormaps import DirectLabelColormap

    index = {s: i for i, s in enumerate(states)}
    volume = state_volume(
        instances, {int(p): index[s] for p, s in zip(table["particle"], table["state"])}
    )
    colours = {None: "transparent", 0: "transparent"}
    colours.update({i + 1: PALETTE[i % len(PALETTE)] for i in range(len(states))})
    colormap = DirectLabelColormap(color_dict=colours)
    return put_layer(viewer, STATE, volume, "labels", scale, colormap=colormap)


def show_heat(viewer, explanation: dict, scale):
    """The Grad-CAM map over the particle's box (its three central planes)."""
    start = np.array([s.start for s in explanation["box"]], float)
    layer = put_layer(
        viewer, HEAT, explanation["heat"], "image", scale, colormap="turbo",
        blending="additive", opacity=0.7,
    )  # fmt: skip
    layer.translate = start * np.asarray(scale, float)
    layer.contrast_limits = (0.0, 1.0)
    return layer
