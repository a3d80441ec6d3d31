"""The training child process: ``python -m napari_cathode.jobs.training_worker PARENT_PID``.

Started by :class:`~napari_cathode.jobs.training_job.TrainingJob`. A fresh interpreter runs
this module only (never the parent's ``__main__``, unlike multiprocessing's spawn, which
re-imports the parent's script: a script that opens a napari viewer without an
``if __name__ == "__main__":`` guard would open a second viewer in the child).

Protocol (all binary frames are a 4-byte big-endian length and a pickle; both ends are this
package, nothing else is unpickled):

- stdin: first one frame, the request and options; then text lines (``cancel``). End of file
  on stdin means the parent is gone: the child exits at once, so a killed parent never lets a
  round appear later.
- stdout: the event frames. Anything else a library prints goes to stderr (fd 1 is pointed
  at stderr before training starts).

On Linux the child also asks the kernel for SIGKILL when its parent dies
(``prctl(PR_SET_PDEATHSIG)``); the stdin watchdog covers every other platform.
"""

from __future__ import annotations

import logging
import os
import pickle
import struct
import sys
import threading
import traceback
from typing import BinaryIO

from napari_cathode.core.parent_death import die_with_parent

__all__ = ["ORPHANED_EXIT", "code", "main", "read_frame", "write_frame"]

log = logging.getLogger(__name__)

_HEADER = struct.Struct(">I")
#: Exit code of a child whose parent went away.
ORPHANED_EXIT = 70


def write_frame(stream: BinaryIO, obj) -> None:
    """Write one length-prefixed pickle frame and flush."""
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def read_frame(stream: BinaryIO):
    """Read one frame; None at end of stream (or a truncated frame)."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        return None
    return pickle.loads(data)  # written by our own parent process only


def _watch_stdin(stdin: BinaryIO, cancel: threading.Event) -> None:
    """Set ``cancel`` on a ``cancel`` line; exit the process when the parent closes stdin."""
    for line in iter(stdin.readline, b""):
        if line.strip() == b"cancel":
            cancel.set()
    # End of file: the parent closed the pipe or died. Never publish for a parent that is gone.
    os._exit(ORPHANED_EXIT)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parent_pid = int(argv[0]) if argv else os.getppid()
    die_with_parent(parent_pid)
    stdin = sys.stdin.buffer
    # Events go to the original stdout; everything else printed goes to stderr.
    events = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    setup = read_frame(stdin)
    if setup is None:
        return ORPHANED_EXIT
    logging.basicConfig(
        level=setup.get("log_level", logging.INFO),
        format="%(levelname)s %(name)s: %(message)s",
    )
    cancel = threading.Event()
    threading.Thread(target=_watch_stdin, args=(stdin, cancel), daemon=True).start()

    from napari_cathode.core.errors import CathodeError
    from napari_cathode.ml.events import ErrorEvent

    try:
        if setup.get("num_threads"):
            import torch

            torch.set_num_threads(setup["num_threads"])
        request = setup["request"]
        if callable(getattr(request, "run", None)):  # e.g. a particle-state classifier request
            stream = request.run(cancel)
        else:
            from napari_cathode.jobs.training_runs import run_training

            stream = run_training(request, cancel=cancel)
        for event in stream:
            write_frame(events, event)
    except CathodeError as exc:
        write_frame(events, ErrorEvent(str(exc), kind=type(exc).__name__))
    except BrokenPipeError:
        return ORPHANED_EXIT
    except BaseException as exc:  # report everything: the parent must never wait forever
        log.error("training failed:\n%s", traceback.format_exc())
        write_frame(events, ErrorEvent(f"training failed: {type(exc).__name__}: {exc}", "crash"))
    events.close()
    return 0


if __name__ == "__main__":
    code = main()
    logging.shutdown()
    sys.stderr.flush()
    # Leave without interpreter shutdown: the stdin watchdog thread is blocked in a read, and
    # finalising the buffered stdin under it aborts with "Fatal Python error" in the log.
    os._exit(code)
