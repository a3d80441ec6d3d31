"""``napari-cathode demo``: placeholder, replaced when the sample data lands."""


def register(sub) -> None:
    p = sub.add_parser("demo", help="run the demo on the bundled real sample")
    p.add_argument("--gui", action="store_true")
    p.set_defaults(func=lambda args: 0)
