"""Make napari open our own outputs (projects, OME-Zarr exports) without the "Choose reader" dialog.

napari asks which plugin to use whenever two readers claim a path, and every folder is
claimed by every reader that accepts folders (napari's built-in reader included, which fails
on an OME-Zarr image with "No arrays found in zarr group"). napari's own answer is the
``plugins.extension2reader`` preference that the dialog's "Remember this choice" writes; the
plugin writes the same preference for the two folder kinds it creates, once, when one of its
docks opens, and never overrides a choice the user already made (Preferences ▸ Plugins shows
and removes it).
"""

from __future__ import annotations

import logging
import os

__all__ = ["OWN_FOLDERS", "PLUGIN", "prefer_our_reader"]

log = logging.getLogger(__name__)

PLUGIN = "napari-cathode"
#: Folder patterns (as napari's reader dialog writes them for folders) that we read best.
OWN_FOLDERS = (f"*.cathode{os.sep}", f"*.ome.zarr{os.sep}")


def prefer_our_reader() -> list[str]:
    """Prefer this plugin's reader for project folders and OME-Zarr; returns patterns added."""
    from napari.settings import get_settings

    plugins = get_settings().plugins
    current = dict(plugins.extension2reader)
    added = [pattern for pattern in OWN_FOLDERS if pattern not in current]
    if added:
        plugins.extension2reader = {**current, **dict.fromkeys(added, PLUGIN)}
        log.info("napari will open %s with %s", ", ".join(added), PLUGIN)
    return added
