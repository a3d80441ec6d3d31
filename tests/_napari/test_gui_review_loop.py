"""The review loop as a user meets it (issue 11): every dock open, real key presses on the
canvas, jobs that belong to the project session, the reader, export prompts, fresh state, and
a main dock that fits a 1366 x 768 laptop and a 1920 x 1080 screen."""

from __future__ import annotations

import os

import numpy as np
import psutil
import pytest
from napari.utils import progress
from napari.utils.key_bindings import KeyBinding
from napari.utils.notifications import NotificationSeverity, notification_manager
from npe2 import PluginManager
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QScrollArea

from napari_cathode.core.io.export import export_ome_zarr
from napari_cathode.core.project.lock import is_locked
from napari_cathode.core.project.store import Project, ReviewStatus
from napari_cathode.ml.config import ModelConfig

pytestmark = pytest.mark.gui

PLUGIN = "napari-cathode"
DOCKS = ("Project and classes", "Propose and review", "Train", "Export", "Analyse and measure")
WAIT = 120_000


@pytest.fixture
def project(tmp_path, acquisition_a_crop):
    """A project on the real crop: slice 1 holds truth, slice 3 a proposal (the real labels)."""
    image, labels = acquisition_a_crop
    truth = np.zeros_like(labels)
    truth[1] = labels[1]
    project = Project.create(tmp_path / "crop.cathode", image, truth=truth)
    project.write_proposal(3, labels[3], np.full(labels[3].shape, 0.25))
    project.set_slice_uncertainty([3], [0.25])
    project.set_review(3, ReviewStatus.PROPOSED)
    return project


def _loop(viewer, project=None, *, all_docks=False):
    """The main dock (and, with ``all_docks``, every separate dock); ``loop.wrappers`` maps
    dock names to napari's dock widgets (to close them)."""
    wrappers = {}
    for name in DOCKS if all_docks else ():
        wrappers[name], _ = viewer.window.add_plugin_dock_widget(PLUGIN, name, tabify=True)
    wrapper, loop = viewer.window.add_plugin_dock_widget(PLUGIN, "Segmentation loop")
    loop.wrappers = {**wrappers, "Segmentation loop": wrapper}
    if project is not None:
        loop.session.open(project.path)
    return loop


def _key(qtbot, viewer, key, modifier=Qt.KeyboardModifier.NoModifier):
    qtbot.keyClick(viewer.window._qt_viewer.canvas.native, key, modifier)
    qtbot.wait(10)


def _errors(start: int) -> list[str]:
    records = notification_manager.records[start:]
    return [str(n.message) for n in records if n.severity >= NotificationSeverity.ERROR]


