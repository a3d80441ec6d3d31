"""The "Kinetics" dock: follow every particle of a project's time series.

Thin: it reads its fields on the main thread, runs
:func:`~napari_cathode.jobs.kinetics_job.run_kinetics` in a ``thread_worker`` whose progress
(stage, done, total) drives ``napari.utils.progress`` bars in napari's activity panel, then adds
the series and the tracked particles as layers and plots one trajectory per particle. A click on
a curve selects that particle in the viewer (and centres it); selecting a particle in the
viewer (clicking it, or choosing its label) highlights its curve.
"""

from __future__ import annotations

import queue
import threading

import napari
import numpy as np
from magicgui.widgets import ComboBox, Container, LineEdit, PushButton, SpinBox
from napari.qt.threading import thread_worker
from napari.utils import progress as napari_progress
from napari.utils.notifications import show_error
from qtpy.QtWidgets import QLabel, QVBoxLayout, QWidget

from napari_cathode._napari.kinetics_plot import TrajectoryPlot
from napari_cathode._napari.session import session_for
from napari_cathode.core.errors import CathodeError
from napari_cathode.core.timeseries.tracking import ShiftedLabels
from napari_cathode.jobs.kinetics_job import MODES, KineticsOutput, KineticsRequest, run_kinetics

__all__ = ["PARTICLES_LAYER", "SERIES_LAYER", "KineticsDock", "tracked_particles"]

SERIES_LAYER, PARTICLES_LAYER = "time series", "particles (tracked)"


def tracked_particles(particles: np.ndarray, drift: np.ndarray, reference: int):
    """Lazy (t, z, y, x) labels: the reference particles moved by each time point's drift."""
    import dask.array as da

    offsets = np.round(drift - drift[reference]).astype(int)
    frames = [da.from_array(ShiftedLabels(particles, o), chunks=particles.shape) for o in offsets]
    return da.stack(frames)


