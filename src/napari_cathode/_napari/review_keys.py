"""Keyboard shortcuts of the review loop, bound on the viewer while a review page is open.

napari's key handling looks up ``__name__`` on every bound callable (its repeatable-shortcut
check), so each key is bound to a named module-level function, never a ``functools.partial``
or a lambda. The functions act on the review page registered with the viewer's
:class:`~napari_cathode._napari.session.ProjectSession` (the last one opened), so opening the
main dock and a separate "Propose and review" dock never fights over the keys; they are
unbound when the last review page goes away.

==========  ==========================================================
``n``       next slice of the review queue
``Shift-N`` previous slice of the queue (``p`` is napari's paint key)
``a``       accept the proposal where truth is empty
``r``       mark this slice reviewed
``u``       most uncertain unreviewed slice
``t``       proposal display: filled → contours → hidden → filled
``Shift-T`` show / hide the truth layer
==========  ==========================================================
"""

from __future__ import annotations

import logging

from napari_cathode._napari.layers import PROPOSAL, TRUTH

__all__ = [
    "CONTOUR_WIDTH",
    "KEYS",
    "bind_review_keys",
    "cycle_proposal_display",
    "review_accept",
    "review_mark_reviewed",
    "review_most_uncertain",
    "review_next_item",
    "review_previous_item",
    "toggle_truth",
    "unbind_review_keys",
]

log = logging.getLogger(__name__)

#: Proposal contour width when shown as contours (pixels).
CONTOUR_WIDTH = 2


def _page(viewer):
    from napari_cathode._napari.session import session_for

    return session_for(viewer).review_page()


def review_next_item(viewer) -> None:
    """Go to the next slice of the review queue."""
    page = _page(viewer)
    if page is not None:
        page.next_item()


def review_previous_item(viewer) -> None:
    """Go to the previous slice of the review queue."""
    page = _page(viewer)
    if page is not None:
        page.previous_item()


def review_accept(viewer) -> None:
    """Accept the proposal on the current slice where truth is empty."""
    page = _page(viewer)
    if page is not None:
        page.accept()


def review_mark_reviewed(viewer) -> None:
    """Mark the current slice reviewed."""
    page = _page(viewer)
    if page is not None:
        page.mark_reviewed()


def review_most_uncertain(viewer) -> None:
    """Go to the most uncertain unreviewed slice."""
    page = _page(viewer)
    if page is not None:
        page.go_to_most_uncertain()


def cycle_proposal_display(viewer) -> str | None:
    """Proposal shown filled, then as contours, then hidden; returns the new state."""
    from napari_cathode._napari.session import session_for

    layer = session_for(viewer).layer(PROPOSAL)
    if layer is None:
        return None
    if not layer.visible:
        layer.visible, layer.contour, state = True, 0, "filled"
    elif layer.contour == 0:
        layer.contour, state = CONTOUR_WIDTH, "contours"
    else:
        layer.visible, layer.contour, state = False, 0, "hidden"
    return state


def toggle_truth(viewer) -> bool | None:
    """Show or hide the truth layer; returns whether it is visible now."""
    from napari_cathode._napari.session import session_for

    layer = session_for(viewer).layer(TRUTH)
    if layer is None:
        return None
    layer.visible = not layer.visible
    return layer.visible


KEYS = {
    "n": review_next_item,
    "Shift-N": review_previous_item,
    "a": review_accept,
    "r": review_mark_reviewed,
    "u": review_most_uncertain,
    "t": cycle_proposal_display,
    "Shift-T": toggle_truth,
}


def bind_review_keys(viewer) -> None:
    """Bind the review keys on ``viewer`` (replacing earlier bindings of the same keys)."""
    for key, function in KEYS.items():
        viewer.bind_key(key, function, overwrite=True)


def unbind_review_keys(viewer) -> None:
    """Remove the review keys from ``viewer`` (only those still bound to our functions)."""
    from napari.utils.key_bindings import KeyBinding

    for key, function in KEYS.items():
        if viewer.keymap.get(KeyBinding.from_str(key)) is function:
            try:
                viewer.bind_key(key, None)
            except (KeyError, ValueError, RuntimeError):  # pragma: no cover - already gone
                log.debug("key %s already unbound", key)
