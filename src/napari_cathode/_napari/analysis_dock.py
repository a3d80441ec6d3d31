"""The "Analyse and measure" dock: microstructure numbers, PSD plot, defect points and rulers.

Thin: ``napari-cathode analyze``'s use case (:func:`~napari_cathode.jobs.analysis_job.analyse`,
on the layer's labels) runs in a ``thread_worker``; the dock renders the result and writes it
with the same :func:`~napari_cathode.jobs.analysis_job.save_analysis`.
"""

from __future__ import annotations

from pathlib import Path

import napari
import numpy as np
from magicgui.widgets import ComboBox, Container, FloatSpinBox, LineEdit, PushButton, SpinBox
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from napari.qt.threading import thread_worker
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtWidgets import (
    QFileDialog,
    QLabel,
    QProgressBar,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from napari_cathode._napari.activity import job_progress
from napari_cathode._napari.analysis_rows import (
    DEFECTS,
    RULERS,
    TOOLTIPS,
    border_warning,
    layer_classes,
    layer_source,
    measurement_layer,
    remeasure_particles,
    summary_rows,
    write_measurements,
)
from napari_cathode._napari.layers import TRUTH
from napari_cathode._napari.project_layers import PROJECT_KEY
from napari_cathode._napari.session import session_for
from napari_cathode.core.analysis.plots import draw_size_distribution
from napari_cathode.core.analysis.summary import AnalysisConfig, AnalysisResult
from napari_cathode.core.errors import CathodeError
from napari_cathode.jobs.analysis_job import analyse, check_analysis_folder, save_analysis

__all__ = ["AXES", "AnalysisDock"]

AXES = {"z": 0, "y": 1, "x": 2}


class AnalysisDock(QWidget):
    """Dock widget: analyse a labels layer, show the PSD, measure defects and lengths."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = viewer
        self.result: AnalysisResult | None = None
        self._source = None  # the labels layer analysed last, and its class map
        self._class_map = None
        self._worker = None

        self.labels = ComboBox(label="labels", choices=self._labels_choices)
        self.class_map = LineEdit(label="class map")
        self.particle_class = ComboBox(label="particle class", choices=self._class_choices)
        self.h_max = FloatSpinBox(label="h-max (voxels)", value=2.0, min=0.1, max=50, step=0.5)
        self.min_voxels = SpinBox(label="min particle voxels", value=20, min=0, max=10**9)
        self.closing = SpinBox(label="crack closing radius", value=0, min=0, max=10)
        self.axis = ComboBox(label="connectivity axis", choices=list(AXES), value="z")
        self.run_button = PushButton(text="Analyse")
        self.remeasure_button = PushButton(text="Re-measure corrected particles")
        self.points_button = PushButton(text="Add defect points")
        self.ruler_button = PushButton(text="Add ruler")
        self.export_button = PushButton(text="Export CSVs…")
        self.form = Container(
            widgets=[
                self.labels,
                self.class_map,
                self.particle_class,
                self.h_max,
                self.min_voxels,
                self.closing,
                self.axis,
                self.run_button,
                self.remeasure_button,
                self.points_button,
                self.ruler_button,
                self.export_button,
            ]
        )
        for widget in self.form:  # units and h-max explained where the user hovers
            widget.tooltip = TOOLTIPS.get(widget.label, widget.tooltip)
        self.status = QLabel("")
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)  # busy indicator: the watershed reports no steps
        self.progress.hide()
        self.figure = Figure(figsize=(4, 3))
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(220)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["quantity", "value"])
        self.status.setWordWrap(True)
        layout = QVBoxLayout(self)
        for widget in (self.form.native, self.progress, self.status, self.canvas, self.table):
            layout.addWidget(widget)
        self.canvas.hide(), self.table.hide()  # no empty axes: shown with the first result

        self.labels.changed.connect(lambda *_: self.particle_class.reset_choices())
        self.run_button.changed.connect(self.run)
        self.remeasure_button.changed.connect(self.remeasure)
        self.points_button.changed.connect(self.add_defect_points)
        self.ruler_button.changed.connect(self.add_ruler)
        self.export_button.changed.connect(self._choose_export_folder)
        for event in (viewer.layers.events.inserted, viewer.layers.events.removed):
            event.connect(self.reset_choices)
        session_for(viewer).follow(self, "project_changed", self._on_project)
        self.reset_choices()
        self._on_project(session_for(viewer).project)

    def _on_project(self, project) -> None:
        """A project opened: analyse its truth by default (not a sample's reference labels)."""
        truth = session_for(self.viewer).layer(TRUTH) if project is not None else None
        if truth is not None:
            self.reset_choices()
            self.labels.value = truth

    # ------------------------------------------------------------------ choices
    def _labels_choices(self, *_):
        labels = [
            layer
            for layer in self.viewer.layers
            if isinstance(layer, napari.layers.Labels) and layer.ndim == 3
        ]
        labels.sort(key=lambda layer: PROJECT_KEY not in layer.metadata)  # project's first
        return [(layer.name, layer) for layer in labels]

    def _class_choices(self, *_):
        return [c.name for c in layer_classes(self.labels.value)]

    def reset_choices(self, *_) -> None:
        """Refresh the layer and class lists (napari calls this when layers change)."""
        self.form.reset_choices()
        names = self._class_choices()
        active = [n for n in names if n.casefold().startswith("active")]
        if active:
            self.particle_class.value = active[0]

    # ------------------------------------------------------------------ analysis
    def _config(self) -> AnalysisConfig:
        return AnalysisConfig(
            particle_class=str(self.particle_class.value or "active"),
            h_max=float(self.h_max.value),
            min_particle_voxels=int(self.min_voxels.value),
            closing_radius=int(self.closing.value),
            connectivity_axis=AXES[self.axis.value],
        )

    def run(self, *_) -> None:
        """Analyse the chosen labels layer in a worker thread."""
        layer = self.labels.value
        if layer is None:
            show_info("add or open a 3D labels layer to analyse")
            return
        try:
            source, config = layer_source(layer, self.class_map.value), self._config()
        except CathodeError as exc:
            show_error(str(exc))
            return
        self._source, self._class_map = layer, source.class_map
        worker = thread_worker(analyse, ignore_errors=True)(source, config)
        self._start(worker, f"analysing {layer.name}…")

    def remeasure(self, *_) -> None:
        """Measure again from the (hand-corrected) particle instances layer."""
        name = f"{self._source.name} particles" if self._source is not None else None
        if self.result is None or name not in self.viewer.layers:
            show_info("run the analysis first; then correct the particles layer and re-measure")
            return
        instances = np.asarray(self.viewer.layers[name].data)
        worker = thread_worker(remeasure_particles, ignore_errors=True)(
            self._source.data, self.result, instances, self._class_map
        )
        self._start(worker, "re-measuring particles…")

    def _start(self, worker, message: str) -> None:
        self._worker = worker
        worker.finished.connect(job_progress(0, message).close)  # napari's activity panel
        worker.returned.connect(self._show_result)
        worker.errored.connect(self._show_failure)
        worker.finished.connect(self._finished)
        self.run_button.enabled = self.remeasure_button.enabled = False
        self.progress.show()
        self.status.setText(message)
        worker.start()

    def _finished(self) -> None:
        self.run_button.enabled = self.remeasure_button.enabled = True
        self.progress.hide()
        self._worker = None

    def _show_failure(self, exc: Exception) -> None:
        self.status.setText("analysis failed")
        show_error(f"analysis failed: {exc}")

    def _show_result(self, result: AnalysisResult) -> None:
        self.result = result
        table = result.psd_particles
        draw_size_distribution(
            self.figure, table["equivalent_diameter"], table["volume"], unit=result.unit
        )
        self.canvas.show()
        self.table.show()
        self.canvas.draw_idle()
        rows = summary_rows(result)
        self.table.setRowCount(len(rows))
        for i, (key, value) in enumerate(rows):
            self.table.setItem(i, 0, QTableWidgetItem(key))
            self.table.setItem(i, 1, QTableWidgetItem(value))
        self.table.resizeColumnsToContents()
        self._show_layer("particles", result.particles.instances, result)
        self._show_layer("cracks", result.particles.cracks, result, visible=False)
        warning = border_warning(result)
        self.status.setText(f"{result.distribution.count} particles measured. {warning}".strip())
        if warning:
            show_warning(warning)

    def _show_layer(self, what: str, data: np.ndarray, result, *, visible: bool = True) -> None:
        name = f"{self._source.name} {what}"
        if name in self.viewer.layers:
            self.viewer.layers[name].data = data
            return
        layer = self.viewer.add_labels(data, name=name, visible=visible, **self._geometry())
        layer.metadata["napari_cathode_analysis"] = what

    # ------------------------------------------------------------------ measurements
    def _geometry(self) -> dict:
        """scale, translate and units of the analysed layer, for the layers the dock adds."""
        layer = self._source or self.labels.value
        if layer is None:
            return {}
        return {
            "scale": tuple(layer.scale),
            "translate": tuple(layer.translate),
            "units": tuple(layer.units),
        }

    def add_defect_points(self, *_):
        """Add (or select) the 3D Points layer for marking defects."""
        return measurement_layer(self.viewer, DEFECTS, self._geometry())

    def add_ruler(self, *_):
        """Add (or select) the Shapes layer for drawing ruler lines."""
        return measurement_layer(self.viewer, RULERS, self._geometry())

    def _choose_export_folder(self, *_) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export analysis and measurements to")
        if folder:
            self.export(folder)

    def export(self, folder: str | Path) -> dict[str, Path]:
        """Write summary.json, particles.csv, psd.png, defects.csv and rulers.csv to ``folder``."""
        folder = Path(folder)
        target = self._source or self.labels.value
        written: dict[str, Path] = {}
        try:  # the command line's rule: a new, empty folder or an earlier analysis of ours
            check_analysis_folder(folder, overwrite=True)
            if self.result is not None:
                written.update(save_analysis(self.result, folder, overwrite=True))
            layers = self.viewer.layers
            written.update(
                write_measurements(
                    folder,
                    target,
                    layers[DEFECTS] if DEFECTS in layers else None,
                    layers[RULERS] if RULERS in layers else None,
                    class_map=self._class_map,
                )
            )
        except CathodeError as exc:
            show_error(str(exc))
            return written
        self.status.setText(f"exported {len(written)} files to {folder}")
        return written
