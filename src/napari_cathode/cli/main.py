"""Entry point of the ``napari-cathode`` command.

Each command lives in its own module ``napari_cathode.cli.cmd_<name>`` exposing
``register(subparsers)`` (adds its parser and sets ``func``) and is listed in ``COMMANDS``.
Errors derived from :class:`~napari_cathode.core.errors.CathodeError` become a one-line
message and exit code 2; nothing else is swallowed.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from napari_cathode import __version__
from napari_cathode.core.errors import CathodeError

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
    "kinetics",
)

log = logging.getLogger("napari_cathode")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="napari-cathode",
        description="Segment battery-electrode tomography with a human-in-the-loop U-Net.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"napari-cathode {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
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
    except CathodeError as exc:
        print(f"napari-cathode {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"napari-cathode {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
