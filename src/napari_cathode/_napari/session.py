"""Which project is open in a viewer, shared by the project, review, train and export docks.

One :class:`ProjectSession` per viewer (:func:`session_for`). It opens a project's layers with
:func:`~napari_cathode._napari.project_layers.project_layer_tuples`, adopts a project opened
any other way (File ▸ Open, or dropping the folder on napari: the reader tags every project
layer with its folder), and tells the docks when the project, its review state or its rounds
change.

Jobs belong to the session, not to a dock: the training round (:class:`TrainingRunner`) and
the proposals (:class:`PredictionRunner`) live here, so any dock opened later shows them and
can stop them, and closing the viewer stops them. The review keys are bound here too, while
at least one review page is open (:mod:`~napari_cathode._napari.review_keys`).
"""

from __future__ import annotations

import logging
import os
import weakref
from pathlib import Path

import napari
from psygnal import Signal
from qtpy.QtWidgets import QApplication

from napari_cathode._napari import notifications as note
from napari_cathode._napari.layers import PROPOSAL, TRUTH, UNCERTAINTY
from napari_cathode._napari.prediction_runner import PredictionRunner
from napari_cathode._napari.project_layers import PROJECT_KEY, project_layer_tuples
from napari_cathode._napari.reader_preferences import prefer_our_reader
from napari_cathode._napari.review_keys import bind_review_keys, unbind_review_keys
from napari_cathode._napari.training_runner import TrainingRunner
from napari_cathode.core.project.review_state import ReviewStatus
from napari_cathode.core.project.store import Project
from napari_cathode.ml.events import DoneEvent

__all__ = ["IMAGE", "ROLES", "ProjectSession", "session_for"]

log = logging.getLogger(__name__)

#: Layer roles of a project, by the suffix of their names ("image" has none).
IMAGE = "image"
ROLES = (IMAGE, UNCERTAINTY, PROPOSAL, TRUTH)

_SESSIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class ProjectSession:
    """The project open in one viewer and its four layers.

    Signals
    -------
    project_changed(Project | None)
        Another project was opened (or the project was closed).
    review_changed()
        Review state or proposals changed (queue and overlays need a refresh).
    rounds_changed()
        A round was added (round table, model choices).
    """

    project_changed = Signal(object)
    review_changed = Signal()
    rounds_changed = Signal()

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.viewer = viewer
        self.project: Project | None = None
        self.layers: dict[str, napari.layers.Layer] = {}
        self.training = TrainingRunner()
        self.predictions = PredictionRunner()
        #: Refresh the proposals of unreviewed slices when a round ends (the Train page's box).
        self.refresh_after_round = True
        self._review_pages: list[weakref.ref] = []
        self.training.event.connect(self._on_training_event)
        self.predictions.finished.connect(lambda _result: self.refresh_overlays())
        self.predictions.cancelled.connect(self.refresh_overlays)
        self.last_prediction_error = ""
        self.predictions.failed.connect(self._prediction_failed)
        self._watch_close(self)
        viewer.layers.events.inserted.connect(self._on_inserted)
        viewer.layers.events.removed.connect(self._on_removed)
        for layer in list(viewer.layers):  # a project dropped before any dock was opened
            self._on_inserted(value=layer)

    def follow(self, page, signal_name: str, slot) -> None:
        """Connect ``slot`` of the Qt widget ``page`` to a session signal until ``page`` dies.

        The session outlives its docks (a round may end after a dock was closed); a slot of
        a deleted widget must never be called.
        """
        signal = getattr(self, signal_name)
        signal.connect(slot)
        page.destroyed.connect(lambda *_: signal.disconnect(slot, missing_ok=True))

    # ------------------------------------------------------------------ opening
    def open(self, path_or_project: str | os.PathLike | Project) -> Project:
        """Open a project: add its image, uncertainty, proposal and truth layers.

        The layers of a previously open project are removed from the viewer first. A
        read-only project opens with a read-only truth layer.

        Raises
        ------
        ProjectError
            If the folder is not a readable project.
        """
        project = (
            path_or_project
            if isinstance(path_or_project, Project)
            else Project.open(path_or_project)
        )
        self._remove_project_layers()
        self.project = project  # set first: _on_inserted then sees a known project
        layers = {}
        for data, kwargs, kind in project_layer_tuples(project):
            layer = getattr(self.viewer, f"add_{kind}")(data, **kwargs)
            layers[self._role(layer, project)] = layer
        self._set_layers(project, layers)
        return project

    def _set_layers(self, project: Project, layers: dict) -> None:
        self.project = project
        self.layers = layers
        truth = layers.get(TRUTH)
        if truth is not None:
            truth.editable = not project.read_only
            self.viewer.layers.selection.active = truth
        if project.shape[0] > 1 and self.viewer.dims.ndim >= 3:
            self.viewer.dims.set_point(0, self.viewer.dims.point[0])
        log.info("project %s open in the viewer", project.path)
        self.project_changed.emit(project)

    @staticmethod
    def _role(layer, project: Project) -> str:
        for role in (UNCERTAINTY, PROPOSAL, TRUTH):
            if layer.name == f"{project.name} {role}":
                return role
        return IMAGE

    def _on_inserted(self, event=None, *, value=None) -> None:
        layer = value if value is not None else event.value
        folder = layer.metadata.get(PROJECT_KEY)
        if not folder or (self.project is not None and Path(folder) == self.project.path):
            return
        # A project added by the reader (File ▸ Open or a drop): adopt it once its truth is in.
        if not isinstance(layer, napari.layers.Labels) or not layer.name.endswith(f" {TRUTH}"):
            return
        try:
            project = Project.open(folder)
        except Exception as error:
            log.warning("cannot adopt project %s: %s", folder, error)
            return
        layers = {
            self._role(other, project): other
            for other in self.viewer.layers
            if other.metadata.get(PROJECT_KEY) == folder
        }
        self._set_layers(project, layers)

    def _on_removed(self, event) -> None:
        for role, layer in list(self.layers.items()):
            if layer is event.value:
                del self.layers[role]

    def _remove_project_layers(self) -> None:
        if self.project is None:
            return
        folder = str(self.project.path)
        for layer in [x for x in self.viewer.layers if x.metadata.get(PROJECT_KEY) == folder]:
            self.viewer.layers.remove(layer)
        self.layers = {}

    # ------------------------------------------------------------------ jobs
    def _on_training_event(self, event) -> None:
        if not isinstance(event, DoneEvent):
            return
        self.rounds_changed.emit()
        project = self.project
        if project is None or not self.refresh_after_round or project.read_only:
            return
        status = project.review_status()
        unreviewed = [int(z) for z in range(len(status)) if status[z] != ReviewStatus.REVIEWED]
        if unreviewed:
            self.predictions.start(project.path, slices=unreviewed)

    def _prediction_failed(self, error) -> None:
        self.last_prediction_error = note.notify_error(error, doing="prediction")

    @staticmethod
    def _watch_close(session) -> None:
        # Closing a viewer cancels its thread workers (napari's task manager quits the worker
        # that reads the round, whose job then stops the process); quitting the application
        # stops everything here as well. The training process also dies with its parent.
        app = QApplication.instance()
        if app is not None:
            alive = weakref.ref(session)  # the application must not keep sessions alive
            app.aboutToQuit.connect(lambda: alive() is not None and alive().shutdown())

    def shutdown(self) -> None:
        """Stop the running round and prediction (the viewer is closing)."""
        self.predictions.cancel()
        self.training.shutdown()

    # ------------------------------------------------------------------ review keys
    def register_review_page(self, page) -> None:
        """Make ``page`` the target of the review keys (bound while any page is open)."""
        self._review_pages = [r for r in self._review_pages if r() not in (None, page)]
        self._review_pages.append(weakref.ref(page))
        bind_review_keys(self.viewer)

    def unregister_review_page(self, page) -> None:
        """Forget ``page``; the keys are unbound when no review page is left."""
        self._review_pages = [r for r in self._review_pages if r() not in (None, page)]
        if not self._review_pages:
            unbind_review_keys(self.viewer)

    def review_page(self):
        """The review page the keys act on (the last one opened), or None."""
        pages = [r() for r in self._review_pages if r() is not None]
        return pages[-1] if pages else None

    # ------------------------------------------------------------------ state
    def layer(self, role: str) -> napari.layers.Layer | None:
        """The project's layer for ``role`` (image, uncertainty, proposal, truth), if present."""
        layer = self.layers.get(role)
        return layer if layer is not None and layer in self.viewer.layers else None

    def current_z(self) -> int:
        """The slice shown in the viewer (data index along z)."""
        truth = self.layer(TRUTH) or self.layer(IMAGE)
        if truth is None:
            return int(self.viewer.dims.current_step[0])
        position = truth.world_to_data(self.viewer.dims.point)
        z = round(float(position[0]))
        return min(max(z, 0), self.project.shape[0] - 1) if self.project else z

    def go_to(self, z: int) -> None:
        """Show slice ``z`` of the project."""
        truth = self.layer(TRUTH) or self.layer(IMAGE)
        if truth is None:
            self.viewer.dims.set_current_step(0, int(z))
            return
        world = truth.data_to_world((z, 0, 0))
        self.viewer.dims.set_point(0, float(world[0]))

    def refresh_overlays(self) -> None:
        """Re-read proposal, uncertainty and truth from disk (after a job wrote them)."""
        for role in (PROPOSAL, UNCERTAINTY, TRUTH):
            layer = self.layer(role)
            if layer is not None:
                layer.refresh()
        self.review_changed.emit()


def session_for(viewer: napari.viewer.Viewer) -> ProjectSession:
    """The session of ``viewer``, created on first use."""
    session = _SESSIONS.get(viewer)
    if session is None:
        prefer_our_reader()
        session = _SESSIONS[viewer] = ProjectSession(viewer)
    return session
