"""Progress on stderr for the commands: a tqdm bar for ``progress(done, total)`` callbacks,
and the renderer of a training job's event stream (the same events the Train dock draws).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["TrainingProgress", "progress_bar"]


@contextmanager
def progress_bar(desc: str, unit: str) -> Iterator[Callable[[int, int], None]]:
    """A tqdm bar on stderr; yields the ``progress(done, total)`` callback that drives it.

    The bar appears with the first call, so a job refused before any work (a busy project,
    a bad input) prints its one-line error alone.
    """
    from tqdm import tqdm

    bars = []

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(desc=desc, unit=unit, file=sys.stderr))
        bars[0].total = total
        bars[0].update(done - bars[0].n)

    try:
        yield progress
    finally:
        for bar in bars:
            bar.close()


class TrainingProgress:
    """Render training events with a tqdm bar on stderr; returns the final event."""

    def __init__(self, *, position: int = 0, leave: bool = True, desc: str = "training") -> None:
        self.position, self.leave, self.desc = position, leave, desc
        self.bar = None

    def _bar(self, steps: int):
        from tqdm import tqdm

        return tqdm(
            total=steps,
            desc=self.desc,
            unit="step",
            position=self.position,
            leave=self.leave,
            file=sys.stderr,
        )

    def __call__(self, event) -> None:
        from napari_cathode.ml import events as ev

        if isinstance(event, ev.ClassifierStartedEvent):  # a state classifier: no slices
            self.bar = self._bar(event.steps)
        elif isinstance(event, ev.StartedEvent):
            self.bar = self._bar(event.steps)
            self.bar.write(
                f"device: {event.device}; {event.train_slices} training slices, "
                f"{event.validation_slices} held out"
                + (f"; warm start from {event.warm_start}" if event.warm_start else ""),
                file=sys.stderr,
            )
        elif isinstance(event, ev.StepEvent) and self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{event.loss:.3f}", refresh=False)
        elif isinstance(event, ev.ValidationEvent) and self.bar is not None:
            scores = ", ".join(
                f"{k} {v:.3f}" if v is not None else f"{k} -" for k, v in event.dice.items()
            )
            label = "validation" if event.held_out else "training-slice"
            mean = "-" if event.mean_dice is None else f"{event.mean_dice:.3f}"
            self.bar.write(
                f"step {event.step}: {label} Dice {scores} (mean {mean})", file=sys.stderr
            )
        elif (
            isinstance(event, (ev.DoneEvent, ev.CancelledEvent, ev.ErrorEvent))
            and self.bar is not None
        ):
            self.bar.close()