class KineticsDock(QWidget):
    """Dock widget: kinetics of a time series, trajectories linked to the viewer."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = viewer
        self.output: KineticsOutput | None = None
        self.layer = None
        self._worker = None
        self._bars: dict[str, napari_progress] = {}
        self.stages_seen: set[str] = set()
        project = session_for(viewer).project
        self.project = LineEdit(label="project", value=str(project.path) if project else "")
        self.series = LineEdit(label="series", tooltip="empty: the series attached to the project")
        self.reference = SpinBox(label="reference time point", value=0, min=0, max=100000)
        self.mode = ComboBox(label="particles per time point", choices=list(MODES), value="static")
        self.out = LineEdit(label="save tables to", tooltip="folder for the CSV files (optional)")
        self.run_button = PushButton(text="Follow particles")
        self.form = Container(
            widgets=[
                self.project,
                self.series,
                self.reference,
                self.mode,
                self.out,
                self.run_button,
            ]
        )
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.plot = TrajectoryPlot(self.select_particle)
        self.details = QLabel("")
        layout = QVBoxLayout(self)
        for widget in (self.form.native, self.status, self.plot.canvas, self.details):
            layout.addWidget(widget)
        self.run_button.changed.connect(self.run)

    # ------------------------------------------------------------------ the job
    def request(self) -> KineticsRequest:
        """The job's request from the fields (main thread)."""
        series = self.series.value.strip()
        return KineticsRequest(
            project=self.project.value.strip(),
            out=self.out.value.strip() or None,
            series=(series,) if series else (),
            reference=int(self.reference.value) if series else None,
            mode=self.mode.value,
        )

    def run(self) -> None:
        """Start the kinetics in a worker thread."""
        try:
            request = self.request()
        except CathodeError as error:
            show_error(str(error))
            return
        self.run_button.enabled = False
        self.status.setText("following particles…")
        self._worker = self._make_worker(request)
        self._worker.yielded.connect(self._on_progress)
        self._worker.returned.connect(self._on_done)
        self._worker.errored.connect(self._on_error)
        self._worker.finished.connect(self._finish)
        self._worker.start()

    @staticmethod
    @thread_worker
    def _make_worker(request: KineticsRequest):
        """Run the job in a helper thread; yield its (stage, done, total) updates to Qt.

        ``run_kinetics`` reports through a callback, and only a generator worker can hand
        values to the Qt thread, so the job runs beside this generator, which forwards what
        the callback queued (the progress bars live on the Qt thread).
        """
        updates: queue.Queue = queue.Queue()
        result: dict = {}

        def job() -> None:
            try:
                result["output"] = run_kinetics(
                    request, progress=lambda *update: updates.put(update)
                )
            except Exception as error:  # re-raised in the worker, shown by _on_error
                result["error"] = error

        thread = threading.Thread(target=job, name="kinetics", daemon=True)
        thread.start()
        while thread.is_alive() or not updates.empty():
            try:
                yield updates.get(timeout=0.1)
            except queue.Empty:
                continue
        if "error" in result:
            raise result["error"]
        return result["output"]

    def _on_progress(self, update) -> None:
        stage, done, total = update
        self.stages_seen.add(stage)
        bar = self._bars.get(stage)
        if bar is None:
            bar = self._bars[stage] = napari_progress(total=total, desc=f"kinetics: {stage}")
        bar.total = total
        bar.update(done - bar.n)

    def _on_error(self, error: Exception) -> None:
        self.status.setText(f"failed: {error}")
        show_error(str(error))

    def _finish(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()
        self.run_button.enabled = True

    def _on_done(self, output: KineticsOutput) -> None:
        self.output = output
        result = output.result
        from napari_cathode.core.project.store import Project
        from napari_cathode.core.timeseries.project_series import open_project_series

        project = Project.open(self.project.value.strip(), mode="r")
        series, _ = open_project_series(project.path)
        scale = project.voxel_size
        for name in (SERIES_LAYER, PARTICLES_LAYER):
            if name in self.viewer.layers:
                self.viewer.layers.remove(name)
        self.viewer.add_image(series.data, name=SERIES_LAYER, scale=(1.0, *scale))
        self.layer = self.viewer.add_labels(
            tracked_particles(output.particles, result.drift, output.reference),
            name=PARTICLES_LAYER,
            scale=(1.0, *scale),
            opacity=0.5,
        )
        self.layer.events.selected_label.connect(self._on_label_selected)
        self.layer.mouse_drag_callbacks.append(self._on_click)
        self.viewer.dims.set_current_step(0, output.reference)
        self.plot.show(result.trajectories, self.colour_of)
        fits = result.particles
        self.status.setText(
            f"{len(fits)} particles, {int(fits['ok'].sum())} fitted; "
            f"median onset {fits.loc[fits['ok'], 'onset'].median():.2f}"
            + (f"; tables in {output.files[0].parent}" if output.files else "")
        )

    # ------------------------------------------------------------------ linking
    def colour_of(self, particle: int) -> tuple:
        """The particle's colour in the tracked-particles layer (RGBA 0..1)."""
        return tuple(float(c) for c in self.layer.get_color(particle))

    def select_particle(self, particle: int) -> None:
        """Select ``particle`` in the viewer: show it alone, centre it, highlight its curve."""
        if self.layer is None or self.output is None:
            return
        self.layer.selected_label = particle
        self.layer.show_selected_label = True
        row = self.output.result.particles.set_index("particle").loc[particle]
        centre = np.array([row["centroid_z"], row["centroid_y"], row["centroid_x"]])
        world = centre * np.asarray(self.layer.scale[1:])
        self.viewer.dims.set_point(1, float(world[0]))
        self.viewer.camera.center = tuple(world)
        self.plot.highlight(particle)  # also when it was the layer's selected label already
        self._show_details(particle)

    def _on_label_selected(self, event=None) -> None:
        particle = int(self.layer.selected_label)
        self.plot.highlight(particle)
        self._show_details(particle)

    def _on_click(self, layer, event) -> None:
        if layer.mode != "pan_zoom":
            return
        value = layer.get_value(event.position, world=True)
        if value:
            layer.selected_label = int(value)

    def _show_details(self, particle: int) -> None:
        table = self.output.result.particles.set_index("particle")
        if particle not in table.index:
            self.details.setText("")
            return
        row = table.loc[particle]
        self.details.setText(
            f"particle {particle}: onset {row['onset']:.2f}, rate {row['rate']:.3f} per time "
            f"point, {int(row['reference_voxels'])} voxels"
            + ("" if row["ok"] else f" — fit: {row['reason']}")
        )