def test_keys_on_the_canvas_with_every_dock_open(make_napari_viewer, qtbot, project,
                                                 acquisition_a_crop):  # fmt: skip
    """Defect 1 (every key press errored) and the proposal/truth display keys; defect 6
    (the queue highlights the slice on screen, the project line follows reviews)."""
    _, labels = acquisition_a_crop
    viewer = make_napari_viewer(show=True)
    loop = _loop(viewer, project, all_docks=True)
    seen = len(notification_manager.records)
    truth, proposal = viewer.layers["crop truth"], viewer.layers["crop proposal"]
    K = Qt.Key

    _key(qtbot, viewer, K.Key_U)  # most uncertain: slice 3
    assert loop.session.current_z() == 3 and loop.review.table.selected_slice() == 3
    _key(qtbot, viewer, K.Key_A)  # accept
    np.testing.assert_array_equal(np.asarray(project.truth[3]), labels[3])
    _key(qtbot, viewer, K.Key_2)  # napari's own paint key
    assert truth.mode == "paint"
    _key(qtbot, viewer, K.Key_Z, Qt.KeyboardModifier.ControlModifier)  # napari's undo
    assert not np.asarray(Project.open(project.path, mode="r").truth[3]).any()
    _key(qtbot, viewer, K.Key_A)
    _key(qtbot, viewer, K.Key_T)  # proposal as contours, then hidden, then filled
    assert proposal.visible and proposal.contour > 0
    _key(qtbot, viewer, K.Key_T)
    assert not proposal.visible
    _key(qtbot, viewer, K.Key_T)
    assert proposal.visible and proposal.contour == 0
    _key(qtbot, viewer, K.Key_T, Qt.KeyboardModifier.ShiftModifier)  # truth off and on
    assert not truth.visible
    _key(qtbot, viewer, K.Key_T, Qt.KeyboardModifier.ShiftModifier)
    assert truth.visible
    _key(qtbot, viewer, K.Key_R)  # mark reviewed: every page follows
    assert project.review_status()[3] == ReviewStatus.REVIEWED
    assert "2 truth slices" in loop.project.status.text()
    _key(qtbot, viewer, K.Key_Right)  # napari's next slice: the queue follows the viewer
    assert loop.session.current_z() == 4 and loop.review.table.selected_slice() == 4
    loop.review.order.setCurrentText("in order")
    _key(qtbot, viewer, K.Key_N, Qt.KeyboardModifier.ShiftModifier)  # previous in the queue
    assert loop.session.current_z() == 2  # (reviewed slice 3 went to the end)
    assert _errors(seen) == []
    # closing every review page releases the keys
    for name in ("Propose and review", "Segmentation loop"):
        viewer.window.remove_dock_widget(loop.wrappers[name])
    assert KeyBinding.from_str("u") not in viewer.keymap


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.slow
def test_the_round_belongs_to_the_session(make_napari_viewer, qtbot, project, tmp_path):
    """Defect 2: close the Train dock while a round trains; a reopened page shows the round
    and stops it; one round per project (the lock); closing napari stops the process."""
    viewer = make_napari_viewer(show=True)
    wrapper, train = viewer.window.add_plugin_dock_widget(PLUGIN, "Train")
    train.session.open(project.path)
    long_round = ModelConfig(channels=(8, 16, 32), patch_size=(64, 64), batch_size=2,
                             steps=100_000, validate_every=50_000)  # fmt: skip
    assert train.start_round(config=long_round)
    qtbot.waitUntil(lambda: len(train.training.history) > 0, timeout=WAIT)
    viewer.window.remove_dock_widget(wrapper)

    page = _loop(viewer).train  # reopened: it shows the running round
    assert page.running and page.stop_button.isEnabled() and not page.start_button.isEnabled()
    assert "step" in page.eta.text() and page.progress.value() > 0 and not page.plot.empty
    assert not page.start_round(config=long_round) and "already running" in page.last_error
    assert any(bar.desc == "training a round" for bar in progress._all_instances)  # activity
    holder = is_locked(project.path)  # what `napari-cathode train` would be refused by
    assert holder is not None and holder.pid == os.getpid()
    page.stop_button.click()
    qtbot.waitUntil(lambda: not page.running, timeout=WAIT)
    assert page.start_button.isEnabled() and not page.stop_button.isEnabled()
    assert is_locked(project.path) is None and project.rounds() == []

    assert page.start_round(config=long_round)  # and once more, then close napari
    qtbot.waitUntil(lambda: len(page.training.history) > 0, timeout=WAIT)
    pid = page.training._jobs[0].pid
    viewer.close()
    qtbot.waitUntil(lambda: not _alive(pid), timeout=60_000)
    qtbot.waitUntil(lambda: is_locked(project.path) is None, timeout=30_000)
    assert project.rounds() == []


def test_reader_claims_only_its_formats_and_opens_our_folders_directly(
    make_napari_viewer, tmp_path, project
):
    """Defect 3: no claim on a .txt; our own OME-Zarr export and project open without the
    "Choose reader" dialog (napari raises MultipleReaderError where it would show it)."""

    def readers(path):
        return {r.plugin_name for r in PluginManager.instance().iter_compatible_readers([path])}

    text = tmp_path / "notes.txt"
    text.write_text("not a volume")
    assert PLUGIN not in readers(str(text))
    assert PLUGIN in readers(str(tmp_path / "stack.tif"))
    store = export_ome_zarr(tmp_path / "labels.ome.zarr", project.image, project.truth,
                            classes=project.classes)  # fmt: skip
    viewer = make_napari_viewer()
    _loop(viewer)  # the plugin in use
    # File ▸ Open and drops go through this; it raises MultipleReaderError where napari
    # would show its "Choose reader" dialog
    layers = viewer._open_or_raise_error([str(store)])
    assert [layer.name for layer in layers] == ["labels", "labels segmentation"]
    np.testing.assert_array_equal(np.asarray(layers[1].data), np.asarray(project.truth))
    layers = viewer._open_or_raise_error([str(project.path)])
    assert [layer.name for layer in layers][-1] == "crop truth"


