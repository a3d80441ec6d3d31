"""The "Classes" box of the project page: id, name, colour (with a swatch); add, remove, apply."""

from __future__ import annotations

import napari
from qtpy.QtGui import QColor, QIcon, QPixmap
from qtpy.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from napari_cathode._napari.layers import labels_colormap
from napari_cathode._napari.notifications import notify_error, notify_info, notify_warning
from napari_cathode.core.classes import SegmentationClass
from napari_cathode.core.errors import CathodeError, ProjectError

__all__ = ["PALETTE", "SWATCH_PX", "ClassesBox", "ClassesTable", "swatch"]

PALETTE = ("#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0")
SWATCH_PX = 14


def swatch(color: str) -> QIcon:
    """A small square of ``color`` (an invalid colour gives an empty icon)."""
    qcolor = QColor(color)
    if not qcolor.isValid():
        return QIcon()
    pixmap = QPixmap(SWATCH_PX, SWATCH_PX)
    pixmap.fill(qcolor)
    return QIcon(pixmap)


class ClassesTable(QTableWidget):
    """id · name · colour; the colour cell shows a swatch that follows what is typed."""

    def __init__(self) -> None:
        super().__init__(0, 3)
        self.setHorizontalHeaderLabels(["id", "name", "colour"])
        self.horizontalHeaderItem(2).setToolTip("#rrggbb; the swatch shows it")
        self.verticalHeader().setVisible(False)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setMinimumHeight(110)
        self.itemChanged.connect(self._recolour)

    def show_classes(self, classes) -> None:
        """Replace the rows by ``classes``."""
        self.setRowCount(0)
        for c in classes:
            self.add_row(c.id, c.name, c.color)

    def add_row(self, class_id: int, name: str, color: str) -> None:
        """Append one row."""
        row = self.rowCount()
        self.insertRow(row)
        for column, value in enumerate((str(class_id), name, color)):
            self.setItem(row, column, QTableWidgetItem(value))

    def add_new_class(self) -> None:
        """Append a row for a new class with the next free id and a palette colour."""
        ids = [int(c.id) for c in self.classes(check=False)]
        new_id = max(ids, default=0) + 1
        self.add_row(new_id, f"class {new_id}", PALETTE[new_id % len(PALETTE)])

    def remove_selected(self) -> None:
        """Remove the selected row."""
        row = self.currentRow()
        if row >= 0:
            self.removeRow(row)

    def _recolour(self, item: QTableWidgetItem) -> None:
        if item.column() == 2:
            self.blockSignals(True)
            item.setIcon(swatch(item.text().strip()))
            self.blockSignals(False)

    def classes(self, *, check: bool = True) -> tuple[SegmentationClass, ...]:
        """The classes as typed (rows that do not parse are skipped unless ``check``)."""
        classes = []
        for row in range(self.rowCount()):
            texts = [
                (self.item(row, col) or QTableWidgetItem("")).text().strip() for col in range(3)
            ]
            try:
                classes.append(SegmentationClass(int(texts[0]), texts[1], texts[2]))
            except (ValueError, CathodeError) as error:
                if check:
                    raise ProjectError(f"classes table row {row + 1}: {error}") from error
        return tuple(classes)


class ClassesBox(QGroupBox):
    """The classes table with Add / Remove / Apply; Apply saves to the session's project."""

    def __init__(self, session) -> None:
        super().__init__("Classes")
        self.session = session
        self.table = ClassesTable()
        self.add_button = QPushButton("Add")
        self.remove_button = QPushButton("Remove")
        self.apply_button = QPushButton("Apply classes")
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        buttons = QHBoxLayout()
        for button in (self.add_button, self.remove_button, self.apply_button):
            buttons.addWidget(button)
        layout.addLayout(buttons)
        self.add_button.clicked.connect(self.table.add_new_class)
        self.remove_button.clicked.connect(self.table.remove_selected)
        self.apply_button.clicked.connect(lambda: self.apply())

    def apply(self) -> bool:
        """Save the table's classes; refused (with what to do) while labels use a removed id."""
        project = self.session.project
        if project is None:
            notify_warning("open or create a project first")
            return False
        try:
            classes = self.table.classes()
            project.set_classes(classes)
        except CathodeError as error:
            notify_error(error, doing="changing the classes")
            self.table.show_classes(project.classes)
            return False
        colormap = labels_colormap(project.classes)
        for layer in self.session.layers.values():
            if isinstance(layer, napari.layers.Labels):
                layer.colormap = colormap
                layer.metadata = {**layer.metadata, "classes": [c.to_json() for c in classes]}
        notify_info(f"classes saved: {', '.join(c.name for c in project.classes)}")
        return True
