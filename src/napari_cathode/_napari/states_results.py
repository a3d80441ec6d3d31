"""Predict and explain of the "Particle states" dock (a mixin: the dock holds the widgets)."""

from __future__ import annotations

from pathlib import Path

from napari.qt.threading import thread_worker

from napari_cathode._napari.states_layers import show_heat, show_states

__all__ = ["StatesResults"]


class StatesResults:
    """Predict every particle, explain one (occlusion map or Grad-CAM), export the heat map.

    Needs from the dock: ``viewer``, ``session``, ``result`` (QLabel), ``particle`` (QSpinBox),
    ``method`` (QComboBox), ``export_path`` (QLineEdit), ``_project()``, ``_scale()`` and
    ``_fail()``.
    """

    explanation: dict | None = None

    def predict(self):
        """Classify every particle (worker thread); adds the "state" Labels layer."""
        from napari_cathode.jobs.particle_states_job import predict_project_states

        project = self._project()
        if project is None:
            return None
        worker = thread_worker(predict_project_states, start_thread=False, ignore_errors=True)(
            project.path
        )
        worker.returned.connect(self._predicted)
        worker.errored.connect(lambda error: self._fail(error, "predicting states"))
        worker.start()
        return worker

    def _predicted(self, result) -> None:
        table, instances, states = result
        show_states(self.viewer, table, instances, states, self._scale(), self.session.project.unit)
        counts = ", ".join(f"{s}: {int((table['state'] == s).sum())}" for s in states)
        path = Path(self.session.project.path) / "states" / "particles.csv"
        self.result.setText(f"{len(table)} particles — {counts}; table: {path}")

    def explain(self):
        """Heat map of the chosen particle's prediction as an image layer (worker thread)."""
        from napari_cathode.jobs.particle_states_job import explain_particle

        project = self._project()
        if project is None:
            return None
        worker = thread_worker(explain_particle, start_thread=False, ignore_errors=True)(
            project.path, self.particle.value(), method=self.method.currentText()
        )
        worker.returned.connect(self._explained)
        worker.errored.connect(lambda error: self._fail(error, "explaining"))
        worker.start()
        return worker

    def _explained(self, result: dict) -> None:
        self.explanation = result
        show_heat(self.viewer, result, self._scale(), self.session.project.unit)
        probabilities = ", ".join(f"{s} {p:.2f}" for s, p in result["probabilities"].items())
        self.result.setText(
            f"particle {result['particle']}: {result['predicted']} ({probabilities}); "
            f"{result['method']} heat map of '{result['state']}' on its three central planes"
        )

    def export_heat_map(self) -> Path | None:
        """Save the last explanation as TIFF (float map) or PNG (overlay)."""
        from napari_cathode.core.states.heat_maps import save_heat_map

        if self.explanation is None:
            self._fail("explain a particle first")
            return None
        try:
            return save_heat_map(
                self.export_path.text().strip(),
                self.explanation["heat"],
                self.explanation["image"],
                label=self.explanation["method"],
            )
        except Exception as error:
            self._fail(error, "exporting the heat map")
            return None
