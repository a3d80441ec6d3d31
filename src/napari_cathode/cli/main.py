"""Entry point of the ``napari-cathode`` command.

Each command lives in its own module ``napari_cathode.cli.cmd_<name>`` exposing
``register(subparsers)`` (adds its parser and sets ``func``) and is listed in ``COMMANDS``.
Errors derived from :class:`~napari_cathode.core.errors.CathodeError` become a one-line
message and exit code 2. Every other known failure class ends in one line too (exit code 1):
file-system errors (``OSError``: permissions, a full disk, a vanished file), errors of zarr
and its codecs, a closed output pipe (``status P | head``); an unexpected error says so and
how to see the traceback. ``--debug`` lets the traceback through. Messages are capped in
length (:data:`MAX_MESSAGE`).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from napari_cathode import __version__
from napari_cathode.core.errors import CathodeError, OutputExistsError

__all__ = ["COMMANDS", "MAX_MESSAGE", "build_parser", "cap", "describe_failure", "main"]

#: Command modules in the order ``--help`` lists them.
COMMANDS: tuple[str, ...] = (
    "demo",
    "new",
    "train",
    "predict",
    "status",
    "evaluate",
    "simulate",
    "analyze",
    "export",
    "classify",
    "kinetics",
)

log = logging.getLogger("napari_cathode")

#: Longest message printed for an error (a label listing can otherwise run to megabytes).
MAX_MESSAGE = 1500


def cap(message: str, limit: int = MAX_MESSAGE) -> str:
    """``message`` cut to ``limit`` characters, saying how much was left out."""
    message = " ".join(str(message).split("\n")) if "\n" in str(message) else str(message)
    if len(message) <= limit:
        return message
    return f"{message[:limit]}... [{len(message) - limit} more characters left out]"


def describe_failure(exc: BaseException) -> tuple[str, int]:
    """The one line (without the command prefix) and exit code for an error ``main`` ends."""
    from napari_cathode.core.outputs import is_disk_full

    if isinstance(exc, OutputExistsError):
        return f"{exc}; add --overwrite to replace it (or choose another path)", 2
    if isinstance(exc, CathodeError):
        return str(exc), 2
    if is_disk_full(exc):
        where = getattr(exc, "filename", None) or "the output folder"
        return (
            f"disk full while writing {where}; free some space there (or choose another "
            "place) and run again",
            1,
        )
    if isinstance(exc, PermissionError):
        return (
            f"permission denied: {exc.filename or exc}; choose a folder you can write to",
            1,
        )
    if isinstance(exc, FileNotFoundError):
        return f"no such file or folder: {exc.filename or exc}; check the path", 1
    if isinstance(exc, OSError):
        target = f" {exc.filename}" if exc.filename else ""
        return f"cannot read or write{target}: {exc.strerror or exc}; check the path", 1
    module = type(exc).__module__.split(".")[0]
    if module in ("zarr", "numcodecs", "zstandard", "blosc", "imagecodecs", "h5py", "tifffile"):
        return (
            f"the data could not be read ({module}: {type(exc).__name__}: {exc}); the file may "
            "be damaged or incomplete, check it or give another copy",
            1,
        )
    return (
        f"unexpected error {type(exc).__name__}: {exc}. Run again with --debug to see the "
        "traceback, and please report it",
        1,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="napari-cathode",
        description="Segment battery-electrode tomography with a human-in-the-loop U-Net.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"napari-cathode {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument(
        "--debug", action="store_true", help="show the full traceback of an unexpected error"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"napari_cathode.cli.cmd_{name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"napari-cathode {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output went away (``status P | head``): stop quietly, and point
        # stdout at devnull so the interpreter's final flush does not fail again.
        _silence_stdout()
        print(f"napari-cathode {args.command}: output closed early", file=sys.stderr)
        return 141
    except Exception as exc:
        if args.debug and not isinstance(exc, CathodeError):
            raise
        message, code = describe_failure(exc)
        print(f"napari-cathode {args.command}: error: {cap(message)}", file=sys.stderr)
        return code


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a real file (tests)
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
