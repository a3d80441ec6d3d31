"""Explanations of a state classifier's prediction: occlusion maps and Grad-CAM.

Occlusion (the default for particles) asks the model a counterfactual per pixel: *how much less
sure of the state would you be if this small window looked like plain material?* Each window
(``window`` × ``window`` samples, centred on every sample inside the particle) has its grey-value
channels replaced by their median over the particle, the particle's outline is kept, and the drop
of the state's probability is that sample's heat. A crack filled in this way stops looking like
a crack, so the heat lands on the crack if the model uses it. On the semi-synthetic crack
benchmark this concentrated the map on the crack (see ``docs/benchmarks.md``) where Grad-CAM on
any layer did not (its maps are as coarse as the layer and spread over the particle).

Hand-written rather than :class:`monai.visualize.OcclusionSensitivity`: MONAI's occluder fills
every channel with one value (which would also erase the outline channel and paint an
artificial dark hole) and its callable fill mode raises in the installed MONAI version.
"""

from __future__ import annotations

import numpy as np
import torch

from napari_cathode.core.errors import CathodeError
from napari_cathode.ml.state_classifier import grad_cam

__all__ = ["METHODS", "explain", "occlusion_map"]

#: Explanation methods, the default first.
METHODS = ("occlusion", "gradcam", "gradcam++")


@torch.no_grad()
def occlusion_map(
    network: torch.nn.Module,
    inputs: np.ndarray,
    *,
    class_index: int | None = None,
    window: int = 3,
    mask_channel: int | None = 1,
    batch_size: int = 256,
) -> np.ndarray:
    """Drop of the class probability when each sample's window is filled with plain material.

    Parameters
    ----------
    network : torch.nn.Module
        A 2D state network.
    inputs : numpy.ndarray
        ``(N, C, H, W)`` samples (particle view mosaics or image tiles).
    class_index : int, optional
        Class to explain; default each sample's predicted class.
    window : int
        Side of the filled window (odd; 3 worked best on the benchmark, 5 spread the map).
    mask_channel : int or None
        Channel holding the particle's outline (kept; only samples inside it are occluded and
        the medians are taken over it). ``None`` for images: every sample, medians over all.
    batch_size : int
        Occluded copies per forward pass.

    Returns
    -------
    numpy.ndarray float32
        ``(N, H, W)``: each sample's probability drop (0 where none, and outside the mask)
        divided by the map's maximum (0..1; all 0 if occluding nothing lowers the probability).
    """
    if np.ndim(inputs) != 4:
        raise CathodeError(f"occlusion maps need (N, C, H, W) inputs, got shape {np.shape(inputs)}")
    if window < 1 or window % 2 == 0:
        raise CathodeError(f"occlusion window must be an odd number >= 1, got {window}")
    network.eval()
    inputs = np.ascontiguousarray(inputs, dtype=np.float32)
    grey = [c for c in range(inputs.shape[1]) if c != mask_channel]
    radius = window // 2
    maps = np.zeros((len(inputs), *inputs.shape[2:]), np.float32)
    for index, sample in enumerate(inputs):
        if mask_channel is None:
            inside = np.ones(sample.shape[1:], bool)
        else:
            inside = sample[mask_channel] > 0
        if not inside.any():
            continue
        fill = sample.copy()  # the outline channel stays as it is
        for c in grey:
            fill[c] = np.where(inside, np.median(sample[c][inside]), sample[c])
        centres = np.argwhere(inside)
        base = torch.softmax(network(torch.from_numpy(sample[None])), 1)[0]
        target = int(base.argmax()) if class_index is None else int(class_index)
        drops = []
        for start in range(0, len(centres), batch_size):
            chunk = centres[start : start + batch_size]
            batch = np.repeat(sample[None], len(chunk), 0)
            for k, (i, j) in enumerate(chunk):
                rows = slice(max(0, i - radius), i + radius + 1)
                cols = slice(max(0, j - radius), j + radius + 1)
                batch[k][:, rows, cols] = fill[:, rows, cols]
            probability = torch.softmax(network(torch.from_numpy(batch)), 1)[:, target]
            drops.append((base[target] - probability).clamp_min(0).numpy())
        # the drop belongs to the window's centre: averaging it over the window (MONAI's way)
        # blurred the map by the window's size and halved the share of it on thin cracks
        maps[index][tuple(centres.T)] = np.concatenate(drops)
        peak = maps[index].max()
        if peak > 0:
            maps[index] /= peak
    return maps


def explain(
    network: torch.nn.Module,
    inputs: np.ndarray,
    *,
    class_index: int | None = None,
    method: str = "occlusion",
    layer: str = "layer1",
    mask_channel: int | None = 1,
) -> np.ndarray:
    """Heat maps ``(N, *spatial)`` (0..1) of the samples by ``method`` (one of :data:`METHODS`).

    ``layer`` is Grad-CAM's target layer; ``mask_channel`` the occlusion's outline channel.
    """
    method = str(method).strip().lower()
    if method == "occlusion":
        return occlusion_map(network, inputs, class_index=class_index, mask_channel=mask_channel)
    if method in ("gradcam", "gradcam++"):
        return grad_cam(
            network, inputs, class_index=class_index, layer=layer, plus_plus=method == "gradcam++"
        )
    raise CathodeError(f"unknown explanation method {method!r}; choose one of {list(METHODS)}")