def test_export_asks_before_replacing_and_says_what_happened(make_napari_viewer, qtbot,
                                                            project, tmp_path):  # fmt: skip
    """Defects 4 and 5: a confirm before replacing, user-named outputs, statuses that end
    with the outcome, messages that say what to click."""
    viewer = make_napari_viewer()
    loop = _loop(viewer, project)
    export, seen = loop.export, len(notification_manager.records)
    answers, questions = [], []
    export.confirm = lambda question: questions.append(question) or answers.pop(0)
    out = tmp_path / "out"
    out.mkdir()
    export.folder.setText(str(out))
    export.name.setText("run7")

    def wait():
        qtbot.waitUntil(lambda: not export.busy, timeout=WAIT)

    assert export.export_ome_zarr()
    wait()
    store = out / "run7.ome.zarr"
    assert export.status.text() == f"written: {store}" and questions == []
    before = sorted(p.stat().st_mtime_ns for p in store.rglob("*") if p.is_file())
    answers.append(False)
    assert not export.export_ome_zarr()  # "no": nothing is rewritten
    assert questions == [f"{store} exists. Replace it?"]
    assert sorted(p.stat().st_mtime_ns for p in store.rglob("*") if p.is_file()) == before
    assert "cancelled" in export.status.text() and "kept" in export.status.text()
    answers.append(True)
    assert export.export_ome_zarr()
    wait()
    assert export.status.text() == f"written: {store}"
    assert export.export_round_table() == out / "run7_rounds.csv"
    answers.append(False)
    assert export.export_round_table() is None and len(questions) == 3
    with project.new_round({"note": "weights stand-in"}) as folder:  # a saved round
        (folder / "model.safetensors").write_bytes(b"weights")
    export._fill_rounds()
    model = export.export_model()  # named after the field: run7_round0001.model
    assert model == out / "run7_round0001.model" and (model / "model.json").is_file()
    (model / "model.safetensors").write_bytes(b"edited")
    answers.append(True)  # replaced, after asking
    assert export.export_model() == model and len(questions) == 4
    assert (model / "model.safetensors").read_bytes() == b"weights"

    (out / "run7_labels.tif").mkdir()  # a folder where the TIFF goes: the export fails ...
    answers.append(True)
    assert export.export_tiff()
    wait()
    assert export.status.text().startswith("TIFF export failed")  # ... and says so
    afile = tmp_path / "afile"
    afile.write_text("x")
    export.folder.setText(str(afile))
    assert not export.export_tiff() and "is a file, not a folder" in export.status.text()
    export.folder.setText(str(tmp_path / "missing"))
    assert not export.export_round_table() and "does not exist" in export.status.text()

    assert loop.project.open_project(out) is None  # not a project: what to click instead
    image = viewer.add_image(np.zeros((2, 8, 8), np.float32), name="small")
    assert not loop.project.create_from_layer(image.name, path=project.path)
    messages = " ".join(_errors(seen))
    assert "New project from file" in messages and "open it with Open project" in messages
    assert "overwrite=True" not in messages and "Project.create" not in messages


@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080)])
def test_the_loop_dock_fits_the_screen(make_napari_viewer, qtbot, project, size):
    """Layout: every page of the one main dock fits the window; tables show their rows; the
    training plot has an empty state and napari's theme colours."""
    viewer = make_napari_viewer(show=True)
    viewer.window.resize(*size)
    loop = _loop(viewer, project)
    canvas = viewer.window._qt_viewer.canvas.native
    for index, page in enumerate(loop.pages):
        loop.tabs.setCurrentIndex(index)
        qtbot.wait(50)
        window = viewer.window._qt_window
        assert window.width() <= size[0] and window.height() <= size[1]
        area = loop.tabs.currentWidget()
        assert isinstance(area, QScrollArea)
        assert page.minimumSizeHint().width() <= area.viewport().width()  # no sideways scroll
        assert canvas.width() >= 0.4 * size[0]  # the image keeps most of the screen
    assert loop.review.table.height() >= 5 * loop.review.table.verticalHeader().defaultSectionSize()
    plot = loop.train.plot
    assert plot.empty and plot.text().startswith("No round trained yet")
    plot.add_loss(1, 0.9)
    qtbot.waitUntil(lambda: plot.renders > 0, timeout=10_000)
    corner = plot.pixmap().toImage().pixelColor(1, 1).name()
    assert corner == loop.train.plot._figure.theme["background"]


def test_analysis_warns_when_most_particles_touch_the_border(make_napari_viewer, qtbot):
    """Analyse: particles cut by the volume's border bias the sizes; the page says so, and its
    fields explain h-max and the units."""
    from napari_cathode._napari.analysis_rows import border_warning
    from napari_cathode.core.analysis.summary import analyze_labels

    labels = np.ones((12, 40, 40), np.uint8)  # pore, with active-material balls
    zz, yy, xx = np.mgrid[:12, :40, :40]
    for cy, cx in ((0, 0), (0, 39), (39, 0), (20, 20)):  # three cut by the border, one inside
        labels[(zz - 6) ** 2 + (yy - cy) ** 2 + (xx - cx) ** 2 <= 16] = 2
    result = analyze_labels(labels)
    assert "3 of 4 particles touch the border" in border_warning(result)
    inside = np.ones_like(labels)
    inside[(zz - 6) ** 2 + (yy - 20) ** 2 + (xx - 20) ** 2 <= 16] = 2
    assert border_warning(analyze_labels(inside)) == ""

    viewer = make_napari_viewer()
    _, dock = viewer.window.add_plugin_dock_widget(PLUGIN, "Analyse and measure")
    assert "watershed" in dock.h_max.tooltip and "units" in dock.labels.tooltip
    viewer.add_labels(labels, name="cut")
    dock.labels.value = viewer.layers["cut"]
    dock.run()
    qtbot.waitUntil(lambda: dock.result is not None, timeout=WAIT)
    assert "touch the border" in dock.status.text()
